import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

/** SQLite's answer when a write needs a page the disk (or `max_page_count`) cannot give. */
export function isStorageFull(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  return e.code === 'SQLITE_FULL' || e.code === 'ENOSPC' || (typeof e.message === 'string' && /database or disk is full/i.test(e.message));
}

/** What /healthz and the operator notice say while writes fail. */
export interface StorageFailure {
  /** When the first write failed. */
  since: number;
  /** The database's own words, e.g. "database or disk is full". */
  reason: string;
  /** Since `since`: rounds and checks dropped, API writes refused. */
  roundsNotStored: number;
  checksNotStored: number;
  requestsRefused: number;
}

export interface StorageEvents {
  /** Writes started failing (once per episode). */
  failing?(failure: StorageFailure): void;
  /** Writes work again; `failure` is the episode that ended. */
  recovered?(failure: StorageFailure, at: number): void;
}

export interface StorageHealthOptions {
  clock: Clock;
  logger: Logger;
  events?: StorageEvents;
  /** While failing, one summary line this often (default a minute). */
  summaryEveryMs?: number;
}

/**
 * Whether the database takes writes, as the last write found. A full disk is logged once when it
 * starts, then as one summary line a minute, and once when writes work again; nothing else
 * about it is logged per write.
 */
export function createStorageHealth(options: StorageHealthOptions) {
  const { clock, logger } = options;
  const summaryEveryMs = options.summaryEveryMs ?? 60_000;
  let failure: StorageFailure | null = null;
  /** Counts since the last summary line. */
  let window = { rounds: 0, checks: 0, requests: 0 };
  let summary: NodeJS.Timeout | null = null;

  const summarize = () => {
    if (!failure) return;
    logger.warn('database writes still failing: checks are not being stored', {
      reason: failure.reason,
      failingForMs: clock.now() - failure.since,
      lastMinute: { roundsNotStored: window.rounds, checksNotStored: window.checks, requestsRefused: window.requests },
      total: { roundsNotStored: failure.roundsNotStored, checksNotStored: failure.checksNotStored, requestsRefused: failure.requestsRefused },
    });
    window = { rounds: 0, checks: 0, requests: 0 };
  };

  return {
    /** A write failed because storage is full: counts it; the first of an episode is logged and told. */
    failed(error: unknown, lost: { rounds?: number; checks?: number; requests?: number }): void {
      const reason = String((error as Error)?.message ?? error).split('\n')[0];
      if (!failure) {
        failure = { since: clock.now(), reason, roundsNotStored: 0, checksNotStored: 0, requestsRefused: 0 };
        window = { rounds: 0, checks: 0, requests: 0 };
        logger.error('database writes failing: checks are not being stored, writes through the API are refused (507)', { reason });
        summary = setInterval(summarize, summaryEveryMs);
        summary.unref();
        options.events?.failing?.({ ...failure });
      }
      failure.roundsNotStored += lost.rounds ?? 0;
      failure.checksNotStored += lost.checks ?? 0;
      failure.requestsRefused += lost.requests ?? 0;
      window.rounds += lost.rounds ?? 0;
      window.checks += lost.checks ?? 0;
      window.requests += lost.requests ?? 0;
    },

    /** A write went through: ends an episode, if one was going on. */
    succeeded(): void {
      if (!failure) return;
      const ended = failure;
      failure = null;
      if (summary) clearInterval(summary);
      summary = null;
      const at = clock.now();
      logger.info('database writes work again', {
        failedForMs: at - ended.since,
        roundsNotStored: ended.roundsNotStored,
        checksNotStored: ended.checksNotStored,
        requestsRefused: ended.requestsRefused,
      });
      options.events?.recovered?.(ended, at);
    },

    /** The episode going on, or null when writes work. */
    failure(): StorageFailure | null {
      return failure && { ...failure };
    },

    stop(): void {
      if (summary) clearInterval(summary);
      summary = null;
    },
  };
}

export type StorageHealth = ReturnType<typeof createStorageHealth>;
