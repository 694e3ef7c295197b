import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
import { rollupsMinute, type NewCheckRow } from './checks.table.js';

/** Upper bounds (ms) of the latency histogram buckets: 1.5x apart, from 1 ms to ~5 min. */
export const LATENCY_BOUNDS = Array.from({ length: 32 }, (_, i) => Math.round(1.5 ** i));

export const bucketOf = (ms: number) => {
  for (let i = 0; i < LATENCY_BOUNDS.length; i++) if (ms <= LATENCY_BOUNDS[i]) return i;
  return LATENCY_BOUNDS.length - 1;
};

/** A percentile (0..1) read off a merged histogram: the bucket's upper bound. */
export function percentileOf(hist: number[], p: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= rank) return LATENCY_BOUNDS[i];
  }
  return LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1];
}

export const mergeHist = (a: number[], b: number[]) => {
  const out = a.slice();
  for (let i = 0; i < b.length; i++) out[i] = (out[i] ?? 0) + b[i];
  return out;
};

export interface RollupAcc {
  siteId: number;
  target: string;
  bucket: number;
  count: number;
  okCount: number;
  failures: Partial<Record<Outcome, number>>;
  latencySumMs: number;
  latencyHist: number[];
}

/** Latency that a rollup keeps for a check: time to first byte of a good answer. */
const latencyOf = (row: NewCheckRow) => (row.outcome === 'ok' ? (row.ttfbMs ?? row.totalMs ?? null) : null);

/** Folds checks into per-(site, target, minute) accumulators. */
export function accumulate(rows: NewCheckRow[], bucketMs = 60_000): RollupAcc[] {
  const byKey = new Map<string, RollupAcc>();
  for (const row of rows) {
    const bucket = Math.floor(row.startedAt / bucketMs) * bucketMs;
    const key = `${row.siteId}|${row.target}|${bucket}`;
    let acc = byKey.get(key);
    if (!acc) {
      acc = { siteId: row.siteId, target: row.target, bucket, count: 0, okCount: 0, failures: {}, latencySumMs: 0, latencyHist: new Array(LATENCY_BOUNDS.length).fill(0) };
      byKey.set(key, acc);
    }
    acc.count++;
    if (row.outcome === 'ok') acc.okCount++;
    else acc.failures[row.outcome] = (acc.failures[row.outcome] ?? 0) + 1;
    const latency = latencyOf(row);
    if (latency !== null) {
      acc.latencySumMs += latency;
      acc.latencyHist[bucketOf(latency)]++;
    }
  }
  return [...byKey.values()];
}

const mergeFailures = (a: Partial<Record<Outcome, number>>, b: Partial<Record<Outcome, number>>) => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b) as [Outcome, number][]) out[k] = (out[k] ?? 0) + v;
  return out;
};

/**
 * Adds a batch of checks to the minute rollups (inside the caller's transaction): read the rows
 * the batch touches, merge in memory, write back.
 */
export function addToMinuteRollups(db: Db, rows: NewCheckRow[]): void {
  for (const acc of accumulate(rows)) {
    const existing = db
      .select()
      .from(rollupsMinute)
      .where(sql`${rollupsMinute.siteId} = ${acc.siteId} AND ${rollupsMinute.target} = ${acc.target} AND ${rollupsMinute.bucket} = ${acc.bucket}`)
      .get();
    const merged = existing
      ? {
          ...acc,
          count: existing.count + acc.count,
          okCount: existing.okCount + acc.okCount,
          failures: mergeFailures(existing.failures, acc.failures),
          latencySumMs: existing.latencySumMs + acc.latencySumMs,
          latencyHist: mergeHist(existing.latencyHist, acc.latencyHist),
        }
      : acc;
    db.insert(rollupsMinute)
      .values(merged)
      .onConflictDoUpdate({
        target: [rollupsMinute.siteId, rollupsMinute.target, rollupsMinute.bucket],
        set: { count: merged.count, okCount: merged.okCount, failures: merged.failures, latencySumMs: merged.latencySumMs, latencyHist: merged.latencyHist },
      })
      .run();
  }
}
