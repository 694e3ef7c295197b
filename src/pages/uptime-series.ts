/**
 * STAND-IN for `uptimeSeries` of src/checks/rollups.repository.ts (issue 16 adds daily rollups
 * and the real function, with this exact signature). Until it lands, this computes the same
 * buckets from the hour rollups, the minute rollups not yet folded into an hour, and the
 * incidents table. The pages receive it as a parameter (service.ts), so that swapping in the real
 * one is a one-line change there.
 */
import type { Db } from '../db/client.js';
import { mergeFailures, mergeHist, percentileOf } from '../checks/rollups.js';
import type { Outcome } from '../probes/probes.types.js';
import type { Clock } from '../shared/clock.js';

export interface UptimeBucket {
  /** ms since epoch, UTC start of the hour or day */
  start: number;
  checks: number;
  ok: number;
  /** percent 0..100, null when no checks */
  uptime: number | null;
  latencyMs: { avg: number | null; p50: number | null; p95: number | null; p99: number | null };
  failures: Partial<Record<Outcome, number>>;
  /** cause = the incident's top cause code */
  worstIncident: { id: number; kind: string; cause: string | null } | null;
}

export interface UptimeSeriesOptions {
  from: number;
  to: number;
  granularity: 'hour' | 'day';
  /** 'site' (default) or an upstream's id. */
  target?: string;
}

export type UptimeSeries = (siteId: number, opts: UptimeSeriesOptions) => UptimeBucket[];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The minute rollups past the hour watermark, summed per hour for every site, are read again after this long. */
const TAIL_TTL_MS = 5_000;

interface Sums {
  count: number;
  ok: number;
  failures: Partial<Record<Outcome, number>>;
  latencySum: number;
  hist: number[];
  /** Checks with a latency (the histogram's total; the good checks where only sums were read). */
  latencyCount: number;
}

interface RollupRow {
  bucket: number;
  count: number;
  ok_count: number;
  failures: string;
  latency_sum_ms: number;
  latency_hist: string;
}

const add = (into: Sums, r: RollupRow) => {
  into.count += r.count;
  into.latencyCount += r.ok_count;
  into.ok += r.ok_count;
  into.latencySum += r.latency_sum_ms;
  if (r.failures !== '{}') into.failures = mergeFailures(into.failures, JSON.parse(r.failures));
  if (r.latency_hist !== '[]') into.hist = mergeHist(into.hist, JSON.parse(r.latency_hist));
};

const empty = (): Sums => ({ count: 0, ok: 0, failures: {}, latencySum: 0, hist: [], latencyCount: 0 });

export function createUptimeSeries(db: Db, clock: Clock): UptimeSeries {
  const sqlite = db.$client;
  const hourRows = sqlite.prepare<[number, string, number, number], RollupRow>(
    `SELECT bucket, count, ok_count, failures, latency_sum_ms, latency_hist FROM rollups_hour
     WHERE site_id = ? AND target = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`,
  );
  const watermark = sqlite.prepare<[], { value: string }>(`SELECT value FROM settings WHERE key = 'rollup_hour_watermark'`);
  // Minute rollups are keyed time first: one pass over the unfolded tail serves every site, summed
  // per hour by SQLite. The stand-in leaves out the tail's failures and latency histogram (its
  // buckets' percentiles come from the folded hours only); the average comes from the sums.
  const tailRows = sqlite.prepare<[number], { site_id: number; target: string; hour: number; count: number; ok_count: number; latency_sum_ms: number }>(
    `SELECT site_id, target, (bucket / ${HOUR}) * ${HOUR} AS hour, sum(count) AS count, sum(ok_count) AS ok_count, sum(latency_sum_ms) AS latency_sum_ms
     FROM rollups_minute WHERE bucket >= ? GROUP BY site_id, target, hour`,
  );
  const incidentsOf = sqlite.prepare<[number, number, number], { id: number; kind: string; cause: string | null; from: number; to: number | null }>(
    `SELECT id, kind, json_extract(causes, '$[0].code') AS cause, first_failure_at AS "from", resolved_at AS "to"
     FROM incidents WHERE site_id = ? AND first_failure_at < ? AND (resolved_at IS NULL OR resolved_at >= ?)`,
  );

  /** Sums of finished buckets (before the hour watermark) never change: kept per site, target and bucket. */
  const settled = new Map<string, Sums>();
  let tail: { at: number; since: number; byKey: Map<string, Map<number, Sums>> } | null = null;

  const readTail = () => {
    const now = clock.now();
    const since = Number(watermark.get()?.value ?? 0);
    if (tail && tail.since === since && now - tail.at < TAIL_TTL_MS) return tail;
    const byKey = new Map<string, Map<number, Sums>>();
    for (const r of tailRows.all(since)) {
      const key = `${r.site_id}|${r.target}`;
      let hours = byKey.get(key);
      if (!hours) byKey.set(key, (hours = new Map()));
      hours.set(r.hour, { count: r.count, ok: r.ok_count, failures: {}, latencySum: r.latency_sum_ms, hist: [], latencyCount: r.ok_count });
    }
    tail = { at: now, since, byKey };
    return tail;
  };

  return (siteId, { from, to, granularity, target = 'site' }) => {
    const size = granularity === 'day' ? DAY : HOUR;
    const first = Math.floor(from / size) * size;
    const { since, byKey } = readTail();
    const buckets = new Map<number, Sums>();
    const sumsAt = (start: number) => {
      let s = buckets.get(start);
      if (!s) buckets.set(start, (s = empty()));
      return s;
    };

    // Whole buckets before the watermark come from the cache when they were read before.
    const settledEnd = Math.min(to, Math.floor(since / size) * size);
    let readFrom = first;
    for (let start = first; start < settledEnd; start += size) {
      const cached = settled.get(`${siteId}|${target}|${size}|${start}`);
      if (!cached) break;
      buckets.set(start, cached);
      readFrom = start + size;
    }
    for (const r of hourRows.all(siteId, target, readFrom, Math.min(to, since))) add(sumsAt(Math.floor(r.bucket / size) * size), r);
    for (let start = readFrom; start < settledEnd; start += size) settled.set(`${siteId}|${target}|${size}|${start}`, buckets.get(start) ?? empty());
    for (const [hour, sums] of byKey.get(`${siteId}|${target}`) ?? []) {
      if (hour < from || hour >= to) continue;
      const into = sumsAt(Math.floor(hour / size) * size);
      into.count += sums.count;
      into.ok += sums.ok;
      into.latencySum += sums.latencySum;
      into.latencyCount += sums.latencyCount;
      into.failures = mergeFailures(into.failures, sums.failures);
      into.hist = mergeHist(into.hist, sums.hist);
    }

    const incidents = target === 'site' ? incidentsOf.all(siteId, to, first) : [];
    const out: UptimeBucket[] = [];
    for (let start = first; start < to; start += size) {
      const s = buckets.get(start) ?? empty();
      const latencies = s.latencyCount;
      let worst: UptimeBucket['worstIncident'] = null;
      let worstOverlap = 0;
      for (const i of incidents) {
        const overlap = Math.min(i.to ?? clock.now(), start + size) - Math.max(i.from, start);
        if (overlap > worstOverlap || (overlap === 0 && worst === null && i.from >= start && i.from < start + size)) {
          worstOverlap = overlap;
          worst = { id: i.id, kind: i.kind, cause: i.cause };
        }
      }
      out.push({
        start,
        checks: s.count,
        ok: s.ok,
        uptime: s.count > 0 ? Math.round((s.ok / s.count) * 100_000) / 1000 : null,
        latencyMs: {
          avg: latencies > 0 ? Math.round(s.latencySum / latencies) : null,
          p50: percentileOf(s.hist, 0.5),
          p95: percentileOf(s.hist, 0.95),
          p99: percentileOf(s.hist, 0.99),
        },
        failures: s.failures,
        worstIncident: worst,
      });
    }
    return out;
  };
}
