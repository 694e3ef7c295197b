/**
 * Puts the database in the state it has every minute at steady state, as far as housekeeping
 * is concerned: raw checks that cross the RETENTION_RAW_HOURS line at the rate they are written,
 * spread over the warm-up and the window, and hour and day rollups on both sides of their
 * retention lines (90 and 730 days). So the window pays for pruning what it would prune on a
 * machine that has run for years, and the rollup tables hold real rows to measure bytes per row.
 */
import { createChecksRepository } from '../../src/checks/checks.repository.js';
import type { NewCheckRow } from '../../src/checks/checks.table.js';
import { createRollupsRepository, DAY, HOUR, KEY_SPAN } from '../../src/checks/rollups.repository.js';
import type { Db } from '../../src/db/client.js';
import { rollupVariants } from './fleet.js';

export interface PrefillReport {
  checks: number;
  hourRollups: number;
  dayRollups: number;
  ms: number;
}

export function prefill(
  db: Db,
  p: { sites: number; intervalS: number; targetsPerRound: number; windowS: number; now: number; retentionRawHours?: number; retentionHourlyDays?: number; retentionDailyDays?: number },
): PrefillReport {
  const t0 = Date.now();
  const sqlite = db.$client;
  const raw = createChecksRepository(db);
  const rollups = createRollupsRepository(db, raw);
  const ids = (sqlite.prepare('SELECT id FROM sites ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  const upstreamsOf = new Map<number, number[]>();
  for (const r of sqlite.prepare('SELECT id, site_id AS siteId FROM upstreams ORDER BY site_id, position').all() as { id: number; siteId: number }[]) {
    const list = upstreamsOf.get(r.siteId) ?? [];
    list.push(r.id);
    upstreamsOf.set(r.siteId, list);
  }
  const check = (siteId: number, target: string, targetName: string, startedAt: number): NewCheckRow => ({
    siteId, target, targetName, startedAt, outcome: 'ok', statusCode: 200, addresses: ['127.0.0.10'], address: '127.0.0.10',
    dnsMs: 1, connectMs: 1, ttfbMs: 2, totalMs: 2,
  });
  const rawEdge = p.now - (p.retentionRawHours ?? 48) * HOUR;
  const hourEdge = Math.floor((p.now - (p.retentionHourlyDays ?? 90) * DAY) / HOUR) * HOUR;
  const dayEdge = Math.floor((p.now - (p.retentionDailyDays ?? 730) * DAY) / DAY) * DAY;
  const windowMs = p.windowS * 1000;
  const intervalMs = p.intervalS * 1000;
  const perHour = Math.max(1, Math.round(HOUR / intervalMs));
  // Rows as the service writes them from checks of a few ms (bench/lib/fleet.ts): a histogram
  // over the buckets such checks fill, not one bucket, so that their bytes per row, which the
  // projection of the steady-state size reads, are real rows' (one-bucket rows were 11-27 % short).
  const variants = rollupVariants(perHour, p.targetsPerRound);
  let checks = 0;
  let hours = 0;
  let days = 0;
  sqlite.transaction(() => {
    const keys: number[] = [];
    // Raw checks in time order, as the recorder writes them (rowids grow with time).
    const plans = ids.map((id) => ({
      id,
      targets: [['site', `bench-${id}`], ...(upstreamsOf.get(id) ?? []).map((u, k): [string, string] => [String(u), `app-${k + 1}`])] as [string, string][],
      phase: ((id * 0.6180339887498949) % 1) * intervalMs,
    }));
    for (const plan of plans) for (const [target] of plan.targets) keys.push(rollups.keyOf(plan.id, target, true));
    for (let step = 0; step * intervalMs < windowMs; step++) {
      const batch: NewCheckRow[] = [];
      for (const plan of plans) {
        const at = rawEdge + plan.phase + step * intervalMs;
        if (at >= rawEdge + windowMs) continue;
        for (const [target, name] of plan.targets) batch.push(check(plan.id, target, name, Math.floor(at)));
      }
      batch.sort((x, y) => x.startedAt - y.startedAt);
      raw.insertMany(batch);
      checks += batch.length;
    }
    // Two hours on the hourly line and two days on the daily line: one of each to prune now, one kept (its bytes per row measured).
    keys.sort((a, b) => a - b);
    for (const hour of [hourEdge - HOUR, hourEdge]) {
      rollups.writeHourRows(keys.map((key, i) => ({ ...variants.hours[(i + hour / HOUR) % variants.hours.length], id: (hour / HOUR) * KEY_SPAN + key })));
      hours += keys.length;
    }
    for (const day of [dayEdge - DAY, dayEdge]) {
      rollups.writeDays(day, keys.map((key, i) => ({ key, f: variants.days[(i + day / DAY) % variants.days.length], worst: null })));
      days += keys.length;
    }
    // As at steady state: every hour before this one is already rolled up, and every day before today.
    const mark = sqlite.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    mark.run('rollup_hour_watermark', String(Math.floor(p.now / HOUR) * HOUR));
    mark.run('rollup_day_watermark', String(Math.floor(p.now / DAY) * DAY));
  })();
  // This repository is the bench's own, not the service's: its open chunks are written now.
  raw.writeOpenChunks();
  return { checks, hourRollups: hours, dayRollups: days, ms: Date.now() - t0 };
}
