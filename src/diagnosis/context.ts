import type { GatewayProduct } from '../probes/probes.types.js';
import type { DiagnosisSite, TimelineCheck } from './diagnosis.types.js';
import type { GatewayLogInput } from '../gatewaylog/gatewaylog.types.js';
import { formatTime, gatewayName } from './format.js';
import { dominantKind, isFailure } from './streak.js';

/**
 * How far before the first failure causes look for what led to it (latency rise, errors): 5
 * minutes or the last 5 site checks, whichever is shorter. The same at the default 60 s interval;
 * at a short interval a time span alone would hold dozens of rounds and, for a site added a few
 * minutes ago, leave nothing before it to serve as the baseline.
 */
export const LEAD_IN_MS = 5 * 60_000;
export const LEAD_IN_ROUNDS = 5;
/** A DNS change this long before the first failure, or later, may have caused it. */
export const DNS_LOOKBACK_MS = 10 * 60_000;
/** The baseline: ok checks in this span before the lead-in. */
export const BASELINE_MS = 60 * 60_000;
/** Fewer baseline samples than this and latency is not compared at all. */
export const MIN_BASELINE = 5;
/** An upstream check belongs to the round of the nearest site check, if at most this far from it. */
export const ROUND_TOLERANCE_MS = 15_000;

/** The site's url or one upstream, with its checks sliced the ways detectors need them. */
export interface TargetView {
  /** 'site' or the upstream id. */
  key: string;
  /** "site shop" or "upstream app-1": how text names the hop. */
  label: string;
  name: string;
  /** Host name of the configured url. */
  host: string;
  /** host:port from the configured url, for advice. */
  endpoint: string;
  port: string;
  /** Every check of this target passed in, oldest first. */
  checks: TimelineCheck[];
  /** Checks from the lead-in before the first failure up to now. */
  window: TimelineCheck[];
  /** Ok checks before the lead-in: what normal looks like. */
  baseline: TimelineCheck[];
}

/** One scheduled round: the site check and the upstream checks taken with it. */
export interface Round {
  at: number;
  site: TimelineCheck;
  upstreams: Map<string, TimelineCheck>;
}

export interface DiagnosisContext {
  siteDef: DiagnosisSite;
  now: number;
  firstFailureAt: number;
  windowStart: number;
  site: TargetView;
  upstreams: TargetView[];
  /** Rounds since the first failure whose site check failed: what the causes have to explain. */
  failing: Round[];
  /** Every round from the lead-in on. */
  rounds: Round[];
  /** What the users saw, in a few words: "nginx answers 502", "the site times out". */
  symptom: string;
  /**
   * Upstreams that already failed most of their checks in the hour before the lead-in while the
   * site was fine: their failures do not explain the new ones. Id -> "failed 40 of 60 checks".
   */
  chronic: Map<string, string>;
  /** The product that answered the failing site checks, when it said. */
  gateway: GatewayProduct | null;
  /** formatTime bound to now. */
  at: (ms: number) => string;
  /** The time of the round a check at `ms` belongs to (ms itself when none is near). */
  roundAt: (ms: number) => number;
  /** The gateway's error log lines kept for the site, when it has one. */
  gatewayLog: GatewayLogInput | null;
}

function endpointOf(url: string): { host: string; endpoint: string; port: string } {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return { host: u.hostname, endpoint: `${u.hostname}:${port}`, port };
  } catch {
    return { host: url, endpoint: url, port: '?' };
  }
}

function view(
  key: string,
  label: string,
  name: string,
  url: string,
  checks: TimelineCheck[],
  windowStart: number,
): TargetView {
  const before = checks.filter((c) => c.startedAt < windowStart && c.outcome === 'ok');
  const recent = before.filter((c) => c.startedAt >= windowStart - BASELINE_MS);
  return {
    key,
    label,
    name,
    ...endpointOf(url),
    checks,
    window: checks.filter((c) => c.startedAt >= windowStart),
    baseline: recent.length >= MIN_BASELINE ? recent : before,
  };
}

/** Index of the site check nearest in time to `at` (site checks sorted, non-empty). */
function nearest(siteChecks: TimelineCheck[], at: number): number {
  let lo = 0;
  let hi = siteChecks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (siteChecks[mid].startedAt < at) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(siteChecks[lo - 1].startedAt - at) <= Math.abs(siteChecks[lo].startedAt - at)) return lo - 1;
  return lo;
}

/** Groups checks into rounds: each upstream check joins the nearest site check. */
export function buildRounds(siteChecks: TimelineCheck[], upstreamChecks: TimelineCheck[]): Round[] {
  const rounds: Round[] = siteChecks.map((site) => ({ at: site.startedAt, site, upstreams: new Map() }));
  if (rounds.length === 0) return rounds;
  for (const check of upstreamChecks) {
    const round = rounds[nearest(siteChecks, check.startedAt)];
    const distance = Math.abs(round.at - check.startedAt);
    if (distance > ROUND_TOLERANCE_MS) continue;
    const taken = round.upstreams.get(check.target);
    if (!taken || Math.abs(round.at - taken.startedAt) > distance) round.upstreams.set(check.target, check);
  }
  return rounds;
}

function symptomOf(failures: TimelineCheck[], gateway: GatewayProduct | null): string {
  if (failures.length === 0) return 'the site fails';
  const kind = dominantKind(failures);
  const who = gateway ? gatewayName(gateway) : 'the site';
  const sample = failures.find((c) => c.outcome === kind) ?? failures[failures.length - 1];
  switch (kind) {
    case 'bad_gateway':
      return `${gateway ? gatewayName(gateway) : 'the gateway'} answers 502`;
    case 'http_error':
      return `${who} answers ${sample.statusCode ?? 'errors'}`;
    case 'timeout':
      return 'the site times out';
    case 'conn_refused':
      return 'the site refuses connections';
    case 'conn_timeout':
      return 'connections to the site time out';
    case 'conn_reset':
      return 'the site resets connections';
    case 'dns_nxdomain':
    case 'dns_error':
      return "the site's name does not resolve";
    case 'tls_error':
      return 'TLS to the site fails';
    case 'invalid_response':
      return 'the site sends broken HTTP';
    default:
      return 'the site fails';
  }
}

/** The most frequent gateway product among the checks, latest on a tie; null when none said. */
function mostFrequentGateway(checks: TimelineCheck[]): GatewayProduct | null {
  const count = new Map<GatewayProduct, number>();
  let best: GatewayProduct | null = null;
  for (const c of checks) {
    if (!c.gateway) continue;
    const n = (count.get(c.gateway) ?? 0) + 1;
    count.set(c.gateway, n);
    if (best === null || n >= count.get(best)!) best = c.gateway;
  }
  return best;
}

/** Where the lead-in before the first failure starts (see LEAD_IN_MS); site checks sorted. */
function leadInStart(siteChecks: TimelineCheck[], firstFailureAt: number): number {
  const before = siteChecks.filter((c) => c.startedAt < firstFailureAt);
  const byRounds = before.length >= LEAD_IN_ROUNDS ? before[before.length - LEAD_IN_ROUNDS].startedAt : Number.NEGATIVE_INFINITY;
  return Math.max(firstFailureAt - LEAD_IN_MS, byRounds);
}

export function buildContext(input: {
  site: DiagnosisSite;
  checks: TimelineCheck[];
  firstFailureAt: number;
  now: number;
  gatewayLog?: GatewayLogInput;
}): DiagnosisContext {
  const { site: siteDef, firstFailureAt, now } = input;
  const checks = [...input.checks].sort((a, b) => a.startedAt - b.startedAt);
  const siteChecks = checks.filter((c) => c.target === 'site');
  const windowStart = leadInStart(siteChecks, firstFailureAt);
  const upstreamIds = new Set(siteDef.upstreams.map((u) => u.id));
  const upstreamChecks = checks.filter((c) => upstreamIds.has(c.target));

  const site = view('site', `site ${siteDef.name}`, siteDef.name, siteDef.url, siteChecks, windowStart);
  const upstreams = siteDef.upstreams.map((u) =>
    view(u.id, `upstream ${u.name}`, u.name, u.url, upstreamChecks.filter((c) => c.target === u.id), windowStart),
  );
  const rounds = buildRounds(
    site.window,
    upstreamChecks.filter((c) => c.startedAt >= windowStart - ROUND_TOLERANCE_MS),
  );
  const failing = rounds.filter((r) => r.at >= firstFailureAt && isFailure(r.site));
  // Chronic: failing most of the hour before the lead-in in rounds where the site itself answered
  // fine. Rounds where the site failed too (an earlier incident) say nothing of the kind.
  const chronic = new Map<string, string>();
  const siteBefore = siteChecks.filter((c) => c.startedAt < windowStart && c.startedAt >= windowStart - BASELINE_MS - ROUND_TOLERANCE_MS);
  const roundsBefore = buildRounds(
    siteBefore,
    upstreamChecks.filter((c) => c.startedAt < windowStart && c.startedAt >= windowStart - BASELINE_MS),
  );
  for (const u of upstreams) {
    const paired = roundsBefore.map((r) => ({ site: r.site, check: r.upstreams.get(u.key) })).filter((p) => p.check !== undefined);
    const failedWhileFine = paired.filter((p) => isFailure(p.check!) && !isFailure(p.site)).length;
    if (paired.length >= MIN_BASELINE && failedWhileFine * 2 >= paired.length) {
      chronic.set(u.key, `failed ${failedWhileFine} of ${paired.length} checks in the hour before`);
    }
  }
  const failures = failing.map((r) => r.site);
  const gateway = mostFrequentGateway(failures);
  return {
    siteDef,
    now,
    firstFailureAt,
    windowStart,
    site,
    upstreams,
    failing,
    rounds,
    chronic,
    symptom: symptomOf(failures, gateway),
    gateway,
    gatewayLog: input.gatewayLog ?? null,
    at: (ms) => formatTime(ms, now),
    roundAt: (ms) => {
      if (site.window.length === 0) return ms;
      const round = site.window[nearest(site.window, ms)].startedAt;
      return Math.abs(round - ms) <= ROUND_TOLERANCE_MS ? round : ms;
    },
  };
}
