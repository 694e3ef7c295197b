import type { TimelineCheck } from '../diagnosis.types.js';
import type { DiagnosisContext, Round, TargetView } from '../context.js';
import { formatList } from '../format.js';
import { failureKind } from '../streak.js';

/**
 * A failed check that carried an HTTP answer with a status in [low, high], however its body
 * ended: a 502 page cut by a reset is recorded as `invalid_response` and is still a 502.
 */
export const answeredStatus = (c: TimelineCheck, low: number, high = low): boolean =>
  c.outcome !== 'ok' && c.statusCode !== null && c.statusCode >= low && c.statusCode <= high;

/** The peer broke HTTP before any status arrived (garbage, empty reply, cut head). */
export const brokeHttp = (c: TimelineCheck): boolean => failureKind(c) === 'invalid_response' && c.statusCode === null;

export { failureKind };

export interface Tally {
  /** The first check that matched; counting starts there. */
  first: TimelineCheck | null;
  last: TimelineCheck | null;
  hits: number;
  /** Checks from the first match on. */
  total: number;
}

/** Counts matches from the first match on: "refused 5 of 5 since 12:03:10Z". */
export function tally(checks: TimelineCheck[], match: (c: TimelineCheck) => boolean): Tally {
  const start = checks.findIndex(match);
  if (start < 0) return { first: null, last: null, hits: 0, total: 0 };
  const rest = checks.slice(start);
  const hits = rest.filter(match);
  return { first: rest[0], last: hits[hits.length - 1], hits: hits.length, total: rest.length };
}

/** The failing rounds where the given upstream's check matched; none for a chronically failing one. */
export function roundsWhereUpstream(
  ctx: DiagnosisContext,
  upstream: TargetView,
  match: (c: TimelineCheck) => boolean,
): Round[] {
  if (ctx.chronic.has(upstream.key)) return [];
  return ctx.failing.filter((r) => {
    const check = r.upstreams.get(upstream.key);
    return check !== undefined && match(check);
  });
}

export const atOf = (rounds: Round[]): number[] => rounds.map((r) => r.at);

/** "upstream app-1", "upstreams app-1 and app-2". */
export function labelOf(views: TargetView[]): string {
  if (views.length === 1) return views[0].label;
  return `upstreams ${formatList(views.map((v) => v.name))}`;
}

export const namesOf = (views: TargetView[]): string => formatList(views.map((v) => v.name));

export const plural = (n: number, one: string, many = `${one}s`): string => (n === 1 ? one : many);

/** Connected at TCP level, whatever came after. */
export const connected = (c: TimelineCheck): boolean =>
  !['conn_timeout', 'conn_refused', 'conn_reset', 'dns_nxdomain', 'dns_error', 'blocked'].includes(c.outcome);

const UNREACHABLE = /EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN|unreachable|no route/i;

/** A connect that failed because there is no route to the host: the host (or its network) is gone. */
export const isUnreachable = (c: TimelineCheck): boolean =>
  c.outcome === 'conn_timeout' && UNREACHABLE.test(c.errorMessage ?? '');

/** A reset before the TCP connection was established (a reject rule), as opposed to one after. */
export const resetAtConnect = (c: TimelineCheck): boolean =>
  c.outcome === 'conn_reset' && (c.connectMs == null || /while connecting/i.test(c.errorMessage ?? ''));

/** The latest error message among checks, cut to fit a line. */
export function lastMessage(checks: TimelineCheck[]): string | null {
  for (let i = checks.length - 1; i >= 0; i -= 1) {
    const message = checks[i].errorMessage;
    if (message) return message.length > 120 ? `${message.slice(0, 117)}...` : message;
  }
  return null;
}
