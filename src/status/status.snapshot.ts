import type { CheckRow } from '../checks/checks.table.js';
import type { HourFigures } from '../checks/rollups.repository.js';
import { bucketOf, latencyOf, mergeHist, percentileOf, subtractHist, trimHist } from '../checks/rollups.js';
import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
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

/** The window columns of a snapshot row, in the order both write statements bind them. */
const windowParams = (base: Base, live: LiveHour[], d: ReturnType<typeof derive>) => [
  base.through,
  base.c24,
  base.ok24,
  base.c7,
  base.ok7,
  base.c30,
  base.ok30,
  JSON.stringify(base.hist24),
  JSON.stringify(live),
  d.uptime24h,
  d.uptime7d,
  d.uptime30d,
  d.p50,
  d.p95,
];

const baseOf = (r: Row): Base => ({
  through: r.base_through,
  c24: r.base_24h_count,
  ok24: r.base_24h_ok,
  c7: r.base_7d_count,
  ok7: r.base_7d_ok,
  c30: r.base_30d_count,
  ok30: r.base_30d_ok,
  hist24: JSON.parse(r.base_24h_hist) as number[],
});

const emptyBase = (through: number): Base => ({ through, c24: 0, ok24: 0, c7: 0, ok7: 0, c30: 0, ok30: 0, hist24: [] });

const SELECT_COLUMNS = `site_id, target, last_check_id, last_at, last_outcome, last_status_code, last_error_message, last_addresses,
  last_address, last_total_ms, last_ttfb_ms, cert_expires_at, cert_issuer, base_through, base_24h_count, base_24h_ok, base_7d_count, base_7d_ok, base_30d_count,
  base_30d_ok, base_24h_hist, live`;

const READ_COLUMNS = `site_id, target, last_check_id, last_at, last_outcome, last_status_code, last_error_message, last_addresses,
  last_address, last_total_ms, last_ttfb_ms, cert_expires_at, cert_issuer, uptime_24h, uptime_7d, uptime_30d, p50_ms_24h, p95_ms_24h`;

interface ReadRow extends LastCheckColumns {
  uptime_24h: number | null;
  uptime_7d: number | null;
  uptime_30d: number | null;
  p50_ms_24h: number | null;
  p95_ms_24h: number | null;
}

const toStatus = (r: ReadRow): TargetStatus => ({
  siteId: r.site_id,
  target: r.target,
  last:
    r.last_at === null
      ? null
      : {
          checkId: r.last_check_id,
          at: r.last_at,
          outcome: r.last_outcome!,
          statusCode: r.last_status_code,
          errorMessage: r.last_error_message,
          addresses: r.last_addresses ? (JSON.parse(r.last_addresses) as string[]) : [],
          address: r.last_address,
          totalMs: r.last_total_ms,
          ttfbMs: r.last_ttfb_ms,
        },
  uptime: { '24h': r.uptime_24h, '7d': r.uptime_7d, '30d': r.uptime_30d },
  p50Ms24h: r.p50_ms_24h,
  p95Ms24h: r.p95_ms_24h,
  cert: r.cert_expires_at === null ? null : { expiresAt: r.cert_expires_at, issuer: r.cert_issuer },
});

/**
 * The status snapshot (status.table.ts): one row per target, so that status costs one row per
 * site however long the history and however many sites. The recorder calls `observe` with every
 * stored check (in its transaction); housekeeping calls `rebase` for each target when it has
 * folded an hour into the hour rollups; status reads one site's targets with `forSite` (the list renders its entries in SQL).
 */
export function createStatusSnapshot(db: Db) {
  const sqlite = db.$client;
  const getRow = sqlite.prepare<[number, string], Row>(`SELECT ${SELECT_COLUMNS} FROM status_snapshot WHERE site_id = ? AND target = ?`);
  const upsert = sqlite.prepare(
    `INSERT INTO status_snapshot (site_id, target, last_check_id, last_at, last_outcome, last_status_code, last_error_message,
       last_addresses, last_address, last_total_ms, last_ttfb_ms, base_through, base_24h_count, base_24h_ok, base_7d_count, base_7d_ok,
       base_30d_count, base_30d_ok, base_24h_hist, live, uptime_24h, uptime_7d, uptime_30d, p50_ms_24h, p95_ms_24h,
       cert_expires_at, cert_issuer)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (site_id, target) DO UPDATE SET
       last_check_id = excluded.last_check_id, last_at = excluded.last_at, last_outcome = excluded.last_outcome,
       last_status_code = excluded.last_status_code, last_error_message = excluded.last_error_message,
       last_addresses = excluded.last_addresses, last_address = excluded.last_address, last_total_ms = excluded.last_total_ms,
       last_ttfb_ms = excluded.last_ttfb_ms, base_through = excluded.base_through, base_24h_count = excluded.base_24h_count,
       base_24h_ok = excluded.base_24h_ok, base_7d_count = excluded.base_7d_count, base_7d_ok = excluded.base_7d_ok,
       base_30d_count = excluded.base_30d_count, base_30d_ok = excluded.base_30d_ok, base_24h_hist = excluded.base_24h_hist,
       live = excluded.live, uptime_24h = excluded.uptime_24h, uptime_7d = excluded.uptime_7d, uptime_30d = excluded.uptime_30d,
       p50_ms_24h = excluded.p50_ms_24h, p95_ms_24h = excluded.p95_ms_24h,
       cert_issuer = CASE WHEN excluded.cert_expires_at IS NULL THEN cert_issuer ELSE excluded.cert_issuer END,
       cert_expires_at = COALESCE(excluded.cert_expires_at, cert_expires_at)`,
  );
  const updateBase = sqlite.prepare(
    `UPDATE status_snapshot SET base_through = ?, base_24h_count = ?, base_24h_ok = ?, base_7d_count = ?, base_7d_ok = ?,
       base_30d_count = ?, base_30d_ok = ?, base_24h_hist = ?, live = ?, uptime_24h = ?, uptime_7d = ?, uptime_30d = ?,
       p50_ms_24h = ?, p95_ms_24h = ? WHERE site_id = ? AND target = ?`,
  );
  const readSite = sqlite.prepare<[number], ReadRow>(`SELECT ${READ_COLUMNS} FROM status_snapshot WHERE site_id = ?`);
  const targetsOf = sqlite.prepare<[number, number], { site_id: number; target: string }>(
    'SELECT site_id, target FROM status_snapshot WHERE site_id >= ? AND site_id <= ?',
  );
  const remove = sqlite.prepare('DELETE FROM status_snapshot WHERE site_id = ? AND target = ?');

  return {
    /** Adds stored checks (inside the recorder's transaction): last check, live hour counts, derived figures. */
    observe(checks: CheckRow[]): void {
      for (const c of checks) {
        const row = getRow.get(c.siteId, c.target);
        const base = row ? baseOf(row) : emptyBase(0);
        const live = row ? (JSON.parse(row.live) as LiveHour[]).filter((h) => h.hour >= base.through) : [];
        const hour = Math.floor(c.startedAt / HOUR) * HOUR;
        if (hour >= base.through) {
          let h = live.find((x) => x.hour === hour);
          if (!h) {
            h = { hour, count: 0, ok: 0, hist: [] };
            live.push(h);
            live.sort((a, b) => a.hour - b.hour);
          }
          h.count++;
          if (c.outcome === 'ok') h.ok++;
          const latency = latencyOf(c);
          if (latency !== null) {
            const b = bucketOf(latency);
            while (h.hist.length <= b) h.hist.push(0);
            h.hist[b]++;
          }
        }
        const newer = !row || row.last_at === null || c.startedAt >= row.last_at;
        const d = derive(base, live);
        upsert.run(
          c.siteId,
          c.target,
          newer ? c.id : row!.last_check_id,
          newer ? c.startedAt : row!.last_at,
          newer ? c.outcome : row!.last_outcome,
          newer ? c.statusCode : row!.last_status_code,
          newer ? c.errorMessage : row!.last_error_message,
          newer ? JSON.stringify(c.addresses) : row!.last_addresses,
          newer ? c.address : row!.last_address,
          newer ? c.totalMs : row!.last_total_ms,
          newer ? c.ttfbMs : row!.last_ttfb_ms,
          ...windowParams(base, live, d),
          newer ? (c.certExpiresAt ?? null) : null,
          newer ? (c.certIssuer ?? null) : null,
        );
      }
    },

    /**
     * Moves one target's base to cover the full hours before `through` (= `hour` + 1 h, the hour
     * housekeeping has just folded). One hour forward is incremental: add `hour`, drop the hour
     * that leaves each window. Anything else (a new row, a gap) sums the hour rollups again.
     * `hourOf(bucket)` reads one hour rollup; `hoursOf(from, to, histFrom)` several.
     */
    rebase(
      siteId: number,
      target: string,
      hour: number,
      rollups: { hour(bucket: number): HourFigures | null; hours(from: number, to: number, histFrom: number): HourFigures[] },
    ): void {
      const through = hour + HOUR;
      const row = getRow.get(siteId, target);
      if (!row || row.base_through >= through) return;
      let base: Base;
      if (row.base_through === hour) {
        base = baseOf(row);
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
      base.hist24 = trimHist(base.hist24);
      const live = (JSON.parse(row.live) as LiveHour[]).filter((h) => h.hour >= through);
      const d = derive(base, live);
      updateBase.run(
        ...windowParams(base, live, d),
        siteId,
        target,
      );
    },

    /** Drops rows of sites `fromId..toId` whose target is no longer one of `keep` (a removed upstream). */
    dropStale(fromId: number, toId: number, keep: (siteId: number, target: string) => boolean): void {
      for (const r of targetsOf.all(fromId, toId)) if (!keep(r.site_id, r.target)) remove.run(r.site_id, r.target);
    },

    /** Every target's figures of one site, by target. */
    forSite(siteId: number): Map<string, TargetStatus> {
      return new Map(readSite.all(siteId).map((r) => [r.target, toStatus(r)]));
    },
  };
}

export type StatusSnapshot = ReturnType<typeof createStatusSnapshot>;
