import type {
  DiagnosisInput,
  DiagnosisResult,
  DiagnosisSite,
  IncidentEvent,
  IncidentState,
  TimelineCheck,
} from './diagnosis.types.js';
import { rankCauses } from './causes.js';
import { describeCheck, formatDuration, formatTime } from './format.js';
import { siteState } from './state.js';
import { findOpenEpisode, isFailure, resumeEpisode, type Episode } from './streak.js';

type Change = DiagnosisResult['changes'][number];

/** The events the checks themselves tell: first failure, opening, kind changes, recovery. */
function episodeEvents(episode: Episode, site: DiagnosisSite, now: number): IncidentEvent[] {
  const { failureThreshold, recoveryThreshold } = site;
  const events: IncidentEvent[] = [];
  if (episode.firstFailure) {
    events.push({ at: episode.firstFailureAt, type: 'first_failure', message: `first failure: ${describeCheck(episode.firstFailure)}` });
  }
  if (episode.openingCheck) {
    events.push({
      at: episode.openedAt,
      type: 'opened',
      message: `opened after ${failureThreshold} failed ${failureThreshold === 1 ? 'check' : 'checks in a row'} (${episode.kind}); latest: ${describeCheck(episode.openingCheck)}`,
    });
  }
  for (const { kind, check, previous } of episode.kinds) {
    if (!check || check.startedAt <= episode.openedAt) continue;
    events.push({
      at: check.startedAt,
      type: 'kind_changed',
      message: `failures changed to ${kind}${previous ? ` (was ${previous})` : ''}: ${describeCheck(check)}`,
    });
  }
  for (const check of episode.recovering) {
    events.push({
      at: check.startedAt,
      type: 'recovering',
      message: `good check (${describeCheck(check)}); ${recoveryThreshold} in a row resolve the incident`,
    });
  }
  if (episode.resolvedBy) {
    const at = episode.resolvedBy.startedAt;
    events.push({
      at,
      type: 'resolved',
      message: `resolved after ${recoveryThreshold} good checks in a row; open for ${formatDuration(at - episode.openedAt)}, ${episode.failedChecks} failed checks since ${formatTime(episode.firstFailureAt, now)}`,
    });
  }
  return events;
}

/** Adds the events not yet recorded (same type at the same time = same event), in time order. */
function mergeEvents(recorded: IncidentEvent[], derived: IncidentEvent[]): { timeline: IncidentEvent[]; added: IncidentEvent[] } {
  const seen = new Set(recorded.map((e) => `${e.type}@${e.at}`));
  const added = derived.filter((e) => !seen.has(`${e.type}@${e.at}`));
  const timeline = [...recorded, ...added].sort((a, b) => a.at - b.at);
  return { timeline, added };
}

function stateOf(episode: Episode, base: Pick<IncidentState, 'causes' | 'timeline'>): IncidentState {
  return {
    kind: episode.kind,
    kinds: episode.kinds.map((k) => k.kind),
    openedAt: episode.openedAt,
    firstFailureAt: episode.firstFailureAt,
    failedChecks: episode.failedChecks,
    goodStreak: episode.goodStreak,
    causes: base.causes,
    timeline: base.timeline,
    resolvedAt: episode.resolvedBy?.startedAt ?? null,
    lastCheckAt: episode.lastCheckAt,
  };
}

/**
 * Diagnoses a site after a round: opens, updates or resolves its incident and ranks the causes.
 *
 * Pure and idempotent: counts are recomputed from `checks` (since the incident's first failure),
 * so passing the same window again, or a longer one, never counts a check twice, and the same input
 * gives the same output.
 *
 * - `open: null`: the site checks are replayed; if a streak reached `failureThreshold` and has not
 *   recovered yet, a new incident is returned with changes `['opened']`. Streaks that opened and
 *   recovered inside the window are history and ignored.
 * - `open` set: its counts are brought up to date. When `recoveryThreshold` good checks in a row
 *   complete recovery, the returned incident has `resolvedAt` set (the time of that check) and
 *   changes include `'resolved'`; the caller must store it as closed and pass `open: null` next time.
 *   Causes are re-ranked on every call while open; a new top cause adds a `cause_changed` event.
 * - An `open` whose `resolvedAt` is already set is treated as no open incident.
 */
export function diagnose(input: DiagnosisInput): DiagnosisResult {
  const { site, now } = input;
  const checks: TimelineCheck[] = [...input.checks].sort((a, b) => a.startedAt - b.startedAt);
  const siteChecks = checks.filter((c) => c.target === 'site');
  const open = input.open && input.open.resolvedAt === null ? input.open : null;

  if (!open) {
    const episode = findOpenEpisode(siteChecks, site.failureThreshold, site.recoveryThreshold);
    if (!episode) return { incident: null, changes: [], state: siteState(site, checks, null) };
    const causes = rankCauses({ site, checks, firstFailureAt: episode.firstFailureAt, now, gatewayLog: input.gatewayLog });
    const { timeline } = mergeEvents([], episodeEvents(episode, site, now));
    const incident = stateOf(episode, { causes, timeline });
    return { incident, changes: ['opened'], state: siteState(site, checks, incident) };
  }

  const episode = resumeEpisode(open, siteChecks, site.recoveryThreshold);
  const resolved = episode.resolvedBy !== null;
  // Once recovered the causes stay as they were: what explained the failures, not the recovery.
  // Nor are they re-ranked on a window that shows none of the failures (nothing to go on).
  const seesFailures = siteChecks.some((c) => c.startedAt >= open.firstFailureAt && isFailure(c));
  const causes =
    resolved || !seesFailures
      ? open.causes
      : rankCauses({ site, checks, firstFailureAt: open.firstFailureAt, now, previous: open.causes, gatewayLog: input.gatewayLog });
  const { timeline, added } = mergeEvents(open.timeline, episodeEvents(episode, site, now));
  const changes: Change[] = [];
  if (resolved) changes.push('resolved');
  if (added.some((e) => e.type === 'kind_changed')) changes.push('kind_changed');

  const before = open.causes[0];
  const after = causes[0];
  if (!resolved && before && after && before.code !== after.code) {
    timeline.push({ at: now, type: 'cause_changed', message: `top cause now ${after.code} (was ${before.code}): ${after.summary}` });
    changes.push('cause_changed');
  }
  const incident: IncidentState = { ...open, ...stateOf(episode, { causes, timeline }) };
  return { incident, changes, state: siteState(site, checks, incident) };
}

export { rankCauses } from './causes.js';
export { siteState } from './state.js';
