import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService, startService, type Service } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { HOUR_WATERMARK_KEY } from '../src/status/status.service.js';
import { SNAPSHOT_FLUSH_EVERY_MS, SNAPSHOT_FLUSHED_KEY } from '../src/status/status.snapshot.js';
import { startHealthyServer, trackForCleanup } from './support/http-servers.js';
import { TEST_TOKEN } from './support/service.js';
import { waitFor } from './support/wait.js';

const track = trackForCleanup();
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

const HOUR = 3_600_000;

/** A database directory of its own, removed after the test. */
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-snapshot-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A wired service on `dir`'s database (nothing started), closed after the test unless closed before. */
function open(dir: string, now: () => number, env: Record<string, string> = {}) {
  const svc = buildService(loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', ...env }), silentLogger, { clock: { now } });
  let closed = false;
  /** Closes the database as a SIGKILL leaves it: committed transactions only, nothing flushed on the way out. */
  const kill = () => {
    if (closed) return;
    closed = true;
    svc.stopStorage();
    svc.status.stop();
    closeDatabase(svc.db);
  };
  cleanups.push(kill);
  return { svc, kill };
}

const createSite = async (svc: Service, name: string, upstream = false) => {
  const res = await svc.app.request('/api/sites', {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, url: 'http://127.0.0.1:9/', upstreams: upstream ? [{ name: 'u', url: 'http://127.0.0.1:9/' }] : [] }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: number; upstreams: { id: number }[] };
};

const check = (siteId: number, target: string, at: number, opts: { ok?: boolean; cert?: { expiresAt: number; issuer: string } } = {}) => ({
  siteId,
  target,
  targetName: target,
  startedAt: at,
  outcome: opts.ok === false ? ('bad_gateway' as const) : ('ok' as const),
  statusCode: opts.ok === false ? 502 : 200,
  errorMessage: opts.ok === false ? 'HTTP 502' : null,
  addresses: ['127.0.0.1'],
  address: '127.0.0.1',
  dnsMs: 0,
  connectMs: 1,
  tlsMs: null,
  ttfbMs: 4,
  totalMs: 5,
  gateway: null,
  certExpiresAt: opts.cert?.expiresAt ?? null,
  certIssuer: opts.cert?.issuer ?? null,
});

const roundOf = (svc: Service, siteId: number, checks: ReturnType<typeof check>[]): RoundResult => ({
  site: svc.sites.get(siteId)!,
  startedAt: checks[0].startedAt,
  checks,
});

/** Every write to status_snapshot from now on, in order (a temporary trigger of this connection). */
function traceWrites(svc: Service) {
  svc.db.$client.exec(`
    CREATE TEMP TABLE snapshot_writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, site_id INTEGER, target TEXT, cert INTEGER);
    CREATE TEMP TRIGGER snapshot_writes_insert AFTER INSERT ON main.status_snapshot BEGIN
      INSERT INTO snapshot_writes (site_id, target, cert) VALUES (NEW.site_id, NEW.target, NEW.cert_expires_at); END;
    CREATE TEMP TRIGGER snapshot_writes_update AFTER UPDATE ON main.status_snapshot BEGIN
      INSERT INTO snapshot_writes (site_id, target, cert) VALUES (NEW.site_id, NEW.target, NEW.cert_expires_at); END;`);
  return () => svc.db.$client.prepare('SELECT site_id, target, cert FROM snapshot_writes ORDER BY seq').all() as { site_id: number; target: string; cert: number | null }[];
}

describe('status snapshot in memory', () => {
  it('is rebuilt after a kill from the flushed rows plus the checks stored since, each counted once', async () => {
    const dir = tempDir();
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    let now = hour + 60_000;
    const first = open(dir, () => now);
    const site = await createSite(first.svc, 'a');
    const record = (ok: boolean) => {
      now += 60_000;
      first.svc.recorder.record([roundOf(first.svc, site.id, [check(site.id, 'site', now, { ok })])]);
    };
    for (let i = 0; i < 4; i++) record(true);
    await first.svc.snapshot.flush();
    const flushedThrough = Number((first.svc.db.$client.prepare('SELECT value FROM settings WHERE key = ?').get(SNAPSHOT_FLUSHED_KEY) as { value: string }).value);
    expect(flushedThrough).toBeGreaterThan(0);
    record(true);
    record(false);
    record(true);
    record(true);
    const lastAt = now;
    const live = () => first.svc.snapshot.forSite(site.id).get('site')!;
    expect(live().uptime['24h']).toBe(87.5);
    // The table still holds the 4 flushed checks only: nothing is written per check.
    const row = first.svc.db.$client.prepare("SELECT live, last_at FROM status_snapshot WHERE site_id = ? AND target = 'site'").get(site.id) as { live: string; last_at: number };
    expect((JSON.parse(row.live) as { count: number }[]).reduce((n, h) => n + h.count, 0)).toBe(4);
    expect(row.last_at).toBeLessThan(lastAt);
    first.kill();

    const second = open(dir, () => now);
    expect(second.svc.snapshot.replayed).toBe(4);
    const again = second.svc.status.one(second.svc.sites.get(site.id)!, true) as { uptime: Record<string, number>; lastCheck: { at: number; outcome: string } };
    expect(again.uptime['24h']).toBe(87.5);
    expect(again.lastCheck).toMatchObject({ at: lastAt, outcome: 'ok' });
    const listed = JSON.parse(await second.svc.status.listJson(0, -1, true)) as { id: number; uptime: Record<string, number> }[];
    expect(listed.find((e) => e.id === site.id)!.uptime['24h']).toBe(87.5);
    // Flushed and killed again: nothing is replayed twice.
    await second.svc.snapshot.flush();
    second.kill();
    const third = open(dir, () => now);
    expect(third.svc.snapshot.replayed).toBe(0);
    expect(third.svc.snapshot.forSite(site.id).get('site')!.uptime['24h']).toBe(87.5);
  });

  it("shows each target's last addresses as its checks change them, and again after a kill", async () => {
    const dir = tempDir();
    let now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const first = open(dir, () => now);
    const site = await createSite(first.svc, 'a', true);
    const up = String(site.upstreams[0].id);
    const record = (target: string, addresses: string[], address: string | null) => {
      now += 60_000;
      first.svc.recorder.record([{ site: first.svc.sites.get(site.id)!, startedAt: now, checks: [{ ...check(site.id, target, now), addresses, address }] }]);
    };
    const last = (svc: Service, target: string) => svc.snapshot.target(site.id, target)!.last!;
    record('site', ['127.0.0.1', '::1'], '127.0.0.1');
    record('site', ['127.0.0.1', '::1'], '::1');
    record(up, ['127.0.0.2'], '127.0.0.2');
    expect(last(first.svc, 'site')).toMatchObject({ addresses: ['127.0.0.1', '::1'], address: '::1' });
    record('site', ['127.0.0.3'], '127.0.0.3');
    record(up, [], null);
    expect(last(first.svc, 'site')).toMatchObject({ addresses: ['127.0.0.3'], address: '127.0.0.3' });
    expect(last(first.svc, up)).toMatchObject({ addresses: [], address: null });
    await first.svc.snapshot.flush();
    record('site', ['127.0.0.3', '127.0.0.4'], '127.0.0.4');
    first.kill();
    const second = open(dir, () => now);
    expect(last(second.svc, 'site')).toMatchObject({ addresses: ['127.0.0.3', '127.0.0.4'], address: '127.0.0.4' });
    expect(last(second.svc, up)).toMatchObject({ addresses: [], address: null });
  });

  it('is rebuilt after a kill that came before its first flush', async () => {
    const dir = tempDir();
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    let now = hour + 60_000;
    const first = open(dir, () => now);
    const site = await createSite(first.svc, 'a');
    for (const ok of [true, false, true]) {
      now += 60_000;
      first.svc.recorder.record([roundOf(first.svc, site.id, [check(site.id, 'site', now, { ok })])]);
    }
    first.kill();
    const second = open(dir, () => now);
    expect(second.svc.snapshot.replayed).toBe(3);
    const again = second.svc.status.one(second.svc.sites.get(site.id)!, true) as { uptime: Record<string, number>; lastCheck: { at: number; outcome: string } };
    expect(again.lastCheck).toMatchObject({ at: now, outcome: 'ok' });
    expect(again.uptime['24h']).toBeCloseTo(66.667, 2);
    second.kill();
  });

  it('is rebuilt after a kill several minutes after the last flush, across an hour folded meanwhile, with the shortest raw retention', async () => {
    // The rebuild replays raw checks back to the last flush: they must outlive the gap between flushes.
    expect(SNAPSHOT_FLUSH_EVERY_MS).toBeLessThan(HOUR);
    const dir = tempDir();
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    let now = hour + 52 * 60_000;
    const env = { RETENTION_RAW_HOURS: '1' };
    const first = open(dir, () => now, env);
    const site = await createSite(first.svc, 'gap', true);
    const upstream = String(site.upstreams[0].id);
    let minute = 0;
    const record = () => {
      now += 60_000;
      const ok = ++minute % 4 !== 0;
      first.svc.recorder.record([roundOf(first.svc, site.id, [check(site.id, 'site', now, { ok }), check(site.id, upstream, now, { ok: minute % 5 !== 0 })])]);
    };
    for (let i = 0; i < 3; i++) record();
    await first.svc.housekeeping.runOnce();
    await first.svc.snapshot.flush();
    // Longer than a flush gap, and past the hour's fold (3 min after it ends), housekeeping run every minute.
    const gap = SNAPSHOT_FLUSH_EVERY_MS / 60_000 + 10;
    for (let i = 0; i < gap; i++) {
      record();
      await first.svc.housekeeping.runOnce();
    }
    expect(now).toBeGreaterThan(hour + HOUR + 5 * 60_000);
    const foldedThrough = first.svc.db.$client.prepare('SELECT value FROM settings WHERE key = ?').get(HOUR_WATERMARK_KEY) as { value: string };
    expect(Number(foldedThrough.value)).toBe(hour + HOUR);
    const before = first.svc.snapshot.forSite(site.id);
    expect(before.get('site')!.uptime['24h']).toBeLessThan(100);
    first.kill();

    const second = open(dir, () => now, env);
    expect(second.svc.snapshot.replayed).toBe(2 * gap);
    expect(second.svc.snapshot.forSite(site.id)).toEqual(before);
    // Housekeeping after the start moves the rebuilt entries on as it would have: same figures.
    now += 60_000;
    await second.svc.housekeeping.runOnce();
    expect(second.svc.snapshot.forSite(site.id)).toEqual(before);
  });

  it('writes nothing per check and flushes the changed entries in key order', async () => {
    const dir = tempDir();
    let now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const { svc } = open(dir, () => now);
    const sites = [];
    for (let i = 0; i < 4; i++) sites.push(await createSite(svc, `s${i}`, true));
    const writes = traceWrites(svc);
    // Recorded newest site first, upstream before url.
    for (const s of [...sites].reverse()) {
      now += 1000;
      svc.recorder.record([roundOf(svc, s.id, [check(s.id, String(s.upstreams[0].id), now), check(s.id, 'site', now)])]);
    }
    expect(writes()).toEqual([]);
    await svc.snapshot.flush();
    const order = writes().map((w) => [w.site_id, w.target]);
    const expected = sites.flatMap((s) => [[s.id, String(s.upstreams[0].id)], [s.id, 'site']].sort((a, b) => (String(a[1]) < String(b[1]) ? -1 : 1)));
    expect(order).toEqual(expected);
    // Nothing changed since: a second flush writes nothing.
    await svc.snapshot.flush();
    expect(writes()).toHaveLength(expected.length);
  });

  it('writes a certificate change at once, and only a change', async () => {
    const dir = tempDir();
    let now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const { svc } = open(dir, () => now);
    const site = await createSite(svc, 'tls');
    const writes = traceWrites(svc);
    const cert = { expiresAt: Date.UTC(2027, 0, 1), issuer: 'Test CA' };
    const record = (c: typeof cert) => {
      now += 60_000;
      svc.recorder.record([roundOf(svc, site.id, [check(site.id, 'site', now, { cert: c })])]);
    };
    record(cert);
    expect(writes()).toEqual([{ site_id: site.id, target: 'site', cert: cert.expiresAt }]);
    const stored = () => svc.db.$client.prepare("SELECT cert_expires_at AS at, cert_issuer AS issuer FROM status_snapshot WHERE site_id = ? AND target = 'site'").get(site.id);
    expect(stored()).toEqual({ at: cert.expiresAt, issuer: 'Test CA' });
    record(cert);
    expect(writes()).toHaveLength(1);
    const renewed = { expiresAt: Date.UTC(2027, 3, 1), issuer: 'Test CA' };
    record(renewed);
    expect(writes()).toHaveLength(2);
    expect(stored()).toEqual({ at: renewed.expiresAt, issuer: 'Test CA' });
  });

  it('is flushed by stop (SIGTERM)', async () => {
    const healthy = track(await startHealthyServer());
    const dir = tempDir();
    const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', PORT: '0' });
    const running = await startService(config, silentLogger);
    let stopped = false;
    cleanups.push(() => void (stopped || running.stop()));
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${running.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const site = (await call('POST', '/api/sites', { name: 'live', url: healthy.url, intervalSeconds: 30 })).body;
    const checked = await call('POST', `/api/sites/${site.id}/check`);
    expect(checked.status).toBe(200);
    const checkIds = (checked.body.checks as { id: number }[]).map((c) => c.id);
    expect(checkIds.length).toBeGreaterThan(0);
    const rows = () => running.db.$client.prepare('SELECT count(*) AS n FROM status_snapshot').get() as { n: number };
    // Seen in memory, not written yet (no certificate, no minute gone by).
    expect(rows().n).toBe(0);
    const status = await call('GET', `/api/status/${site.id}`);
    expect(status.body.lastCheck).toMatchObject({ outcome: 'ok' });
    await running.stop();
    stopped = true;
    const db = new Database(join(dir, 'gw.db'), { readonly: true });
    try {
      const row = db.prepare("SELECT last_check_id AS id, last_outcome AS outcome FROM status_snapshot WHERE site_id = ? AND target = 'site'").get(site.id) as { id: number; outcome: string };
      expect(row.outcome).toBe('ok');
      expect(row.id).toBeGreaterThanOrEqual(Math.max(...checkIds));
      const mark = db.prepare('SELECT value FROM settings WHERE key = ?').get(SNAPSHOT_FLUSHED_KEY) as { value: string };
      expect(Number(mark.value)).toBeGreaterThanOrEqual(row.id);
      const stored = db.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number };
      expect(stored.n).toBeGreaterThanOrEqual(checkIds.length);
    } finally {
      db.close();
    }
  });
});

describe('recorder commits', () => {
  it('holds ordinary rounds of the schedule up to a second, and commits a failing round at once with them', async () => {
    const dir = tempDir();
    let now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const { svc } = open(dir, () => now);
    const a = await createSite(svc, 'a');
    const b = await createSite(svc, 'b');
    const stored = () => (svc.db.$client.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number }).n;
    const round = (id: number, ok = true) => {
      now += 1000;
      return roundOf(svc, id, [check(id, 'site', now, { ok })]);
    };
    // First rounds (sites not yet up) are written at once.
    svc.recorder.record([round(a.id), round(b.id)], true);
    expect(stored()).toBe(2);
    // Up, nothing open: held.
    expect(svc.recorder.record([round(a.id)], true).size).toBe(0);
    expect(stored()).toBe(2);
    // A failure commits at once, with what was held.
    const written = svc.recorder.record([round(b.id, false)], true);
    expect([...written.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(stored()).toBe(4);
    // Held again; written by the timer after about a second.
    expect(svc.recorder.record([round(a.id)], true).size).toBe(0);
    expect(stored()).toBe(4);
    await waitFor(() => stored() === 5, { timeoutMs: 10_000, message: 'the held round written by the timer' });
    // Held, then written by the stop path.
    expect(svc.recorder.record([round(a.id)], true).size).toBe(0);
    svc.storeHeld();
    expect(stored()).toBe(6);
  });

  it('writes round marks in one sweep in id order every 10 minutes, a state change and a rare site at once, the rest at stop', async () => {
    const dir = tempDir();
    let now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const { svc } = open(dir, () => now);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createSite(svc, `m${i}`)).id);
    const failing = (await createSite(svc, 'failing')).id;
    const rare = await svc.app.request('/api/sites', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'rare', url: 'http://127.0.0.1:9/', intervalSeconds: 600 }),
    });
    expect(rare.status).toBe(201);
    const rareId = ((await rare.json()) as { id: number }).id;
    svc.db.$client.exec(`
      CREATE TEMP TABLE mark_writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, site_id INTEGER, at INTEGER, state TEXT);
      CREATE TEMP TRIGGER mark_writes_update AFTER UPDATE OF last_round_at ON main.sites BEGIN
        INSERT INTO mark_writes (site_id, at, state) VALUES (NEW.id, NEW.last_round_at, NEW.state); END;`);
    const writes = () => svc.db.$client.prepare('SELECT site_id AS id, at, state FROM mark_writes ORDER BY seq').all() as { id: number; at: number; state: string }[];
    const stored = (id: number) => (svc.db.$client.prepare('SELECT last_round_at AS at, state FROM sites WHERE id = ?').get(id) as { at: number; state: string });
    // Newest site first, so that the sweep's order is not the order of the rounds.
    const minute = (fail = false) => {
      now += 60_000;
      svc.recorder.record([...ids].reverse().concat(rareId, failing).map((id) => roundOf(svc, id, [check(id, 'site', now, { ok: !fail || id !== failing })])));
    };
    // First rounds: written at once (the sites become up).
    minute();
    expect(writes().map((w) => w.id).sort()).toEqual([...ids, rareId, failing].sort());
    const firstAt = now;
    let seen = writes().length;
    // Later rounds wait, but the rare site's (its interval is the sweep's) and a state change.
    minute();
    minute(true);
    expect(writes().slice(seen)).toEqual([
      { id: rareId, at: now - 60_000, state: 'up' },
      { id: rareId, at: now, state: 'up' },
      { id: failing, at: now, state: expect.not.stringMatching(/^up$/) },
    ]);
    expect(stored(ids[0])).toEqual({ at: firstAt, state: 'up' });
    seen = writes().length;
    // 10 minutes after the first mark waited: one sweep, in id order, each site's newest round.
    while (now < firstAt + 11 * 60_000) minute(true);
    const sweep = writes().slice(seen).filter((w) => w.id !== rareId && w.id !== failing);
    expect(sweep.map((w) => w.id)).toEqual(ids);
    expect(sweep.every((w) => w.at === now)).toBe(true);
    seen = writes().length;
    // Waiting marks are written at stop.
    minute();
    svc.storeHeld();
    for (const id of [...ids, rareId, failing]) expect(stored(id).at).toBe(now);
    expect(writes().slice(seen).length).toBeGreaterThan(0);
  });
});
