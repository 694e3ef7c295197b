/**
 * Puts the database in the state it has every minute at steady state, as far as housekeeping
 * is concerned: raw checks that cross the 48 h retention line, and minute rollups that cross the
 * 7-day line, at the rate they are written, spread over the warm-up and the window. So the
 * window pays for pruning what it would prune on a machine that has run for a week.
 */
import type { Db } from '../../src/db/client.js';

export interface PrefillReport {
  checks: number;
  minuteRollups: number;
  ms: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HIST = JSON.stringify(Array.from({ length: 32 }, (_, i) => (i === 3 ? 1 : 0)));

export function prefill(db: Db, p: { sites: number; intervalS: number; targetsPerRound: number; windowS: number; now: number; retentionRawHours?: number }): PrefillReport {
  const t0 = Date.now();
  const sqlite = db.$client;
  const ids = (sqlite.prepare('SELECT id FROM sites ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  const upstreamsOf = new Map<number, number[]>();
  for (const r of sqlite.prepare('SELECT id, site_id AS siteId FROM upstreams ORDER BY site_id, position').all() as { id: number; siteId: number }[]) {
    const list = upstreamsOf.get(r.siteId) ?? [];
    list.push(r.id);
    upstreamsOf.set(r.siteId, list);
  }
  const insertCheck = sqlite.prepare(
    `INSERT INTO checks (site_id, target, target_name, started_at, outcome, status_code, error_message, addresses, address, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, gateway, incident_id)
     VALUES (?, ?, ?, ?, 'ok', 200, NULL, '["127.0.0.10"]', '127.0.0.10', 1, 1, NULL, 2, 2, NULL, NULL)`,
  );
  const insertMinute = sqlite.prepare(
    `INSERT OR IGNORE INTO rollups_minute (site_id, target, bucket, count, ok_count, failures, latency_sum_ms, latency_hist) VALUES (?, ?, ?, ?, ?, '{}', ?, ?)`,
  );
  const rawEdge = p.now - (p.retentionRawHours ?? 48) * HOUR;
  const minuteEdge = p.now - 7 * DAY;
  const windowMs = p.windowS * 1000;
  const intervalMs = p.intervalS * 1000;
  let checks = 0;
  let minutes = 0;
  sqlite.transaction(() => {
    for (const id of ids) {
      const targets: [string, string][] = [['site', `bench-${id}`], ...(upstreamsOf.get(id) ?? []).map((u, k): [string, string] => [String(u), `app-${k + 1}`])];
      const phase = ((id * 0.6180339887498949) % 1) * intervalMs;
      for (let at = rawEdge + phase; at < rawEdge + windowMs; at += intervalMs) {
        for (const [target, name] of targets) {
          insertCheck.run(id, target, name, Math.floor(at));
          checks++;
        }
      }
      const perMinute = Math.max(1, Math.round(60_000 / intervalMs));
      const step = Math.max(60_000, intervalMs);
      for (let at = minuteEdge + phase; at < minuteEdge + windowMs; at += step) {
        const bucket = Math.floor(at / 60_000) * 60_000;
        for (const [target] of targets) minutes += insertMinute.run(id, target, bucket, perMinute, perMinute, 2 * perMinute, HIST).changes;
      }
    }
    // As at steady state: every hour before this one is already rolled up.
    sqlite
      .prepare("INSERT INTO settings (key, value) VALUES ('rollup_hour_watermark', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .run(String(Math.floor(p.now / HOUR) * HOUR));
  })();
  return { checks, minuteRollups: minutes, ms: Date.now() - t0 };
}
