import type { DiagnosisSite, IncidentState, SiteState, TimelineCheck } from './diagnosis.types.js';
import { BASELINE_MS, MIN_BASELINE, ROUND_TOLERANCE_MS } from './context.js';
import { median } from './stats.js';

/** The latest ttfb counts as far above baseline past this many times the baseline median... */
export const SLOW_FACTOR = 3;
/** ...and at least this many ms above it. */
export const SLOW_MIN_EXTRA_MS = 200;

/**
 * What normal latency is for a target, from its ok checks of the hour before `latest`: the lowest
 * median of `MIN_BASELINE` checks in a row. Not the hour's median, which a slowdown drags along
 * with it within half an hour (at 1 s intervals, within seconds) until a slow target reads as
 * normal; the best stretch of the hour stays what the target can do. Null with too few samples.
 */
export function latencyBaseline(checks: TimelineCheck[], latest: TimelineCheck): number | null {
  const samples = checks
    .filter((c) => c !== latest && c.outcome === 'ok' && c.startedAt < latest.startedAt && c.startedAt >= latest.startedAt - BASELINE_MS)
    .map((c) => c.ttfbMs)
    .filter((ms): ms is number => ms !== null);
  if (samples.length < MIN_BASELINE) return null;
  let lowest = Number.POSITIVE_INFINITY;
  for (let end = samples.length; end >= MIN_BASELINE; end -= MIN_BASELINE) {
    lowest = Math.min(lowest, median(samples.slice(end - MIN_BASELINE, end)));
  }
  return lowest;
}

/** The check's time to first byte is far above the target's baseline (see SLOW_FACTOR). */
export function farAboveBaseline(checks: TimelineCheck[], latest: TimelineCheck): boolean {
  if (latest.ttfbMs === null || latest.ttfbMs <= SLOW_MIN_EXTRA_MS) return false;
  const usual = latencyBaseline(checks, latest);
  return usual !== null && latest.ttfbMs > SLOW_FACTOR * usual && latest.ttfbMs > usual + SLOW_MIN_EXTRA_MS;
}

/** Some address of the name did not connect, though another did (`ProbeResult.failedAddresses`). */
const lostAnAddress = (c: TimelineCheck): boolean => (c.failedAddresses?.length ?? 0) > 0;

/**
 * The site's state after diagnosis:
 * - `down` while an incident is open;
 * - `unknown` without any site check;
 * - `degraded` when the latest site check failed (a streak still below the threshold), or it is
 *   ok but an upstream's check of the same round failed, or one of the addresses of the site's or
 *   an upstream's name did not connect (another did), or the time to first byte of the site or
 *   of an upstream is far above its baseline (over 3x the best stretch of the hour before, and
 *   over 200 ms more);
 * - else `up`.
 */
export function siteState(site: DiagnosisSite, checks: TimelineCheck[], incident: IncidentState | null): SiteState {
  if (incident && incident.resolvedAt === null) return 'down';
  const siteChecks = checks.filter((c) => c.target === 'site');
  const latest = siteChecks[siteChecks.length - 1];
  if (!latest) return 'unknown';
  if (latest.outcome !== 'ok') return 'degraded';
  if (lostAnAddress(latest) || farAboveBaseline(siteChecks, latest)) return 'degraded';

  for (const upstream of site.upstreams) {
    const own = checks.filter((c) => c.target === upstream.id);
    const last = own[own.length - 1];
    if (!last || last.startedAt < latest.startedAt - ROUND_TOLERANCE_MS) continue;
    if (last.outcome !== 'ok' || lostAnAddress(last) || farAboveBaseline(own, last)) return 'degraded';
  }
  return 'up';
}
