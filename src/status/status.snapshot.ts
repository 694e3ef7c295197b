import { settingsStore } from '../db/settings.table.js';
import { performance } from 'node:perf_hooks';
import type { CheckRow } from '../checks/checks.table.js';
import type { HourFigures } from '../checks/rollups.repository.js';
import { bucketOf, latencyOf, mergeHist, percentileOf, subtractHist, trimHist } from '../checks/rollups.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
import { appended, sameList } from '../shared/arrays.js';
import type { LiveHour } from './status.table.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const WINDOWS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;

/** One target's figures as status shows them. */
export interface TargetStatus {
  siteId: number;
  target: string;
  last: {
    checkId: number | null;
    at: number;
    outcome: Outcome;
    statusCode: number | null;
    errorMessage: string | null;
    addresses: string[];
    address: string | null;
    totalMs: number | null;
    ttfbMs: number | null;
  } | null;
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null };
  p50Ms24h: number | null;
  p95Ms24h: number | null;
  /** The last certificate an https check of the target saw (kept when a later check saw none). */
  cert: { expiresAt: number; issuer: string | null } | null;
}

/** The columns of a snapshot row that every read and write shares: the target and its last check. */
interface LastCheckColumns {
  site_id: number;
  target: string;
  last_check_id: number | null;
  last_at: number | null;
  last_outcome: Outcome | null;
  last_status_code: number | null;
  last_error_message: string | null;
  last_addresses: string | null;
  last_address: string | null;
  last_total_ms: number | null;
  last_ttfb_ms: number | null;
  cert_expires_at: number | null;
  cert_issuer: string | null;
}

interface Row extends LastCheckColumns {
  base_through: number;
  base_24h_count: number;
  base_24h_ok: number;
  base_7d_count: number;
  base_7d_ok: number;
  base_30d_count: number;
  base_30d_ok: number;
  base_24h_hist: string;
  live: string;
}

/** The base of a row: sums of the hour rollups of the full hours before `through`. */
interface Base {
  through: number;
  c24: number;
  ok24: number;
  c7: number;
  ok7: number;
  c30: number;
  ok30: number;
  hist24: number[];
}

const percent = (ok: number, count: number) => (count > 0 ? Math.round((ok / count) * 100_000) / 1000 : null);

/** Uptime and latency percentiles of base + live. */
function derive(base: Base, live: LiveHour[]) {
  let count = 0;
  let ok = 0;
  let hist = base.hist24;
  for (const h of live) {
    count += h.count;
    ok += h.ok;
    hist = mergeHist(hist, h.hist);
  }
  return {
    uptime24h: percent(base.ok24 + ok, base.c24 + count),
    uptime7d: percent(base.ok7 + ok, base.c7 + count),
    uptime30d: percent(base.ok30 + ok, base.c30 + count),
    p50: percentileOf(hist, 0.5),
    p95: percentileOf(hist, 0.95),
  };
}

/** An empty histogram: shared, never written to (growHist, mergeHist and subtractHist copy). */
const NO_HIST: readonly number[] = Object.freeze([]);
const histOrShared = (hist: number[]) => (hist.length === 0 ? (NO_HIST as number[]) : hist);

const emptyBase = (through: number): Base => ({ through, c24: 0, ok24: 0, c7: 0, ok7: 0, c30: 0, ok30: 0, hist24: NO_HIST as number[] });

/** The settings key holding the newest check id that the flushed rows include (rebuild replays the checks after it). */
export const SNAPSHOT_FLUSHED_KEY = 'status_snapshot_flushed_at';
/**
 * How often the changed entries are written to status_snapshot. At one check a minute per target
 * nearly every row changes between two flushes, so the bytes written scale with how often this
 * runs. A kill loses nothing: the start replays the raw checks after SNAPSHOT_FLUSHED_KEY, and
 * raw checks are kept at least an hour (RETENTION_RAW_HOURS >= 1), far longer than this gap.
 */
export const SNAPSHOT_FLUSH_EVERY_MS = 5 * 60_000;
/** The longest one slice of a flush holds the event loop (and the write lock). */
const FLUSH_SLICE_MS = 10;
/** Checks read at a time while rebuilding after a kill. */
const REPLAY_ROWS = 5000;

type Figures = ReturnType<typeof derive>;

/** One target's snapshot in memory, changed in place by `observe` and `rebase`. */
interface Entry {
  siteId: number;
  target: string;
  lastCheckId: number | null;
  lastAt: number | null;
  lastOutcome: Outcome | null;
  lastStatusCode: number | null;
  lastErrorMessage: string | null;
  lastAddresses: string[] | null;
  lastAddress: string | null;
  lastTotalMs: number | null;
  lastTtfbMs: number | null;
  certExpiresAt: number | null;
  certIssuer: string | null;
  base: Base;
  /** The hours since `base.through`, oldest first. */
  live: LiveHour[];
  /** Changed since it was last written. */
  dirty: boolean;
}

const entryOfRow = (r: Row): Entry => {
  const base: Base = {
    through: r.base_through,
    c24: r.base_24h_count,
    ok24: r.base_24h_ok,
    c7: r.base_7d_count,
    ok7: r.base_7d_ok,
    c30: r.base_30d_count,
    ok30: r.base_30d_ok,
    hist24: histOrShared(JSON.parse(r.base_24h_hist) as number[]),
  };
  return {
    siteId: r.site_id,
    target: r.target,
    lastCheckId: r.last_check_id,
    lastAt: r.last_at,
    lastOutcome: r.last_outcome,
    lastStatusCode: r.last_status_code,
    lastErrorMessage: r.last_error_message,
    lastAddresses: r.last_addresses ? (JSON.parse(r.last_addresses) as string[]) : null,
    lastAddress: r.last_address,
    lastTotalMs: r.last_total_ms,
    lastTtfbMs: r.last_ttfb_ms,
    certExpiresAt: r.cert_expires_at,
    certIssuer: r.cert_issuer,
    base,
    live: (JSON.parse(r.live) as LiveHour[]).filter((h) => h.hour >= base.through),
    dirty: false,
  };
};

const newEntry = (siteId: number, target: string): Entry => ({
  siteId,
  target,
  lastCheckId: null,
  lastAt: null,
  lastOutcome: null,
  lastStatusCode: null,
  lastErrorMessage: null,
  lastAddresses: null,
  lastAddress: null,
  lastTotalMs: null,
  lastTtfbMs: null,
  certExpiresAt: null,
  certIssuer: null,
  base: emptyBase(0),
  live: [],
  dirty: false,
});

/**
 * Uptime and percentiles, computed on each read: the status list keeps what it rendered, so an
 * entry is read about once per change, and a cached copy per target held ~2 MB at 10,000 sites.
 */
const figuresOf = (e: Entry): Figures => derive(e.base, e.live);

const toStatus = (e: Entry): TargetStatus => {
  const f = figuresOf(e);
  return {
    siteId: e.siteId,
    target: e.target,
    last:
      e.lastAt === null
        ? null
        : {
            checkId: e.lastCheckId,
            at: e.lastAt,
            outcome: e.lastOutcome!,
            statusCode: e.lastStatusCode,
            errorMessage: e.lastErrorMessage,
            addresses: e.lastAddresses ?? [],
            address: e.lastAddress,
            totalMs: e.lastTotalMs,
            ttfbMs: e.lastTtfbMs,
          },
    uptime: { '24h': f.uptime24h, '7d': f.uptime7d, '30d': f.uptime30d },
    p50Ms24h: f.p50,
    p95Ms24h: f.p95,
    cert: e.certExpiresAt === null ? null : { expiresAt: e.certExpiresAt, issuer: e.certIssuer },
  };
};

/** `hist` copied into an array of exactly `length` buckets. */
const growHist = (hist: readonly number[], length: number): number[] => {
  const grown = new Array<number>(length).fill(0);
  for (let i = 0; i < hist.length; i++) grown[i] = hist[i];
  return grown;
};

/** Adds one check to the hour it falls in (when the base does not hold that hour yet). */
function countCheck(e: Entry, c: CheckRow): void {
  const hour = c.startedAt - (c.startedAt % HOUR);
  if (hour < e.base.through) return;
  const live = e.live;
  let h: LiveHour | undefined;
  for (let i = live.length - 1; i >= 0; i--) {
    if (live[i].hour === hour) {
      h = live[i];
      break;
    }
  }
  if (!h) {
    h = { hour, count: 0, ok: 0, hist: NO_HIST as number[] };
    // A new array of the exact length (about once an hour).
    const grown = appended(live, h);
    if (grown.length > 1 && grown[grown.length - 2].hour > hour) grown.sort((a, b) => a.hour - b.hour);
    e.live = grown;
  }
  h.count++;
  if (c.outcome === 'ok') h.ok++;
  const latency = latencyOf(c);
  if (latency !== null) {
    const b = bucketOf(latency);
    // Grown to the exact length: push leaves room for 16 more buckets in every array.
    if (h.hist.length <= b) h.hist = growHist(h.hist, b + 1);
    h.hist[b]++;
  }
}

/**
 * The status snapshot: one entry per target (a site's url or an upstream), so that status costs
 * one entry per site however long the history. It lives in memory, created once by service.ts
 * and shared: the recorder calls `observe` with every stored check; housekeeping calls `rebase`
 * when it has folded an hour into the hour rollups and `flush` every SNAPSHOT_FLUSH_EVERY_MS and
 * at stop; status reads it with `forSite` and `target`.
 *
 * status_snapshot holds a copy written in key order by `flush` every SNAPSHOT_FLUSH_EVERY_MS
 * (sequential pages instead of a random page per check), plus a certificate change at once
 * (metrics and the certificate code read those dates from the table). After a kill, the entries
 * are rebuilt from the rows plus the checks stored after the id in SNAPSHOT_FLUSHED_KEY; a row
 * already holding a check (its last_check_id) does not count it twice.
 */
export function createStatusSnapshot(db: Db, checks: Pick<ChecksRepository, 'since'>) {
  const sqlite = db.$client;
  /** Each site's entries (its url, then its upstreams as first seen): an array, as a Map per site cost ~150 B more. */
  const bySite = new Map<number, Entry[]>();
  let dirty: Entry[] = [];
  const listeners: ((siteId: number) => void)[] = [];
  /** The newest check id observed (every check up to it is in the entries). */
  let observedId = 0;
  let flushing: Promise<void> | null = null;

  const upsert = sqlite.prepare(
    `INSERT INTO status_snapshot (site_id, target, last_check_id, last_at, last_outcome, last_status_code, last_error_message,
       last_addresses, last_address, last_total_ms, last_ttfb_ms, base_through, base_24h_count, base_24h_ok, base_7d_count, base_7d_ok,
       base_30d_count, base_30d_ok, base_24h_hist, live, uptime_24h, uptime_7d, uptime_30d, p50_ms_24h, p95_ms_24h,
       cert_expires_at, cert_issuer)
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sites WHERE id = ?)
     ON CONFLICT (site_id, target) DO UPDATE SET
       last_check_id = excluded.last_check_id, last_at = excluded.last_at, last_outcome = excluded.last_outcome,
       last_status_code = excluded.last_status_code, last_error_message = excluded.last_error_message,
       last_addresses = excluded.last_addresses, last_address = excluded.last_address, last_total_ms = excluded.last_total_ms,
       last_ttfb_ms = excluded.last_ttfb_ms, base_through = excluded.base_through, base_24h_count = excluded.base_24h_count,
       base_24h_ok = excluded.base_24h_ok, base_7d_count = excluded.base_7d_count, base_7d_ok = excluded.base_7d_ok,
       base_30d_count = excluded.base_30d_count, base_30d_ok = excluded.base_30d_ok, base_24h_hist = excluded.base_24h_hist,
       live = excluded.live, uptime_24h = excluded.uptime_24h, uptime_7d = excluded.uptime_7d, uptime_30d = excluded.uptime_30d,
       p50_ms_24h = excluded.p50_ms_24h, p95_ms_24h = excluded.p95_ms_24h, cert_issuer = excluded.cert_issuer,
       cert_expires_at = excluded.cert_expires_at`,
  );
  const readAll = sqlite.prepare<[], Row>(
    `SELECT site_id, target, last_check_id, last_at, last_outcome, last_status_code, last_error_message, last_addresses,
       last_address, last_total_ms, last_ttfb_ms, cert_expires_at, cert_issuer, base_through, base_24h_count, base_24h_ok,
       base_7d_count, base_7d_ok, base_30d_count, base_30d_ok, base_24h_hist, live
     FROM status_snapshot ORDER BY site_id, target`,
  );
  const targetsOf = sqlite.prepare<[number, number], { site_id: number; target: string }>(
    'SELECT site_id, target FROM status_snapshot WHERE site_id >= ? AND site_id <= ?',
  );
  const remove = sqlite.prepare('DELETE FROM status_snapshot WHERE site_id = ? AND target = ?');
  const settings = settingsStore(sqlite);

  const get = (siteId: number, target: string) => bySite.get(siteId)?.find((e) => e.target === target);
  const add = (e: Entry) => {
    const targets = bySite.get(e.siteId);
    if (!targets) bySite.set(e.siteId, [e]);
    else {
      const at = targets.findIndex((t) => t.target === e.target);
      if (at >= 0) targets[at] = e;
      else bySite.set(e.siteId, appended(targets, e));
    }
  };
  const drop = (siteId: number, target: string) => {
    const targets = bySite.get(siteId);
    if (!targets) return;
    const at = targets.findIndex((t) => t.target === target);
    if (at >= 0) targets.splice(at, 1);
    if (targets.length === 0) bySite.delete(siteId);
  };
  const changed = (e: Entry) => {
    if (!e.dirty) {
      e.dirty = true;
      dirty.push(e);
    }
    for (const fn of listeners) fn(e.siteId);
  };

  /** Writes one entry's row; false when its site is gone (the entry goes too). */
  const write = (e: Entry): boolean => {
    const f = figuresOf(e);
    const b = e.base;
    e.dirty = false;
    const written = upsert.run(
      e.siteId,
      e.target,
      e.lastCheckId,
      e.lastAt,
      e.lastOutcome,
      e.lastStatusCode,
      e.lastErrorMessage,
      e.lastAddresses ? JSON.stringify(e.lastAddresses) : null,
      e.lastAddress,
      e.lastTotalMs,
      e.lastTtfbMs,
      b.through,
      b.c24,
      b.ok24,
      b.c7,
      b.ok7,
      b.c30,
      b.ok30,
      JSON.stringify(b.hist24),
      JSON.stringify(e.live),
      f.uptime24h,
      f.uptime7d,
      f.uptime30d,
      f.p50,
      f.p95,
      e.certExpiresAt,
      e.certIssuer,
      e.siteId,
    ).changes;
    if (written === 0) drop(e.siteId, e.target);
    return written > 0;
  };

  /** Counts one check; `replay` (rebuild) skips a check its row already holds. */
  const observeOne = (c: CheckRow, replay: boolean): void => {
    let e = get(c.siteId, c.target);
    if (replay && e && e.lastCheckId !== null && c.id <= e.lastCheckId) return;
    if (!e) add((e = newEntry(c.siteId, c.target)));
    if (c.id > observedId) observedId = c.id;
    countCheck(e, c);
    let certChanged = false;
    if (e.lastAt === null || c.startedAt >= e.lastAt) {
      e.lastCheckId = c.id;
      e.lastAt = c.startedAt;
      e.lastOutcome = c.outcome;
      e.lastStatusCode = c.statusCode;
      e.lastErrorMessage = c.errorMessage;
      // The same addresses as before (nearly every check): the entry keeps its own array, not the
      // check's (built with push: room for 16 more, ~150 B a target); a new list is copied to its length.
      const addresses = sameList(e.lastAddresses, c.addresses) ? e.lastAddresses! : c.addresses.slice();
      e.lastAddresses = addresses;
      e.lastAddress = c.address === null ? null : (addresses.find((a) => a === c.address) ?? c.address);
      e.lastTotalMs = c.totalMs;
      e.lastTtfbMs = c.ttfbMs;
      const expiresAt = c.certExpiresAt ?? null;
      if (expiresAt !== null && (expiresAt !== e.certExpiresAt || (c.certIssuer ?? null) !== e.certIssuer)) {
        e.certExpiresAt = expiresAt;
        e.certIssuer = c.certIssuer ?? null;
        certChanged = true;
      }
    }
    changed(e);
    // Metrics and the certificate watch read the dates from the table.
    if (certChanged && !replay) write(e);
  };

  /** Writes the entries changed before the call, in key order, in slices of about FLUSH_SLICE_MS. */
  const flushNow = async (pause: (() => Promise<void>) | null): Promise<void> => {
    const through = observedId;
    const batch = dirty;
    dirty = [];
    batch.sort((a, b) => a.siteId - b.siteId || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
    let i = 0;
    while (i < batch.length) {
      if (!sqlite.open) return;
      const t0 = performance.now();
      sqlite.transaction(() => {
        do {
          const e = batch[i++];
          // Changed again meanwhile and queued anew, or written at once since: either way current.
          if (e.dirty) write(e);
        } while (i < batch.length && (pause === null || performance.now() - t0 < FLUSH_SLICE_MS));
      })();
      if (pause && i < batch.length) await pause();
    }
    if (sqlite.open) settings.set(SNAPSHOT_FLUSHED_KEY, through);
  };

  // Start: the rows, then the checks stored since the last flush (a kill loses none of them).
  for (const r of readAll.all()) {
    const e = entryOfRow(r);
    add(e);
    if (e.lastCheckId !== null && e.lastCheckId > observedId) observedId = e.lastCheckId;
  }
  const mark = settings.get(SNAPSHOT_FLUSHED_KEY);
  let replayed = 0;
  if (!mark) {
    // Never flushed: a new database, or one whose rows the recorder kept current itself (before
    // 0.3). Either way the rows hold every check stored so far, so the mark starts there; without
    // it, a kill before the first flush would replay nothing and lose those checks' figures.
    const top = sqlite.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM raw_checks').get()?.id ?? 0;
    settings.set(SNAPSHOT_FLUSHED_KEY, top);
  } else {
    let after = Number(mark);
    for (;;) {
      const rows = checks.since(0, after, REPLAY_ROWS);
      for (const c of rows) observeOne(c, true);
      replayed += rows.length;
      if (rows.length < REPLAY_ROWS) break;
      after = rows[rows.length - 1].id;
    }
  }

  return {
    /** Checks counted at start that the flushed rows did not hold yet (after a kill). */
    replayed,

    /** Adds stored checks (inside the recorder's transaction): last check, live hour counts; a new certificate is written at once. */
    observe(rows: CheckRow[]): void {
      for (const c of rows) observeOne(c, false);
    },

    /** Calls `fn(siteId)` whenever an entry of that site changes (the status list's cache). */
    onChange(fn: (siteId: number) => void): void {
      listeners.push(fn);
    },

    /**
     * Writes the changed entries to status_snapshot in key order, yielding between slices with
     * `pause` (none: all at once, as at stop), then moves SNAPSHOT_FLUSHED_KEY. One at a time.
     */
    async flush(pause: (() => Promise<void>) | null = null): Promise<void> {
      if (flushing && pause) return flushing;
      if (flushing) await flushing;
      flushing = flushNow(pause).finally(() => (flushing = null));
      return flushing;
    },

    /**
     * Moves one target's base to cover the full hours before `through` (= `hour` + 1 h, the hour
     * housekeeping has just folded). One hour forward is incremental: add `hour`, drop the hour
     * that leaves each window. Anything else (a new entry, a gap) sums the hour rollups again.
     * `hourOf(bucket)` reads one hour rollup; `hoursOf(from, to, histFrom)` several.
     */
    rebase(
      siteId: number,
      target: string,
      hour: number,
      rollups: { hour(bucket: number): HourFigures | null; hours(from: number, to: number, histFrom: number): HourFigures[] },
    ): void {
      const through = hour + HOUR;
      const e = get(siteId, target);
      if (!e || e.base.through >= through) return;
      let base: Base;
      if (e.base.through === hour) {
        base = e.base;
        base.through = through;
        const added = rollups.hour(hour);
        if (added) {
          base.c24 += added.count;
          base.ok24 += added.okCount;
          base.c7 += added.count;
          base.ok7 += added.okCount;
          base.c30 += added.count;
          base.ok30 += added.okCount;
          base.hist24 = mergeHist(base.hist24, added.latencyHist);
        }
        const left24 = rollups.hour(hour - WINDOWS['24h']);
        if (left24) {
          base.c24 -= left24.count;
          base.ok24 -= left24.okCount;
          base.hist24 = subtractHist(base.hist24, left24.latencyHist);
        }
        const left7 = rollups.hour(hour - WINDOWS['7d']);
        if (left7) {
          base.c7 -= left7.count;
          base.ok7 -= left7.okCount;
        }
        const left30 = rollups.hour(hour - WINDOWS['30d']);
        if (left30) {
          base.c30 -= left30.count;
          base.ok30 -= left30.okCount;
        }
      } else {
        base = emptyBase(through);
        for (const h of rollups.hours(through - WINDOWS['30d'], through, through - WINDOWS['24h'])) {
          base.c30 += h.count;
          base.ok30 += h.okCount;
          if (h.bucket >= through - WINDOWS['7d']) {
            base.c7 += h.count;
            base.ok7 += h.okCount;
          }
          if (h.bucket >= through - WINDOWS['24h']) {
            base.c24 += h.count;
            base.ok24 += h.okCount;
            base.hist24 = mergeHist(base.hist24, h.latencyHist);
          }
        }
      }
      base.hist24 = histOrShared(trimHist(base.hist24));
      e.base = base;
      e.live = e.live.filter((h) => h.hour >= through);
      changed(e);
    },

    /** Drops entries (and rows) of sites `fromId..toId` whose target is no longer one of `keep` (a removed upstream). */
    dropStale(fromId: number, toId: number, keep: (siteId: number, target: string) => boolean): void {
      for (const r of targetsOf.all(fromId, toId)) if (!keep(r.site_id, r.target)) remove.run(r.site_id, r.target);
      for (const [siteId, targets] of bySite) {
        if (siteId < fromId || siteId > toId) continue;
        for (const { target } of [...targets]) if (!keep(siteId, target)) drop(siteId, target);
      }
    },

    /** Forgets a deleted site (its rows went with it). */
    forgetSite(siteId: number): void {
      bySite.delete(siteId);
    },

    /** One target's figures, if it has been checked. */
    target(siteId: number, target: string): TargetStatus | undefined {
      const e = get(siteId, target);
      return e ? toStatus(e) : undefined;
    },

    /** Every target's figures of one site, by target. */
    forSite(siteId: number): Map<string, TargetStatus> {
      const out = new Map<string, TargetStatus>();
      for (const e of bySite.get(siteId) ?? []) out.set(e.target, toStatus(e));
      return out;
    },
  };
}

export type StatusSnapshot = ReturnType<typeof createStatusSnapshot>;
