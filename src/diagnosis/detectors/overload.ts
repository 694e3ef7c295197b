import type { TimelineCheck } from '../diagnosis.types.js';
import { MIN_BASELINE, type DiagnosisContext, type Round, type TargetView } from '../context.js';
import { formatMs, gatewayName } from '../format.js';
import { median, p95 } from '../stats.js';
import type { Detector } from './detector.types.js';
import { answeredStatus, labelOf, namesOf, plural, resetAtConnect, isUnreachable, tally } from './helpers.js';

/** A rise smaller than this is noise, however many times the baseline it is. */
const MIN_RISE_MS = 100;

export interface LatencyRise {
  baseMedian: number;
  baseP95: number;
  /** Above this a check counts as slow: 3x the baseline median, the baseline p95 and +100 ms. */
  threshold: number;
  /** Median time to first byte over the span that rose, from its first slow check on. */
  median: number;
  /** The first slow check. */
  from: TimelineCheck;
}

const ttfbs = (checks: TimelineCheck[]): number[] =>
  checks.map((c) => c.ttfbMs).filter((ms): ms is number => ms !== null);

/**
 * Whether the target's time to first byte rose well above its own baseline in the lead-in or since
 * the first failure. Relative to the target's own history, never a fixed number of ms.
 */
export function latencyRise(ctx: DiagnosisContext, target: TargetView): LatencyRise | null {
  const base = ttfbs(target.baseline);
  if (base.length < MIN_BASELINE) return null;
  const baseMedian = median(base);
  const baseP95 = p95(base);
  const threshold = Math.max(3 * baseMedian, baseP95, baseMedian + MIN_RISE_MS);
  const timed = target.window.filter((c) => c.ttfbMs !== null);
  const lead = timed.filter((c) => c.startedAt < ctx.firstFailureAt);
  const during = timed.filter((c) => c.startedAt >= ctx.firstFailureAt);
  const risen = [during, lead, lead.slice(-3)].find((span) => span.length > 0 && median(ttfbs(span)) > threshold);
  if (!risen) return null;
  const from = timed.find((c) => c.ttfbMs! > threshold)!;
  // Reported over the slow part of that span, not diluted by the normal checks before it.
  const slowPart = risen.filter((c) => c.startedAt >= from.startedAt);
  return { baseMedian, baseP95, threshold, median: median(ttfbs(slowPart.length ? slowPart : risen)), from };
}

/** Connected but got no complete answer in time, or was dropped after connecting. */
const timedOut = (c: TimelineCheck): boolean =>
  c.outcome === 'timeout' || (c.outcome === 'conn_reset' && !resetAtConnect(c));

/** Connects that fail while the target is slow: a full accept queue drops new connections. */
const refusedWhileSlow = (c: TimelineCheck): boolean =>
  (c.outcome === 'conn_timeout' && !isUnreachable(c)) || resetAtConnect(c);

const isGatewayTimeout = (c: TimelineCheck): boolean => answeredStatus(c, 504);

/** Refused or unreachable: the target is gone, not slow. */
const gone = (c: TimelineCheck): boolean => c.outcome === 'conn_refused' || isUnreachable(c);

/** A connect to an upstream that never completed while the upstream had not slowed down: dropped packets, not load. */
function droppedConnectRounds(ctx: DiagnosisContext): Set<number> {
  const rounds = new Set<number>();
  for (const upstream of ctx.upstreams) {
    if (latencyRise(ctx, upstream)) continue;
    for (const r of ctx.rounds) {
      const c = r.upstreams.get(upstream.key);
      if (c && c.outcome === 'conn_timeout' && !isUnreachable(c)) rounds.add(r.at);
    }
  }
  return rounds;
}

/**
 * The site or an upstream got much slower than its own baseline before or during the streak,
 * and/or stopped answering in time.
 */
export const overload: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let rose = false;
  let timeouts = false;
  const wentDown: TargetView[] = [];
  // A gateway's 504 in a round where an upstream's connect never completed is the firewall's
  // evidence: the gateway gave up connecting (its answer took its connect time-out, which is no
  // slowdown of the site either).
  const dropped = droppedConnectRounds(ctx);
  const site: TargetView = dropped.size
    ? { ...ctx.site, window: ctx.site.window.filter((c) => !(dropped.has(ctx.roundAt(c.startedAt)) && isGatewayTimeout(c))) }
    : ctx.site;

  const explain = (r: Round) => explains.add(r.at);

  for (const target of [site, ...ctx.upstreams]) {
    const rise = latencyRise(ctx, target);
    const checkOf = (r: Round): TimelineCheck | undefined =>
      target.key === 'site' ? r.site : r.upstreams.get(target.key);
    const slow = (c: TimelineCheck): boolean => rise !== null && c.ttfbMs !== null && c.ttfbMs > rise.threshold;
    const stuck = (c: TimelineCheck): boolean =>
      timedOut(c) ||
      (rise !== null && refusedWhileSlow(c)) ||
      (target.key === 'site' && isGatewayTimeout(c) && !dropped.has(ctx.roundAt(c.startedAt)));
    // Slowed down before the first failure, then stopped answering at all: the slowdown is the
    // story (the root), the refusals its consequence.
    const downAfterRise = (c: TimelineCheck): boolean =>
      rise !== null && rise.from.startedAt < ctx.firstFailureAt && c.startedAt >= rise.from.startedAt && gone(c);

    const t = tally(target.window, stuck);
    const down = tally(target.window, downAfterRise);
    if (!rise && !t.first) continue;
    hops.push(target);
    for (const r of ctx.failing) {
      const c = checkOf(r);
      if (c && (slow(c) || stuck(c) || downAfterRise(c)) && !ctx.chronic.has(target.key)) explain(r);
    }
    if (rise) {
      rose = true;
      onset = Math.min(onset, rise.from.startedAt);
      const ratio = Math.max(1, Math.round(rise.median / Math.max(1, rise.baseMedian)));
      evidence.push(
        `${target.label}: time to first byte ${formatMs(rise.median)} (median) from ${ctx.at(rise.from.startedAt)} on, against ${formatMs(rise.baseMedian)} before (p95 ${formatMs(rise.baseP95)}): ${ratio}x slower`,
      );
    }
    if (down.first && rise) {
      wentDown.push(target);
      evidence.push(
        `${target.label} then stopped accepting connections: refused or unreachable in ${down.hits} of ${down.total} ${plural(down.total, 'check')} since ${ctx.at(down.first.startedAt)}, ${Math.round((down.first.startedAt - rise.from.startedAt) / 1000)} s after it began to slow down`,
      );
    }
    if (t.first) {
      timeouts = true;
      onset = Math.min(onset, t.first.startedAt);
      const stuckChecks = target.window.filter((c) => c.startedAt >= t.first!.startedAt && stuck(c));
      const gatewayTimeouts = stuckChecks.filter(isGatewayTimeout).length;
      const notAccepted = stuckChecks.filter((c) => c.outcome === 'conn_reset' || c.outcome === 'conn_timeout').length;
      const parts = [
        stuckChecks.length - gatewayTimeouts - notAccepted > 0 ? `${stuckChecks.length - gatewayTimeouts - notAccepted} timed out` : '',
        notAccepted > 0 ? `${notAccepted} dropped or not accepted` : '',
        gatewayTimeouts > 0 ? `${gatewayTimeouts} answered 504 Gateway Timeout by ${gatewayName(ctx.gateway)}` : '',
      ].filter(Boolean);
      evidence.push(`${target.label}: ${parts.join(', ')}, of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}`);
    }
  }
  if (hops.length === 0) return null;

  const upstreamHops = hops.filter((h) => h.key !== 'site');
  const who = upstreamHops.length ? labelOf(upstreamHops) : ctx.site.label;
  const be = upstreamHops.length > 1 ? 'are' : 'is';
  const then = wentDown.length ? `, then stopped accepting connections` : timeouts ? ' and timing out' : '';
  const summary = rose
    ? `${who} ${be} overloaded: much slower than ${upstreamHops.length > 1 ? 'their' : 'its'} own baseline${then}, so ${ctx.symptom}`
    : `${who} ${upstreamHops.length > 1 ? 'stop' : 'stops'} answering in time, so ${ctx.symptom}`;
  const names = upstreamHops.length ? namesOf(upstreamHops) : `the servers behind ${ctx.site.name}`;
  return {
    code: 'overload',
    strength: rose && (timeouts || wentDown.length > 0) ? 0.85 : rose ? 0.7 : 0.5,
    explains,
    onset,
    hops: hops.map((h) => h.key),
    summary,
    evidence,
    advice: [
      `Look at the CPU, memory, worker or thread pool and database connections of ${names} around ${ctx.at(onset)}; add instances or capacity if they are saturated.`,
      'Find what drove the load (a traffic spike, a crawler, a batch job, a slow query or a slow dependency) and cache, rate-limit or reschedule it.',
      `Compare the gateway's time-outs (nginx proxy_connect_timeout and proxy_read_timeout, HAProxy timeout connect and timeout server) with how long ${names} now ${upstreamHops.length === 1 ? 'takes' : 'take'}; raising them only hides the problem.`,
    ],
  };
};
