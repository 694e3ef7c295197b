import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
import type { NewCheckRow } from './checks.table.js';
import type { ChecksRepository } from './checks.repository.js';
import {
  decodeFailures,
  decodeHist,
  encodeFailures,
  encodeHist,
  latencyOf,
  bucketOf,
  mergeFailures,
  mergeHist,
  percentileOf,
  type RollupAcc,
} from './rollups.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Room for target keys in a rollup row's id: bucket index * KEY_SPAN + target key (16 M targets). */
export const KEY_SPAN = 2 ** 24;

/** The part of an hour rollup that status needs. */
export interface HourFigures {
  bucket: number;
  count: number;
  okCount: number;
  latencyHist: number[];
}

/** What an hour row sums: the checks of one target over one hour. */
export type HourSums = Omit<RollupAcc, 'siteId' | 'target' | 'bucket'>;

/** One target's checks over a span (a day being folded). */
export interface Folded {
  count: number;
  okCount: number;
  failures: Partial<Record<Outcome, number>>;
  latencySumMs: number;
  latencyHist: number[];
}

/** One bucket of `uptimeSeries`: the shape the API and the pages read. */
export interface UptimeBucket {
  /** ms since epoch, UTC start of the hour or day. */
  start: number;
  checks: number;
  ok: number;
  /** percent 0..100, null when no checks. */
  uptime: number | null;
  latencyMs: { avg: number | null; p50: number | null; p95: number | null; p99: number | null };
  failures: Partial<Record<Outcome, number>>;
  /** cause = the incident's top cause code. */
  worstIncident: { id: number; kind: string; cause: string | null } | null;
}

export interface WorstIncident {
  id: number;
  kind: string;
  cause: string | null;
}

interface RollupRow {
  id: number;
  count: number;
  ok: number;
  fail: string | null;
  lat_sum: number;
  hist: Buffer | null;
}

interface DayRow extends RollupRow {
  worst_id: number | null;
  worst_kind: string | null;
  worst_cause: string | null;
}

interface IncidentSpan {
  id: number;
  kind: string;
  cause: string | null;
  opened_at: number;
  resolved_at: number | null;
}

type RollupCheck = Pick<NewCheckRow, 'siteId' | 'target' | 'startedAt' | 'outcome' | 'ttfbMs' | 'totalMs'>;

const percent = (ok: number, count: number) => (count > 0 ? Math.round((ok / count) * 100_000) / 1000 : null);

const emptyFolded = (): Folded => ({ count: 0, okCount: 0, failures: {}, latencySumMs: 0, latencyHist: [] });

const addRow = (f: Folded, r: RollupRow) => {
  f.count += r.count;
  f.okCount += r.ok;
  f.latencySumMs += r.lat_sum;
  if (r.fail) f.failures = mergeFailures(f.failures, decodeFailures(r.fail));
  if (r.hist) f.latencyHist = mergeHist(f.latencyHist, decodeHist(r.hist));
};

/** The incident of `spans` that covers most of [from, to), or null. */
export function worstOf(spans: IncidentSpan[], from: number, to: number): WorstIncident | null {
  let best: IncidentSpan | null = null;
  let bestMs = 0;
  for (const s of spans) {
    const ms = Math.min(to, s.resolved_at ?? to) - Math.max(from, s.opened_at);
    if (s.opened_at >= to || ms < 0) continue;
    if (!best || ms > bestMs || (ms === bestMs && s.id < best.id)) {
      best = s;
      bestMs = ms;
    }
  }
  return best ? { id: best.id, kind: best.kind, cause: best.cause } : null;
}

/**
 * Reads and writes the hour and day rollups (rollups.table.ts) with statements prepared once.
 * Rows are addressed by `bucket index * KEY_SPAN + target key`: see rollups.table.ts.
 */
export function createRollupsRepository(db: Db, checks: ChecksRepository) {
  const sqlite = db.$client;
  const keysOfSite = sqlite.prepare<[number], { id: number; target: string }>('SELECT id, target FROM rollup_targets WHERE site_id = ?');

  const insertHour = sqlite.prepare('INSERT INTO rollup_hours (id, count, ok, fail, lat_sum, hist) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
  const getHourRow = sqlite.prepare<[number], RollupRow>('SELECT * FROM rollup_hours WHERE id = ?');
  const updateHour = sqlite.prepare('UPDATE rollup_hours SET count = ?, ok = ?, fail = ?, lat_sum = ?, hist = ? WHERE id = ?');
  const lastHourId = sqlite.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM rollup_hours');
  const firstHourIdFrom = sqlite.prepare<[number], { id: number | null }>('SELECT MIN(id) AS id FROM rollup_hours WHERE id >= ?');
  const deleteHoursFrom = sqlite.prepare('DELETE FROM rollup_hours WHERE id >= ?');
  const hoursSlice = sqlite.prepare<[number, number, number], RollupRow>('SELECT * FROM rollup_hours WHERE id >= ? AND id < ? ORDER BY id LIMIT ?');

  const insertDay = sqlite.prepare(
    `INSERT INTO rollup_days (id, count, ok, fail, lat_sum, hist, worst_id, worst_kind, worst_cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const getDayRow = sqlite.prepare<[number], DayRow>('SELECT * FROM rollup_days WHERE id = ?');
  const firstHourId = sqlite.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM rollup_hours');
  const firstDayId = sqlite.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM rollup_days');
  const deleteHourRow = sqlite.prepare('DELETE FROM rollup_hours WHERE id = ?');
  const deleteDayRow = sqlite.prepare('DELETE FROM rollup_days WHERE id = ?');
  const pruneHours = sqlite.prepare('DELETE FROM rollup_hours WHERE id IN (SELECT id FROM rollup_hours WHERE id < ? ORDER BY id LIMIT ?)');
  const pruneDays = sqlite.prepare('DELETE FROM rollup_days WHERE id IN (SELECT id FROM rollup_days WHERE id < ? ORDER BY id LIMIT ?)');
  const keysAfter = sqlite.prepare<[number, number], { id: number; gone: number }>(
    `SELECT id, NOT EXISTS (SELECT 1 FROM sites WHERE sites.id = rollup_targets.site_id) AS gone FROM rollup_targets
     WHERE id > ? ORDER BY id LIMIT ?`,
  );
  const deleteKey = sqlite.prepare('DELETE FROM rollup_targets WHERE id = ?');
  const incidentsOf = sqlite.prepare<[number, number, number], IncidentSpan>(
    `SELECT id, kind, json_extract(causes, '$[0].code') AS cause, opened_at, resolved_at FROM incidents
     WHERE site_id = ? AND opened_at < ? AND (resolved_at IS NULL OR resolved_at > ?)`,
  );
  const incidentsDuring = sqlite.prepare<[number, number], IncidentSpan & { site_id: number }>(
    `SELECT id, site_id, kind, json_extract(causes, '$[0].code') AS cause, opened_at, resolved_at FROM incidents
     WHERE opened_at < ? AND (resolved_at IS NULL OR resolved_at > ?)`,
  );

  /** The key of a target; with `create`, one is made for a target seen for the first time. */
  function keyOf(siteId: number, target: string, create: true): number;
  function keyOf(siteId: number, target: string, create?: boolean): number | null;
  function keyOf(siteId: number, target: string, create = false): number | null {
    // The checks repository holds the one cache of keys (one entry per target, not one per repository).
    return checks.keyOf(siteId, target, create);
  }

  const hourId = (hour: number, key: number) => (hour / HOUR) * KEY_SPAN + key;
  const dayId = (day: number, key: number) => (day / DAY) * KEY_SPAN + key;
  const hourOfId = (id: number) => Math.floor(id / KEY_SPAN) * HOUR;

  const toFigures = (bucket: number, r: RollupRow): HourFigures => ({ bucket, count: r.count, okCount: r.ok, latencyHist: decodeHist(r.hist) });

  /** Writes one hour row: an insert, or (a check late for an hour already written) a merge. */
  const writeHour = (id: number, acc: HourSums) => {
    if (insertHour.run(id, acc.count, acc.okCount, encodeFailures(acc.failures), acc.latencySumMs, encodeHist(acc.latencyHist)).changes > 0) return;
    const old = getHourRow.get(id)!;
    const f = emptyFolded();
    addRow(f, old);
    updateHour.run(
      f.count + acc.count,
      f.okCount + acc.okCount,
      encodeFailures(mergeFailures(f.failures, acc.failures)),
      f.latencySumMs + acc.latencySumMs,
      encodeHist(mergeHist(f.latencyHist, acc.latencyHist)),
      id,
    );
  };

  /** One target's figures over [from, to) from its raw checks (an hour not written yet). */
  const fromChecks = (siteId: number, target: string, from: number, to: number): Folded => {
    const f = emptyFolded();
    for (const c of checks.ofTarget(siteId, target, from, to)) {
      f.count++;
      if (c.outcome === 'ok') f.okCount++;
      else f.failures[c.outcome] = (f.failures[c.outcome] ?? 0) + 1;
      const latency = latencyOf(c as NewCheckRow);
      if (latency !== null) {
        f.latencySumMs += latency;
        const b = bucketOf(latency);
        while (f.latencyHist.length <= b) f.latencyHist.push(0);
        f.latencyHist[b]++;
      }
    }
    return f;
  };

  /**
   * Reads one target's buckets; an hour read from the raw checks is kept for the reader's life
   * (one page's card, one API answer), so asking for it again costs nothing.
   */
  const seriesReader = (siteId: number, target: string, now: number, spans: IncidentSpan[]) => {
    const key = keyOf(siteId, target);
    const lastId = lastHourId.get()?.id;
    const lastWritten = lastId == null ? -Infinity : hourOfId(lastId);
    const fromRaw = new Map<number, Folded>();

    const hourFolded = (hour: number): Folded => {
      const r = key === null ? undefined : getHourRow.get(hourId(hour, key));
      if (r) {
        const f = emptyFolded();
        addRow(f, r);
        return f;
      }
      if (hour < lastWritten || hour > now) return emptyFolded();
      let f = fromRaw.get(hour);
      if (!f) fromRaw.set(hour, (f = fromChecks(siteId, target, hour, hour + HOUR)));
      return f;
    };

    const buckets = (first: number, to: number, step: number): UptimeBucket[] => {
      const out: UptimeBucket[] = [];
      for (let start = first; start < to; start += step) {
        let f: Folded;
        let worst: WorstIncident | null | undefined;
        const day = step === DAY && key !== null ? getDayRow.get(dayId(start, key)) : undefined;
        if (day) {
          f = emptyFolded();
          addRow(f, day);
          worst = day.worst_id === null ? null : { id: day.worst_id, kind: day.worst_kind ?? '', cause: day.worst_cause };
        } else if (step === HOUR) {
          f = hourFolded(start);
        } else {
          f = emptyFolded();
          for (let h = start; h < start + DAY && h <= now; h += HOUR) {
            const part = hourFolded(h);
            f.count += part.count;
            f.okCount += part.okCount;
            f.latencySumMs += part.latencySumMs;
            f.failures = mergeFailures(f.failures, part.failures);
            f.latencyHist = mergeHist(f.latencyHist, part.latencyHist);
          }
        }
        if (worst === undefined) worst = target === 'site' ? worstOf(spans, start, start + step) : null;
        const measured = f.latencyHist.reduce((a, b) => a + b, 0);
        out.push({
          start,
          checks: f.count,
          ok: f.okCount,
          uptime: percent(f.okCount, f.count),
          latencyMs: {
            avg: measured > 0 ? Math.round(f.latencySumMs / measured) : null,
            p50: percentileOf(f.latencyHist, 0.5),
            p95: percentileOf(f.latencyHist, 0.95),
            p99: percentileOf(f.latencyHist, 0.99),
          },
          failures: f.failures,
          worstIncident: worst,
        });
      }
      return out;
    };
    return { buckets };
  };

  return {
    keyOf,

    /** Writes hour rows, given in id order (inside the caller's transaction). */
    writeHourRows(rows: (HourSums & { id: number })[]): void {
      for (const row of rows) writeHour(row.id, row);
    },

    /** Writes hour accumulators in key order (inside the caller's transaction). */
    writeHours(accs: RollupAcc[]): void {
      const withIds = accs.map((acc) => ({ acc, id: hourId(acc.bucket, keyOf(acc.siteId, acc.target, true)) }));
      withIds.sort((a, b) => a.id - b.id);
      for (const { acc, id } of withIds) writeHour(id, acc);
    },

    /**
     * Where hour rollups may be incomplete after a stop: the last hour written (and what follows).
     * Deletes those rows and returns the raw checks to rebuild them from.
     */
    reopenLastHours(fallbackFrom: number): RollupCheck[] {
      const last = lastHourId.get()?.id;
      const from = last == null ? fallbackFrom : hourOfId(last);
      deleteHoursFrom.run((from / HOUR) * KEY_SPAN);
      const out: RollupCheck[] = [];
      for (let page = checks.since(from, null, 5_000); page.length > 0; page = checks.since(from, page[page.length - 1].id, 5_000)) {
        for (const c of page) out.push({ siteId: c.siteId, target: c.target, startedAt: c.startedAt, outcome: c.outcome, ttfbMs: c.ttfbMs, totalMs: c.totalMs });
      }
      return out;
    },

    /** The start of the oldest hour with a rollup at or after `from` (ms), or null. */
    firstHour(from = 0): number | null {
      const id = firstHourIdFrom.get(Math.max(0, Math.floor(from / HOUR)) * KEY_SPAN)?.id;
      return id == null ? null : hourOfId(id);
    },

    /** One target's hour rollup, or null. */
    hour(siteId: number, target: string, bucket: number): HourFigures | null {
      const key = keyOf(siteId, target);
      if (key === null) return null;
      const r = getHourRow.get(hourId(bucket, key));
      return r ? toFigures(bucket, r) : null;
    },

    /** One target's hour rollups with `from <= bucket < to` (one lookup per hour); histograms only from `histFrom`. */
    hours(siteId: number, target: string, from: number, to: number, histFrom: number): HourFigures[] {
      const key = keyOf(siteId, target);
      const out: HourFigures[] = [];
      if (key === null) return out;
      for (let bucket = Math.ceil(from / HOUR) * HOUR; bucket < to; bucket += HOUR) {
        const r = getHourRow.get(hourId(bucket, key));
        if (r) out.push(bucket >= histFrom ? toFigures(bucket, r) : { bucket, count: r.count, okCount: r.ok, latencyHist: [] });
      }
      return out;
    },

    /**
     * Reads the hour rollups of one day in slices of `slice` rows (id order), awaiting `pause`
     * between slices, and sums them per target key.
     */
    async foldDay(day: number, slice: number, pause: () => Promise<unknown>): Promise<Map<number, Folded>> {
      const out = new Map<number, Folded>();
      let cursor = (day / HOUR) * KEY_SPAN;
      const end = ((day + DAY) / HOUR) * KEY_SPAN;
      for (;;) {
        const rows = hoursSlice.all(cursor, end, slice);
        for (const r of rows) {
          const key = r.id % KEY_SPAN;
          let f = out.get(key);
          if (!f) out.set(key, (f = emptyFolded()));
          addRow(f, r);
        }
        if (rows.length < slice) return out;
        cursor = rows[rows.length - 1].id + 1;
        await pause();
      }
    },

    /** The worst incident of each site over [from, to), by site id. */
    worstIncidents(from: number, to: number): Map<number, WorstIncident> {
      const bySite = new Map<number, IncidentSpan[]>();
      for (const s of incidentsDuring.all(to, from)) {
        const list = bySite.get(s.site_id);
        if (list) list.push(s);
        else bySite.set(s.site_id, [s]);
      }
      const out = new Map<number, WorstIncident>();
      for (const [siteId, spans] of bySite) {
        const w = worstOf(spans, from, to);
        if (w) out.set(siteId, w);
      }
      return out;
    },

    /** Writes the day rows of `day`, in key order; a day already written stays. */
    writeDays(day: number, rows: { key: number; f: Folded; worst: WorstIncident | null }[]): void {
      rows.sort((a, b) => a.key - b.key);
      for (const { key, f, worst } of rows) {
        insertDay.run(
          dayId(day, key),
          f.count,
          f.okCount,
          encodeFailures(f.failures),
          f.latencySumMs,
          encodeHist(f.latencyHist),
          worst?.id ?? null,
          worst?.kind ?? null,
          worst?.cause ?? null,
        );
      }
    },

    /** Deletes up to `limit` hour rows older than `before` (ms); returns how many. */
    pruneHours(before: number, limit: number): number {
      return pruneHours.run(Math.floor(before / HOUR) * KEY_SPAN, limit).changes;
    },

    /** Deletes up to `limit` day rows older than `before` (ms); returns how many. */
    pruneDays(before: number, limit: number): number {
      return pruneDays.run(Math.floor(before / DAY) * KEY_SPAN, limit).changes;
    },

    /**
     * Looks at `limit` target keys after `cursor` and returns those whose site is gone, and the
     * cursor to go on from (0 once the end is reached): a bounded look per call, whatever the
     * number of targets.
     */
    orphanKeys(cursor: number, limit: number): { gone: number[]; next: number } {
      const rows = keysAfter.all(cursor, limit);
      return { gone: rows.filter((r) => r.gone).map((r) => r.id), next: rows.length < limit ? 0 : rows[rows.length - 1].id };
    },

    /**
     * Deletes the rows of one target key, one lookup per bucket from the oldest stored through
     * `now`, at most `maxBuckets` buckets from `cursor` (a bucket index, hours then days). Returns
     * the next cursor, or null when the key is gone.
     */
    removeKey(key: number, now: number, cursor: { hour: number | null; day: number | null }, maxBuckets: number) {
      let hour = cursor.hour ?? Math.floor((firstHourId.get()?.id ?? now / HOUR * KEY_SPAN) / KEY_SPAN);
      let day = cursor.day ?? Math.floor((firstDayId.get()?.id ?? now / DAY * KEY_SPAN) / KEY_SPAN);
      const lastHour = Math.floor(now / HOUR) + 2;
      const lastDay = Math.floor(now / DAY) + 1;
      let budget = maxBuckets;
      while (budget > 0 && hour <= lastHour) {
        deleteHourRow.run(hour * KEY_SPAN + key);
        hour++;
        budget--;
      }
      while (budget > 0 && day <= lastDay) {
        deleteDayRow.run(day * KEY_SPAN + key);
        day++;
        budget--;
      }
      if (hour > lastHour && day > lastDay) {
        deleteKey.run(key);
        checks.forgetKey(key);
        return null;
      }
      return { hour, day };
    },

    /**
     * Uptime, latency and failures of one target per hour or day over [from, to), oldest first.
     * Hours come from the hour rollups, or from the raw checks while an hour is not written yet
     * (the current one); days from the day rollups, or summed from hours for days not folded yet.
     * Hours that start after `now` have no checks yet: they read as empty, without a query.
     */
    uptimeSeries(siteId: number, opts: { from: number; to: number; granularity: 'hour' | 'day'; target?: string; now?: number }): UptimeBucket[] {
      const target = opts.target ?? 'site';
      const step = opts.granularity === 'hour' ? HOUR : DAY;
      const first = Math.floor(opts.from / step) * step;
      const reader = seriesReader(siteId, target, opts.now ?? Infinity, target === 'site' ? incidentsOf.all(siteId, opts.to, first) : []);
      return reader.buckets(first, opts.to, step);
    },

    /**
     * What a site's card shows: its last `days` days (today included) and its last 24 hours up to
     * `now`. One reader serves both, so an hour not written yet (the current one) is read from the
     * raw checks once, for the hour chart and for today's bar alike.
     */
    recentSeries(siteId: number, opts: { now: number; days: number }): { days: UptimeBucket[]; hours: UptimeBucket[] } {
      const today = Math.floor(opts.now / DAY) * DAY;
      const dayFrom = today - (opts.days - 1) * DAY;
      const hourFrom = Math.floor(opts.now / HOUR) * HOUR - 23 * HOUR;
      const reader = seriesReader(siteId, 'site', opts.now, incidentsOf.all(siteId, today + DAY, Math.min(dayFrom, hourFrom)));
      return { days: reader.buckets(dayFrom, today + DAY, DAY), hours: reader.buckets(hourFrom, hourFrom + 24 * HOUR, HOUR) };
    },

    /** Target keys of a site (for tests and cleanup). */
    keysOfSite(siteId: number) {
      return keysOfSite.all(siteId);
    },
  };
}

export type RollupsRepository = ReturnType<typeof createRollupsRepository>;

/**
 * One target's open hour in memory: what its hour row needs and nothing more, its row id being
 * the key it is found by. The general accumulator (site id, target text, bucket, a failures
 * object and a histogram array grown by push, under a key string) held about 500 B per target:
 * 10.5 MB at 10,000 sites x 2 targets. This shape holds about 200 B.
 */
interface OpenHour {
  count: number;
  ok: number;
  latencySumMs: number;
  /** Latency histogram, exactly as long as its highest bucket used (shared empty array at first: never written to). */
  hist: number[];
  /** Failed checks by outcome; null while there are none (nearly always). */
  failures: Partial<Record<Outcome, number>> | null;
}

const NO_HIST: readonly number[] = Object.freeze([]);

/** Counts one check into an open hour, in place. */
function countInto(acc: OpenHour, row: Pick<NewCheckRow, 'outcome' | 'ttfbMs' | 'totalMs'>): void {
  acc.count++;
  if (row.outcome === 'ok') acc.ok++;
  else (acc.failures ??= {})[row.outcome] = (acc.failures[row.outcome] ?? 0) + 1;
  const latency = latencyOf(row);
  if (latency === null) return;
  acc.latencySumMs += latency;
  const b = bucketOf(latency);
  let hist = acc.hist;
  if (hist.length <= b) {
    // Grown to the exact length (push would leave room for 16 more buckets in every array).
    const grown = new Array<number>(b + 1).fill(0);
    for (let i = 0; i < hist.length; i++) grown[i] = hist[i];
    acc.hist = hist = grown;
  }
  hist[b]++;
}

/**
 * The recorder's hour rollups: checks are summed in memory per (hour, target) and each hour is
 * written once it has closed (`graceMs` after its end, for rounds still finishing), in key
 * order, so rollups cost appends at the end of one B-tree once an hour instead of a read and a
 * random write per check. A check later than that is merged into the written row. Nothing is
 * lost on a stop: at start the last hour written and all after it are rebuilt from the raw checks
 * (kept RETENTION_RAW_HOURS, at least an hour).
 */
export function createHourRollups(
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
  // At an hour's close every target has a row to write: 500 per batch keep each batch's transaction to a few ms.
  const maxWrites = opts.maxWritesPerFlush ?? 500;
  /** Open hours by their row id (hour index * KEY_SPAN + target key). */
  const open = new Map<number, OpenHour>();
  let timer: NodeJS.Timeout | null = null;

  const closesAt = (id: number) => Math.floor(id / KEY_SPAN) * HOUR + HOUR + graceMs;
  /** When the earliest open hour may be written (its end plus the grace); Infinity with none open. */
  let nextClose = Infinity;
  const earliestClose = () => {
    let earliest = Infinity;
    for (const id of open.keys()) earliest = Math.min(earliest, closesAt(id));
    return earliest;
  };

  /** Counts checks into their open hours, in place (inside a transaction: a target seen for the first time gets its key). */
  const add = (rows: RollupCheck[]) => {
    for (const row of rows) {
      const id = Math.floor(row.startedAt / HOUR) * KEY_SPAN + repo.keyOf(row.siteId, row.target, true);
      let acc = open.get(id);
      if (!acc) {
        acc = { count: 0, ok: 0, latencySumMs: 0, hist: NO_HIST as number[], failures: null };
        open.set(id, acc);
        nextClose = Math.min(nextClose, closesAt(id));
      }
      countInto(acc, row);
    }
  };

  /**
   * Writes closed hours, oldest first, at most `max` rows; returns how many. Before the earliest
   * open hour closes it returns at once: it runs with every batch of checks, and a scan of every
   * open target per batch cost more than the batch's own rollup work at 10,000 sites.
   */
  const flush = (now: number, max: number) => {
    if (now < nextClose) return 0;
    const closed: number[] = [];
    for (const id of open.keys()) if (closesAt(id) <= now) closed.push(id);
    // Row id order is hour first, then target key: the order the table is written in.
    closed.sort((a, b) => a - b);
    const batch = closed.length > max ? closed.slice(0, max) : closed;
    if (batch.length > 0) {
      repo.writeHourRows(
        batch.map((id) => {
          const acc = open.get(id)!;
          return { id, count: acc.count, okCount: acc.ok, failures: acc.failures ?? {}, latencySumMs: acc.latencySumMs, latencyHist: acc.hist };
        }),
      );
    }
    for (const id of batch) open.delete(id);
    nextClose = earliestClose();
    return batch.length;
  };

  /** With no batch coming (a few slow sites), a timer writes closed hours all the same. */
  const arm = () => {
    if (timer || open.size === 0) return;
    const earliest = earliestClose();
    timer = setTimeout(
      () => {
        timer = null;
        if (!opts.isOpen()) return;
        const written = opts.transaction(() => flush(opts.clock.now(), maxWrites));
        if (written === maxWrites) setTimeout(arm, 10).unref();
        else arm();
      },
      Math.min(2 ** 31 - 1, Math.max(1000, earliest - opts.clock.now())),
    );
    timer.unref();
  };

  // An empty table (a new database): every raw check there is.
  opts.transaction(() => add(repo.reopenLastHours(0)));

  return {
    /** Adds checks and writes the hours that have closed (inside the caller's transaction). */
    record(rows: RollupCheck[], now: number): void {
      add(rows);
      flush(now, maxWrites);
      arm();
    },
    /** Writes every closed hour now (tests, and a stop). */
    flushClosed(now: number): number {
      let total = 0;
      for (;;) {
        const n = opts.transaction(() => flush(now, maxWrites));
        total += n;
        if (n < maxWrites) return total;
      }
    },
    /** Accumulators not written yet (for tests and the bench). */
    get pending(): number {
      return open.size;
    },
  };
}
