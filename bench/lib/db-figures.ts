/**
 * How big the database is, table by table (dbstat), and the steady-state size projected from the
 * bytes per row it measures: the projection that `npm run bench` reports (bench/run.ts), shared
 * with bench/prune-week.ts, which checks it against a database pruned for a simulated week.
 */
import type Database from 'better-sqlite3';
import { round } from './stats.js';

export interface TableSize {
  bytes: number;
  rows: number;
  bytesPerRow: number | null;
}

/** Each table with its indexes: bytes (dbstat, pages in use), rows and bytes per row. */
export function tableSizes(sqlite: Database.Database): Record<string, TableSize> {
  const objects = sqlite.prepare("SELECT name, tbl_name AS tbl FROM sqlite_master WHERE type IN ('table','index')").all() as { name: string; tbl: string }[];
  const sizes = new Map((sqlite.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]).map((r) => [r.name, r.bytes]));
  const byTable: Record<string, TableSize> = {};
  for (const { name, tbl } of objects) {
    const entry = (byTable[tbl] ??= { bytes: 0, rows: 0, bytesPerRow: null });
    entry.bytes += sizes.get(name) ?? 0;
  }
  for (const [tbl, entry] of Object.entries(byTable)) {
    if (tbl.startsWith('sqlite_') || tbl.startsWith('__')) continue;
    entry.rows = (sqlite.prepare(`SELECT COUNT(*) AS n FROM "${tbl}"`).get() as { n: number }).n;
    entry.bytesPerRow = entry.rows ? round(entry.bytes / entry.rows, 1) : null;
  }
  return byTable;
}

/** Sizes after a checkpoint: the file, each table with its indexes, bytes per row; a projection to steady state. */
export function dbFigures(sqlite: Database.Database, p: { sites: number; intervalS: number; targetsPerRound: number }) {
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
  const pages = sqlite.pragma('page_count', { simple: true }) as number;
  const byTable = tableSizes(sqlite);
  // A raw check costs its raw_checks row plus its share of a check_chunks row, which lists the
  // rowids of one target's checks in a 10-minute chunk. The window's chunks are young (partly
  // filled, or still in memory), so a full chunk is modelled from what the stored ones show: the
  // row's own cost plus the bytes of one listed id, times the checks a chunk holds at this interval.
  // check_details rows are shared by a target's checks while their strings do not change: they
  // are counted per site below, as what a target keeps whatever its history.
  const checks = byTable.raw_checks?.rows ?? 0;
  const rawRowBytes = byTable.raw_checks?.bytesPerRow ?? 0;
  const chunkText = sqlite
    .prepare("SELECT COUNT(*) AS n, SUM(length(ids)) AS chars, SUM(length(ids) - length(replace(ids, ',', '')) + 1) AS ids FROM check_chunks")
    .get() as { n: number; chars: number | null; ids: number | null };
  const bytesPerId = chunkText.ids ? chunkText.chars! / chunkText.ids : 6;
  const chunkRowOverhead = chunkText.n ? Math.max(0, (byTable.check_chunks?.bytes ?? 0) / chunkText.n - chunkText.chars! / chunkText.n) : 16;
  const checksPerChunk = Math.max(1, 600 / p.intervalS);
  const perCheck = round(rawRowBytes + (chunkRowOverhead + checksPerChunk * bytesPerId) / checksPerChunk, 1) ?? 0;
  const perHourRow = byTable.rollup_hours?.bytesPerRow ?? 0;
  const perDayRow = byTable.rollup_days?.bytesPerRow ?? 0;
  // What does not grow with time: a site's row, its upstreams, each target's snapshot, key and
  // check details (the dictionary of strings its checks share).
  const perSite = ['sites', 'upstreams', 'status_snapshot', 'rollup_targets', 'check_details'].reduce((a, t) => a + (byTable[t]?.bytes ?? 0), 0) / Math.max(1, p.sites);
  // Steady state under the default retention: raw checks 48 h, hour rollups 90 days, day rollups 730 days.
  const project = (sitesN: number) => {
    const targets = sitesN * p.targetsPerRound;
    const rawRows = (targets * 48 * 3600) / p.intervalS;
    const hourRows = targets * 90 * 24 * Math.min(1, 3600 / p.intervalS);
    const dayRows = targets * 730;
    const fixed = sitesN * perSite;
    return {
      sites: sitesN,
      rawChecksGB: round((rawRows * perCheck) / 1e9, 2),
      hourRollupsGB: round((hourRows * perHourRow) / 1e9, 2),
      dayRollupsGB: round((dayRows * perDayRow) / 1e9, 2),
      fixedGB: round(fixed / 1e9, 3),
      totalGB: round((rawRows * perCheck + hourRows * perHourRow + dayRows * perDayRow + fixed) / 1e9, 2),
      /** The same parts in bytes, unrounded (a small fleet's parts round to 0 GB). */
      bytes: { raw: Math.round(rawRows * perCheck), hours: Math.round(hourRows * perHourRow), days: Math.round(dayRows * perDayRow), fixed: Math.round(fixed) },
    };
  };
  return {
    fileBytes: pageSize * pages,
    checks,
    bytesPerCheck: checks ? round((pageSize * pages) / checks, 1) : null,
    checkRowBytes: perCheck,
    chunkModel: { bytesPerId: round(bytesPerId, 1), chunkRowOverhead: round(chunkRowOverhead, 1), checksPerChunk },
    tables: byTable,
    steadyState: [project(p.sites), ...(p.sites === 10_000 ? [] : [project(10_000)])],
  };
}

