import type { Db } from '../db/client.js';
import type { Outcome } from '../probes/probes.types.js';
import { HOUR, KEY_SPAN, createRollupsRepository } from './rollups.repository.js';
import type { ChecksRepository } from './checks.repository.js';
import { decodeFailures, encodeFailures, encodeHist, decodeHist, mergeFailures, mergeHist } from './rollups.js';

/** Same key as status.service.ts's HOUR_WATERMARK_KEY: the old hour rollups cover the hours before it. */
const HOUR_WATERMARK_KEY = 'rollup_hour_watermark';

interface OldRow {
  rowid: number;
  site_id: number;
  target: string;
  bucket: number;
  count: number;
  ok_count: number;
  failures: string;
  latency_sum_ms: number;
  latency_hist: string;
}

export interface UpgradeReport {
  hourRows: number;
  minuteRows: number;
  batches: number;
}

/**
 * The data step of the upgrade from 0.1 (rollups_minute + rollups_hour) to rollup_hours: moves
 * every old hour rollup, and the minute rollups of the hours not folded yet (at or after the old
 * watermark), into rollup_hours, then empties the old tables. One transaction per `batch` old
 * rows, deleting what it moved, so a stop halfway resumes where it was and nothing is counted
 * twice. Re-running it on an upgraded database does nothing.
 */
export function upgradeRollups(db: Db, checks: ChecksRepository, opts: { batch?: number; afterBatch?: () => void } = {}): UpgradeReport {
  const batch = opts.batch ?? 5000;
  const sqlite = db.$client;
  const report: UpgradeReport = { hourRows: 0, minuteRows: 0, batches: 0 };
  const has = (table: string) => sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  if (!has('rollups_hour') && !has('rollups_minute')) return report;
  const repo = createRollupsRepository(db, checks);
  const get = sqlite.prepare<[number], { count: number; ok: number; fail: string | null; lat_sum: number; hist: Buffer | null }>(
    'SELECT count, ok, fail, lat_sum, hist FROM rollup_hours WHERE id = ?',
  );
  const put = sqlite.prepare('INSERT OR REPLACE INTO rollup_hours (id, count, ok, fail, lat_sum, hist) VALUES (?, ?, ?, ?, ?, ?)');
  const mark = Number((sqlite.prepare('SELECT value FROM settings WHERE key = ?').get(HOUR_WATERMARK_KEY) as { value: string } | undefined)?.value ?? 0);

  /** Adds an old row's figures to the new hour row (created if missing). */
  const merge = (r: OldRow, hour: number) => {
    const id = (hour / HOUR) * KEY_SPAN + repo.keyOf(r.site_id, r.target, true);
    const have = get.get(id);
    const failures = mergeFailures(decodeFailures(have?.fail ?? null), JSON.parse(r.failures) as Partial<Record<Outcome, number>>);
    const hist = mergeHist(decodeHist(have?.hist ?? null), JSON.parse(r.latency_hist) as number[]);
    put.run(id, (have?.count ?? 0) + r.count, (have?.ok ?? 0) + r.ok_count, encodeFailures(failures), (have?.lat_sum ?? 0) + r.latency_sum_ms, encodeHist(hist));
  };

  const drain = (table: string, onRow: (r: OldRow) => void) => {
    const read = sqlite.prepare<[number], OldRow>(`SELECT rowid, * FROM ${table} ORDER BY rowid LIMIT ?`);
    const remove = sqlite.prepare(`DELETE FROM ${table} WHERE rowid <= ?`);
    for (;;) {
      const rows = sqlite.transaction(() => {
        const list = read.all(batch);
        for (const r of list) onRow(r);
        if (list.length) remove.run(list[list.length - 1].rowid);
        return list.length;
      })();
      if (rows === 0) return;
      report.batches++;
      opts.afterBatch?.();
      if (rows < batch) return;
    }
  };

  if (has('rollups_hour')) {
    drain('rollups_hour', (r) => {
      merge(r, r.bucket);
      report.hourRows++;
    });
  }
  if (has('rollups_minute')) {
    drain('rollups_minute', (r) => {
      // Minutes before the watermark were folded into the old hour rows already.
      if (r.bucket < mark) return;
      merge(r, Math.floor(r.bucket / HOUR) * HOUR);
      report.minuteRows++;
    });
  }
  return report;
}
