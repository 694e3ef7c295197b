import type { DiagnosisSite, IncidentState, SiteState, TimelineCheck } from './diagnosis.types.js';
import { BASELINE_MS, MIN_BASELINE, ROUND_TOLERANCE_MS } from './context.js';
import { median } from './stats.js';

/** The latest site ttfb counts as far above baseline past this many times the baseline median... */
export const SLOW_FACTOR = 3;
/** ...and at least this many ms above it. */
export const SLOW_MIN_EXTRA_MS = 200;

/**
 * The site's state after diagnosis:
 * - `down` while an incident is open;
 * - `unknown` without any site check;
 * - `degraded` when the latest site check failed (a streak still below the threshold), or it is
 *   ok but an upstream's check of the same round failed, or its time to first byte is far above
 *   the baseline (over 3x the median of the hour before and over 200 ms more);
 * - else `up`.
 */
export function siteState(site: DiagnosisSite, checks: TimelineCheck[], incident: IncidentState | null): SiteState {
  if (incident && incident.resolvedAt === null) return 'down';
  const siteChecks = checks.filter((c) => c.target === 'site');
  const latest = siteChecks[siteChecks.length - 1];
  if (!latest) return 'unknown';
  if (latest.outcome !== 'ok') return 'degraded';

  for (const upstream of site.upstreams) {
    const own = checks.filter((c) => c.target === upstream.id);
    const last = own[own.length - 1];
    if (last && last.startedAt >= latest.startedAt - ROUND_TOLERANCE_MS && last.outcome !== 'ok') return 'degraded';
  }

  const baseline = siteChecks
    .filter((c) => c !== latest && c.outcome === 'ok' && c.startedAt >= latest.startedAt - BASELINE_MS)
    .map((c) => c.ttfbMs)
    .filter((ms): ms is number => ms !== null);
  if (latest.ttfbMs !== null && baseline.length >= MIN_BASELINE) {
    const usual = median(baseline);
    if (latest.ttfbMs > SLOW_FACTOR * usual && latest.ttfbMs > usual + SLOW_MIN_EXTRA_MS) return 'degraded';
  }
  return 'up';
}
