import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
import type { NewCheckRow } from './checks.table.js';
import { accumulate, mergeFailures, mergeHist, trimHist, type RollupAcc } from './rollups.js';

const MINUTE = 60_000;

/** The part of an hour rollup that status needs. */
export interface HourFigures {
  bucket: number;
  count: number;
  okCount: number;
  latencyHist: number[];
}

/** One target's checks over a span (an hour being folded), as read from its minute rollups. */
export interface Folded {
  count: number;
  okCount: number;
  failures: Partial<Record<Outcome, number>>;
  latencySumMs: number;
  latencyHist: number[];
}

interface MinuteRow {
  bucket: number;
  site_id: number;
  target: string;
  count: number;
  ok_count: number;
  failures: string;
  latency_sum_ms: number;
  latency_hist: string;
}

type RollupCheck = Pick<NewCheckRow, 'siteId' | 'target' | 'startedAt' | 'outcome' | 'ttfbMs' | 'totalMs'>;

/** Key order of rollups_minute: bucket, site, target (text compared as SQLite does for ASCII). */
const byKey = (a: RollupAcc, b: RollupAcc) =>
  a.bucket - b.bucket || a.siteId - b.siteId || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0);

/**
 * Reads and writes the minute and hour rollups, with statements prepared once, on the tables of
 * checks.table.ts.
 */
export function createRollupsRepository(db: Db) {
  const sqlite = db.$client;
  const insertMinute = sqlite.prepare(
    `INSERT INTO rollups_minute (bucket, site_id, target, count, ok_count, failures, latency_sum_ms, latency_hist)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const getMinute = sqlite.prepare<[number, number, string], MinuteRow>(
    'SELECT * FROM rollups_minute WHERE bucket = ? AND site_id = ? AND target = ?',
  );
  const updateMinute = sqlite.prepare(
    `UPDATE rollups_minute SET count = ?, ok_count = ?, failures = ?, latency_sum_ms = ?, latency_hist = ?
     WHERE bucket = ? AND site_id = ? AND target = ?`,
  );
  const minutesFrom = sqlite.prepare<[number, number, number, number, string, number], MinuteRow>(
    `SELECT * FROM rollups_minute WHERE bucket >= ? AND bucket < ? AND (bucket, site_id, target) > (?, ?, ?)
     ORDER BY bucket, site_id, target LIMIT ?`,
  );
  const lastMinute = sqlite.prepare<[], { b: number | null }>('SELECT MAX(bucket) AS b FROM rollups_minute');
  const firstMinuteFrom = sqlite.prepare<[number], { b: number | null }>('SELECT MIN(bucket) AS b FROM rollups_minute WHERE bucket >= ?');
  const deleteMinutesFrom = sqlite.prepare('DELETE FROM rollups_minute WHERE bucket >= ?');
  const checksFrom = sqlite.prepare<[number], { siteId: number; target: string; startedAt: number; outcome: Outcome; ttfbMs: number | null; totalMs: number | null }>(
    `SELECT site_id AS siteId, target, started_at AS startedAt, outcome, ttfb_ms AS ttfbMs, total_ms AS totalMs
     FROM checks WHERE started_at >= ?`,
  );
  const insertHour = sqlite.prepare(
    `INSERT INTO rollups_hour (site_id, target, bucket, count, ok_count, failures, latency_sum_ms, latency_hist)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const getHour = sqlite.prepare<[number, string, number], { count: number; ok_count: number; latency_hist: string }>(
    'SELECT count, ok_count, latency_hist FROM rollups_hour WHERE site_id = ? AND target = ? AND bucket = ?',
  );
  const hoursBetween = sqlite.prepare<[number, string, number, number], { bucket: number; count: number; ok_count: number; latency_hist: string }>(
    'SELECT bucket, count, ok_count, latency_hist FROM rollups_hour WHERE site_id = ? AND target = ? AND bucket >= ? AND bucket < ?',
  );

  /** Writes one accumulator: an insert, or (a check late for a minute already written) a merge. */
  const writeMinute = (acc: RollupAcc) => {
    const failures = JSON.stringify(acc.failures);
    const hist = JSON.stringify(trimHist(acc.latencyHist));
    if (insertMinute.run(acc.bucket, acc.siteId, acc.target, acc.count, acc.okCount, failures, acc.latencySumMs, hist).changes > 0) return;
    const old = getMinute.get(acc.bucket, acc.siteId, acc.target)!;
    updateMinute.run(
      old.count + acc.count,
      old.ok_count + acc.okCount,
      JSON.stringify(mergeFailures(JSON.parse(old.failures), acc.failures)),
      old.latency_sum_ms + acc.latencySumMs,
      JSON.stringify(trimHist(mergeHist(JSON.parse(old.latency_hist), acc.latencyHist))),
      acc.bucket,
      acc.siteId,
      acc.target,
    );
  };

  return {
    /** Writes minute accumulators in key order (inside the caller's transaction). */
    writeMinutes(accs: RollupAcc[]): void {
      for (const acc of accs.sort(byKey)) writeMinute(acc);
    },

    /**
     * Where minute rollups may be incomplete after a stop: the last minute written (and what
     * follows). Deletes those rows and returns the raw checks to rebuild them from.
     */
    reopenLastMinutes(fallbackFrom: number): RollupCheck[] {
      const from = lastMinute.get()?.b ?? fallbackFrom;
      deleteMinutesFrom.run(from);
      return checksFrom.all(from);
    },

    /**
     * Reads the minute rollups with `from <= bucket < to` in slices of `slice` rows (key order),
     * awaiting `pause` between slices, and sums them per (site, target): key `${siteId}|${target}`.
     */
    async foldMinutes(from: number, to: number, slice: number, pause: () => Promise<unknown>): Promise<Map<string, Folded>> {
      const out = new Map<string, Folded>();
      let cursor: [number, number, string] = [from - 1, 0, ''];
      for (;;) {
        const rows = minutesFrom.all(from, to, cursor[0], cursor[1], cursor[2], slice);
        for (const r of rows) {
          const key = `${r.site_id}|${r.target}`;
          let f = out.get(key);
          if (!f) {
            f = { count: 0, okCount: 0, failures: {}, latencySumMs: 0, latencyHist: [] };
            out.set(key, f);
          }
          f.count += r.count;
          f.okCount += r.ok_count;
          f.latencySumMs += r.latency_sum_ms;
          if (r.failures !== '{}') f.failures = mergeFailures(f.failures, JSON.parse(r.failures));
          f.latencyHist = mergeHist(f.latencyHist, JSON.parse(r.latency_hist));
        }
        if (rows.length < slice) return out;
        const last = rows[rows.length - 1];
        cursor = [last.bucket, last.site_id, last.target];
        await pause();
      }
    },

    /** The oldest minute bucket stored at or after `from` (ms), or null. */
    firstMinute(from = 0): number | null {
      return firstMinuteFrom.get(from)?.b ?? null;
    },

    /** Writes one target's hour rollup; an hour already written stays. Returns what the table holds. */
    writeHour(siteId: number, target: string, hour: number, f: Folded): HourFigures | null {
      const hist = trimHist(f.latencyHist);
      if (insertHour.run(siteId, target, hour, f.count, f.okCount, JSON.stringify(f.failures), f.latencySumMs, JSON.stringify(hist)).changes === 0) {
        return this.hour(siteId, target, hour);
      }
      return { bucket: hour, count: f.count, okCount: f.okCount, latencyHist: hist };
    },

    /** One target's hour rollup, or null. */
    hour(siteId: number, target: string, bucket: number): HourFigures | null {
      const r = getHour.get(siteId, target, bucket);
      return r ? { bucket, count: r.count, okCount: r.ok_count, latencyHist: JSON.parse(r.latency_hist) } : null;
    },

    /** One target's hour rollups with `from <= bucket < to`; histograms parsed only for buckets at or after `histFrom`. */
    hours(siteId: number, target: string, from: number, to: number, histFrom: number): HourFigures[] {
      return hoursBetween.all(siteId, target, from, to).map((r) => ({
        bucket: r.bucket,
        count: r.count,
        okCount: r.ok_count,
        latencyHist: r.bucket >= histFrom ? JSON.parse(r.latency_hist) : [],
      }));
    },
  };
}

export type RollupsRepository = ReturnType<typeof createRollupsRepository>;

/**
 * The recorder's minute rollups: checks are summed in memory per (minute, site, target) and each
 * minute is written once it has closed (`graceMs` after its end, for rounds still finishing), in
 * key order, so minute rollups cost appends instead of a read and a random write per check.
 * A check later than that is merged into the written row. Nothing is lost on a stop: at start
 * the last minute written and all after it are rebuilt from the raw checks.
 */
export function createMinuteRollups(
  repo: RollupsRepository,
  opts: {
    clock: { now(): number };
    graceMs?: number;
    maxWritesPerFlush?: number;
    transaction<T>(fn: () => T): T;
    isOpen(): boolean;
  },
) {
  const graceMs = opts.graceMs ?? 5000;
  const maxWrites = opts.maxWritesPerFlush ?? 2000;
  const open = new Map<string, RollupAcc>();
  let timer: NodeJS.Timeout | null = null;

  const add = (rows: RollupCheck[]) => {
    for (const acc of accumulate(rows as NewCheckRow[])) {
      const key = `${acc.bucket}|${acc.siteId}|${acc.target}`;
      const have = open.get(key);
      if (!have) open.set(key, acc);
      else {
        have.count += acc.count;
        have.okCount += acc.okCount;
        have.failures = mergeFailures(have.failures, acc.failures);
        have.latencySumMs += acc.latencySumMs;
        have.latencyHist = mergeHist(have.latencyHist, acc.latencyHist);
      }
    }
  };

  /** Writes closed minutes, oldest first, at most `max` rows; returns how many. */
  const flush = (now: number, max: number) => {
    const closed: RollupAcc[] = [];
    for (const acc of open.values()) if (acc.bucket + MINUTE + graceMs <= now) closed.push(acc);
    if (closed.length === 0) return 0;
    closed.sort(byKey);
    const batch = closed.length > max ? closed.slice(0, max) : closed;
    repo.writeMinutes(batch);
    for (const acc of batch) open.delete(`${acc.bucket}|${acc.siteId}|${acc.target}`);
    return batch.length;
  };

  /** With no batch coming (a few slow sites), a timer writes closed minutes all the same. */
  const arm = () => {
    if (timer || open.size === 0) return;
    let earliest = Infinity;
    for (const acc of open.values()) earliest = Math.min(earliest, acc.bucket + MINUTE + graceMs);
    timer = setTimeout(
      () => {
        timer = null;
        if (!opts.isOpen()) return;
        const written = opts.transaction(() => flush(opts.clock.now(), maxWrites));
        if (written === maxWrites) setTimeout(arm, 10).unref();
        else arm();
      },
      Math.max(1000, earliest - opts.clock.now()),
    );
    timer.unref();
  };

  const now = opts.clock.now();
  add(opts.transaction(() => repo.reopenLastMinutes(Math.floor((now - MINUTE) / MINUTE) * MINUTE)));

  return {
    /** Adds checks and writes the minutes that have closed (inside the caller's transaction). */
    record(rows: RollupCheck[], now: number): void {
      add(rows);
      flush(now, maxWrites);
      arm();
    },
    /** Accumulators not written yet (for tests and the bench). */
    get pending(): number {
      return open.size;
    },
  };
}
