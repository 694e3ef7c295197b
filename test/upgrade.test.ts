import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import { createChecksRepository } from '../src/checks/checks.repository.js';
import { upgradeChecks } from '../src/checks/checks.upgrade.js';
import { upgradeRollups } from '../src/checks/rollups.upgrade.js';
import { loadConfig } from '../src/config.js';
import { MIGRATIONS_DIR, closeDatabase, openDatabase, type Db } from '../src/db/client.js';
import * as schema from '../src/db/schema.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** The migrations of an earlier version (through `last`: 2 is 0.1, 3 is 0.2), in a folder of their own. */
function oldMigrations(last = 2): string {
  const folder = join(dir, 'old-migrations');
  cpSync(MIGRATIONS_DIR, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number }[] };
  journal.entries = journal.entries.filter((e) => e.idx <= last);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe('upgrade in place from 0.1', () => {
  it('moves the old hour and minute rollups into rollup_hours in bounded batches; history reads back through the API', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-upgrade-'));
    const file = join(dir, 'gw.db');
    const h0 = Math.floor(Date.UTC(2026, 2, 3, 12, 0) / HOUR) * HOUR;
    const now = h0 + 31 * MINUTE;

    // A database as 0.1 leaves it: sites, raw checks, minute rollups, hour rollups before the watermark.
    const sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    const old = drizzle(sqlite, { schema }) as Db;
    migrate(old, { migrationsFolder: oldMigrations() });
    expect(sqlite.prepare("SELECT name FROM sqlite_master WHERE name = 'rollup_hours'").get()).toBeUndefined();
    // A site as 0.1 wrote it (its columns; this version's repository knows columns 0.1 had not).
    const { siteId, upstreamId } = insertOldSite(sqlite, now);
    const site = { id: siteId };
    const targets = ['site', String(upstreamId)];
    const insertHour = sqlite.prepare(
      `INSERT INTO rollups_hour (site_id, target, bucket, count, ok_count, failures, latency_sum_ms, latency_hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertMinute = sqlite.prepare(
      `INSERT INTO rollups_minute (bucket, site_id, target, count, ok_count, failures, latency_sum_ms, latency_hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertCheck = sqlite.prepare(
      `INSERT INTO checks (site_id, target, target_name, started_at, outcome, status_code, error_message, addresses, address, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, gateway, incident_id)
       VALUES (?, ?, ?, ?, 'ok', 200, NULL, '["127.0.0.1"]', '127.0.0.1', 1, 1, NULL, 7, 8, NULL, NULL)`,
    );
    sqlite.transaction(() => {
      for (const target of targets) {
        for (let hour = h0 - 72 * HOUR; hour < h0; hour += HOUR) {
          insertHour.run(site.id, target, hour, 60, 59, '{"bad_gateway":1}', 59 * 7, JSON.stringify([0, 0, 0, 0, 0, 59]));
        }
        for (let m = h0 - 2 * HOUR; m < h0 + 31 * MINUTE; m += MINUTE) {
          insertMinute.run(m, site.id, target, 1, 1, '{}', 7, JSON.stringify([0, 0, 0, 0, 0, 1]));
          insertCheck.run(site.id, target, target, m + 1000);
        }
      }
      sqlite.prepare("INSERT INTO settings (key, value) VALUES ('rollup_hour_watermark', ?)").run(String(h0));
    })();
    sqlite.close();

    // The new migration, then the data step in batches of 37 rows.
    const db = openDatabase(file);
    const checks = createChecksRepository(db);
    let batches = 0;
    const report = upgradeRollups(db, checks, { batch: 37, afterBatch: () => batches++ });
    expect(report.hourRows).toBe(2 * 72);
    expect(report.minuteRows).toBe(2 * 31);
    expect(batches).toBeGreaterThan(5);
    for (const table of ['rollups_hour', 'rollups_minute']) {
      expect((db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n, table).toBe(0);
    }
    expect(upgradeRollups(db, checks).batches).toBe(0);
    expect(upgradeChecks(db, checks).rows).toBe(2 * 151);
    expect((db.$client.prepare('SELECT COUNT(*) AS n FROM raw_checks').get() as { n: number }).n).toBe(2 * 151);
    closeDatabase(db);

    // The new version starts on it: the history reads back per hour and per day.
    const svc = buildService(loadConfig({ DATABASE_PATH: file, API_TOKEN: 'test-token-0123456789abcdef', LOG_LEVEL: 'silent' }), silentLogger, {
      clock: { now: () => now },
    });
    try {
      const hours = svc.rollups.uptimeSeries(site.id, { from: h0 - 72 * HOUR, to: h0 + HOUR, granularity: 'hour' });
      expect(hours).toHaveLength(73);
      expect(hours.slice(0, 72).every((b) => b.checks === 60 && b.ok === 59 && b.failures.bad_gateway === 1 && b.latencyMs.avg === 7)).toBe(true);
      expect(hours[72]).toMatchObject({ start: h0, checks: 31, ok: 31 });
      const up = svc.rollups.uptimeSeries(site.id, { from: h0 - 48 * HOUR, to: h0, granularity: 'day', target: targets[1] });
      // Whole days: from midnight two days before 12:00 through today (60 old hours and the current one).
      expect(up).toHaveLength(3);
      expect(up.reduce((a, b) => a + b.checks, 0)).toBe(60 * 60 + 31);
      const res = await svc.app.request(`/api/sites/${site.id}/uptime?from=${h0 - 2 * HOUR}&to=${h0}&granularity=hour`, {
        headers: { authorization: 'Bearer test-token-0123456789abcdef' },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { buckets: { checks: number }[] }).buckets.map((b) => b.checks)).toEqual([60, 60]);
    } finally {
      await svc.scheduler.stop();
      svc.status.stop();
      closeDatabase(svc.db);
    }
  });
});

describe('upgrade in place from 0.2', () => {
  it('moves the raw checks into the compact tables in batches, ids and incident marks kept; they read back through the API', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-upgrade-'));
    const file = join(dir, 'gw.db');
    const t0 = Date.UTC(2026, 5, 1, 12, 0);
    const sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    const old = drizzle(sqlite, { schema }) as Db;
    migrate(old, { migrationsFolder: oldMigrations(3) });
    const { siteId, upstreamId } = insertOldSite(sqlite, t0);
    // Checks as 0.2 writes them, one round a minute, every column used by some of them.
    const insert = sqlite.prepare(
      `INSERT INTO checks (site_id, target, target_name, started_at, outcome, status_code, error_message, addresses, address, failed_addresses,
         dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, gateway, cert_expires_at, cert_issuer, incident_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    sqlite.transaction(() => {
      for (let i = 0; i < 120; i++) {
        const at = t0 + i * MINUTE;
        const bad = i % 40 === 7;
        insert.run(siteId, 'site', 'old', at, bad ? 'bad_gateway' : 'ok', bad ? 502 : 200, bad ? 'HTTP 502' : null, '["127.0.0.1","::1"]', '127.0.0.1',
          bad ? '["::1"]' : null, 1, 2, 3, 4, 5, bad ? 'nginx' : null, t0 + 90 * 86_400_000, 'Test CA', bad ? 9 : null);
        insert.run(siteId, String(upstreamId), 'u', at, 'conn_refused', null, 'connect ECONNREFUSED', '[]', null, null, null, null, null, null, 3, null, null, null, null);
      }
    })();
    const before = sqlite.prepare('SELECT * FROM checks ORDER BY id').all() as Record<string, unknown>[];
    sqlite.close();

    let batches = 0;
    const db = openDatabase(file);
    const checks = createChecksRepository(db);
    expect(upgradeChecks(db, checks, { batch: 37, afterBatch: () => batches++ })).toEqual({ rows: 240, batches: 7 });
    expect(batches).toBe(7);
    expect((db.$client.prepare('SELECT COUNT(*) AS n FROM checks').get() as { n: number }).n).toBe(0);
    expect(upgradeChecks(db, checks).batches).toBe(0);
    closeDatabase(db);

    const svc = buildService(loadConfig({ DATABASE_PATH: file, API_TOKEN: 'test-token-0123456789abcdef', LOG_LEVEL: 'silent' }), silentLogger, {
      clock: { now: () => t0 + 2 * HOUR },
    });
    try {
      const res = await svc.app.request(`/api/sites/${siteId}/checks?limit=500`, { headers: { authorization: 'Bearer test-token-0123456789abcdef' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { checks: Record<string, unknown>[] } | Record<string, unknown>[];
      const listed = (Array.isArray(body) ? body : body.checks).slice().sort((a, b) => Number(a.id) - Number(b.id));
      expect(listed).toHaveLength(240);
      for (const [i, row] of before.entries()) {
        expect(listed[i], `check ${row.id}`).toMatchObject({
          id: row.id,
          target: row.target,
          targetName: row.target_name,
          startedAt: row.started_at,
          outcome: row.outcome,
          statusCode: row.status_code,
          errorMessage: row.error_message,
          addresses: JSON.parse(String(row.addresses)),
          address: row.address,
          failedAddresses: row.failed_addresses == null ? null : JSON.parse(String(row.failed_addresses)),
          dnsMs: row.dns_ms,
          totalMs: row.total_ms,
          gateway: row.gateway,
          certExpiresAt: row.cert_expires_at,
          certIssuer: row.cert_issuer,
          incidentId: row.incident_id,
        });
      }
    } finally {
      await svc.scheduler.stop();
      svc.status.stop();
      closeDatabase(svc.db);
    }
  });
});

/** A site with one upstream, written with the columns every earlier version had. */
function insertOldSite(sqlite: Database.Database, at: number) {
  const siteId = Number(
    sqlite
      .prepare(
        `INSERT INTO sites (name, url, interval_seconds, timeout_ms, failure_threshold, recovery_threshold, expected_status, alert_emails, maintenance, paused, state, last_round_at, created_at, updated_at)
         VALUES ('old', 'http://127.0.0.1:9/', 60, 10000, 3, 2, '[200,299]', '[]', '[]', 0, 'up', NULL, ?, ?)`,
      )
      .run(at, at).lastInsertRowid,
  );
  const upstreamId = Number(
    sqlite.prepare(`INSERT INTO upstreams (site_id, name, url, position) VALUES (?, 'u', 'http://127.0.0.1:9/', 0)`).run(siteId).lastInsertRowid,
  );
  return { siteId, upstreamId };
}
