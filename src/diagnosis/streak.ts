import type { Outcome } from '../probes/probes.types.js';
import type { IncidentState, TimelineCheck } from './diagnosis.types.js';

/**
 * Streaks and incident episodes over the site's own checks (target 'site'), oldest first.
 *
 * Everything here is recomputed from the checks, so the same window always gives the same counts:
 * an incident can be rebuilt from the database after a restart, and a caller that passes a check
 * twice never counts it twice.
 */

export const isFailure = (check: TimelineCheck): boolean => check.outcome !== 'ok';

/** The failure kind of a check: `bad_gateway` for any 502, else its outcome. */
export const failureKind = (check: TimelineCheck): Outcome =>
  check.statusCode === 502 && check.outcome !== 'ok' ? 'bad_gateway' : check.outcome;

/** The most frequent failure kind; a tie goes to the kind seen latest. */
export function dominantKind(failures: TimelineCheck[]): Outcome {
  const count = new Map<Outcome, number>();
  const last = new Map<Outcome, number>();
  failures.forEach((check, i) => {
    const kind = failureKind(check);
    count.set(kind, (count.get(kind) ?? 0) + 1);
    last.set(kind, i);
  });
  let best: Outcome = 'bad_gateway';
  let bestCount = -1;
  for (const [kind, n] of count) {
    if (n > bestCount || (n === bestCount && last.get(kind)! > last.get(best)!)) {
      best = kind;
      bestCount = n;
    }
  }
  return best;
}

/** One incident as the checks tell it. */
export interface Episode {
  firstFailureAt: number;
  /** startedAt of the check that reached the failure threshold. */
  openedAt: number;
  /** The kind that opened it. */
  kind: Outcome;
  failedChecks: number;
  /**
   * Every failure kind, in order of first appearance, with the check that first showed it and the
   * kind of the failure before it (null for kinds already known from the stored incident).
   */
  kinds: { kind: Outcome; check: TimelineCheck | null; previous: Outcome | null }[];
  /** Kind of the latest failure. */
  lastKind: Outcome;
  /** The streak's first failed check and the one that reached the threshold, when in the window. */
  firstFailure: TimelineCheck | null;
  openingCheck: TimelineCheck | null;
  goodStreak: number;
  /** Good checks that started a run of good checks while open (for 'recovering' events). */
  recovering: TimelineCheck[];
  /** The check that completed recovery, when it has. */
  resolvedBy: TimelineCheck | null;
  /** startedAt of the newest site check counted. */
  lastCheckAt: number;
}

/** Feeds one more site check to an open episode. */
function advance(episode: Episode, check: TimelineCheck, recoveryThreshold: number): void {
  episode.lastCheckAt = check.startedAt;
  if (isFailure(check)) {
    episode.failedChecks += 1;
    episode.goodStreak = 0;
    const kind = failureKind(check);
    if (!episode.kinds.some((k) => k.kind === kind)) episode.kinds.push({ kind, check, previous: episode.lastKind });
    episode.lastKind = kind;
    return;
  }
  episode.goodStreak += 1;
  if (episode.goodStreak >= recoveryThreshold) episode.resolvedBy = check;
  else if (episode.goodStreak === 1) episode.recovering.push(check);
}

function openEpisode(streak: TimelineCheck[]): Episode {
  const kinds: Episode['kinds'] = [];
  let previous: Outcome | null = null;
  for (const check of streak) {
    const kind = failureKind(check);
    if (!kinds.some((k) => k.kind === kind)) kinds.push({ kind, check, previous });
    previous = kind;
  }
  const last = streak[streak.length - 1];
  return {
    lastKind: previous!,
    firstFailure: streak[0],
    openingCheck: last,
    firstFailureAt: streak[0].startedAt,
    openedAt: last.startedAt,
    kind: dominantKind(streak),
    failedChecks: streak.length,
    kinds,
    goodStreak: 0,
    recovering: [],
    resolvedBy: null,
    lastCheckAt: last.startedAt,
  };
}

/**
 * Replays the site's checks from the start of the window and returns the incident that is open at
 * the end of it, if any. Incidents that opened and resolved inside the window are history (the
 * caller stored them when they happened) and are ignored.
 */
export function findOpenEpisode(
  siteChecks: TimelineCheck[],
  failureThreshold: number,
  recoveryThreshold: number,
): Episode | null {
  let streak: TimelineCheck[] = [];
  let episode: Episode | null = null;
  for (const check of siteChecks) {
    if (episode) {
      advance(episode, check, recoveryThreshold);
      if (episode.resolvedBy) {
        episode = null;
        streak = [];
      }
      continue;
    }
    if (!isFailure(check)) {
      streak = [];
      continue;
    }
    streak.push(check);
    if (streak.length >= failureThreshold) episode = openEpisode(streak);
  }
  return episode;
}

/**
 * Brings an open incident up to date with the window. Stops at the check that completes recovery;
 * later checks belong to the next incident.
 *
 * - When the window holds the incident's first failure, every count is recomputed from the checks
 *   since then (exact, and the same however often the window is passed again).
 * - Else, when the state knows the last check it counted (`lastCheckAt`), only newer checks are added.
 * - Else the counts are recomputed from what the window holds, never going below the stored ones.
 */
export function resumeEpisode(open: IncidentState, siteChecks: TimelineCheck[], recoveryThreshold: number): Episode {
  const known: Episode['kinds'] = (open.kinds.length ? open.kinds : [open.kind]).map((kind) => ({
    kind,
    check: null,
    previous: null,
  }));
  const firstFailure = siteChecks.find((c) => c.startedAt === open.firstFailureAt && isFailure(c)) ?? null;
  const exact = firstFailure !== null;
  const incremental = !exact && open.lastCheckAt !== undefined;
  const episode: Episode = {
    firstFailureAt: open.firstFailureAt,
    openedAt: open.openedAt,
    kind: open.kind,
    failedChecks: incremental ? open.failedChecks : 0,
    kinds: known,
    lastKind: open.kind,
    firstFailure,
    openingCheck: siteChecks.find((c) => c.startedAt === open.openedAt) ?? null,
    goodStreak: incremental ? open.goodStreak : 0,
    recovering: [],
    resolvedBy: null,
    lastCheckAt: incremental ? open.lastCheckAt! : open.firstFailureAt,
  };
  const from = incremental ? open.lastCheckAt! + 1 : open.firstFailureAt;
  for (const check of siteChecks) {
    if (check.startedAt < from) continue;
    advance(episode, check, recoveryThreshold);
    if (episode.resolvedBy) break;
  }
  if (!exact && !incremental) {
    episode.failedChecks = Math.max(episode.failedChecks, open.failedChecks);
    episode.lastCheckAt = Math.max(episode.lastCheckAt, open.lastCheckAt ?? 0);
  }
  return episode;
}
