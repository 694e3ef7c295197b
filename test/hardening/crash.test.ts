/**
 * Hardening: crash safety. The real service runs as a child process; it is killed with SIGKILL
 * while clients write, restarted on the same database, and must have kept every write it
 * acknowledged, a sound database file and a running scheduler. A write lock held from outside
 * must delay writes, never fail them. The open chunks of checks (in memory until written) lose no
 * check the API listed before a SIGKILL, and a SIGTERM writes them all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNKS_THROUGH_KEY, chunkIds } from '../../src/checks/checks.repository.js';
import { closeAll, getRefusingPort, startHealthyServer, type TestServer } from '../support/http-servers.js';
import { killAll, spawnService, type SpawnedService } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'crash-test-token-0123456789abcdef';
const CLIENTS = 8;

let dir: string;
let dbPath: string;
let servers: TestServer[] = [];
let healthy: TestServer;
let refusing: TestServer;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-crash-'));
  dbPath = join(dir, 'gw.db');
  healthy = await startHealthyServer();
  refusing = await getRefusingPort();
  servers = [healthy, refusing];
});
afterEach(async () => {
  await killAll();
  await closeAll(servers);
  rmSync(dir, { recursive: true, force: true });
});

const api = (svc: SpawnedService, method: string, path: string, body?: unknown) =>
  fetch(`${svc.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const checksOf = async (svc: SpawnedService, siteId: number) => {
  const res = await api(svc, 'GET', `/api/sites/${siteId}/checks?limit=50&target=site`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { checks: { startedAt: number; outcome: string }[] }).checks;
};

describe('SIGKILL while clients write', () => {
  it('keeps every acknowledged site, leaves a sound database, and the scheduler resumes after a restart', async () => {
    const env = { DATABASE_PATH: dbPath, API_TOKEN: TOKEN };
    const first = await spawnService(env);

    // A site probed every second, to see the scheduler before and after the crash.
    const beat = await api(first, 'POST', '/api/sites', { name: 'heartbeat', url: healthy.url, intervalSeconds: 1 });
    expect(beat.status).toBe(201);
    const heartbeatId = ((await beat.json()) as { id: number }).id;
    await waitFor(async () => (await checksOf(first, heartbeatId)).length > 0, { timeoutMs: 20_000, intervalMs: 100, message: 'a first check of the heartbeat site' });

    const acknowledged = new Map<number, string>();
    const statuses: number[] = [];
    let stop = false;
    const client = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const name = `c${n}-${i}`;
        let res: Response;
        try {
          res = await api(first, 'POST', '/api/sites', {
            name,
            url: `${refusing.url}${name}`,
            upstreams: [{ name: 'u', url: `${refusing.url}u/${name}` }],
            paused: true,
          });
        } catch {
          return; // the process is gone
        }
        statuses.push(res.status);
        if (res.status === 201) acknowledged.set(((await res.json()) as { id: number }).id, name);
        else await res.arrayBuffer();
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
    await waitFor(() => acknowledged.size >= 150, { timeoutMs: 30_000, intervalMs: 5, message: '150 acknowledged creates' });
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    stop = true;
    await Promise.all(clients);
    expect(statuses.filter((s) => s !== 201), 'answers other than 201 before the kill').toEqual([]);

    // The file as the crash left it: sound, and holding every acknowledged row.
    const raw = new Database(dbPath);
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(raw.pragma('foreign_key_check')).toEqual([]);
      const ids = new Set((raw.prepare('SELECT id FROM sites').all() as { id: number }[]).map((r) => r.id));
      for (const id of acknowledged.keys()) expect(ids.has(id), `site ${id} after the crash`).toBe(true);
    } finally {
      raw.close();
    }

    const restartedAt = Date.now();
    const second = await spawnService(env);
    // Every acknowledged site reads back whole, through the API.
    const ids = [...acknowledged.keys()];
    for (let i = 0; i < ids.length; i += CLIENTS) {
      await Promise.all(
        ids.slice(i, i + CLIENTS).map(async (id) => {
          const res = await api(second, 'GET', `/api/sites/${id}`);
          expect(res.status, `GET /api/sites/${id}`).toBe(200);
          const site = (await res.json()) as { name: string; upstreams: { name: string }[] };
          expect(site.name).toBe(acknowledged.get(id));
          expect(site.upstreams.map((u) => u.name)).toEqual(['u']);
        }),
      );
    }
    // The scheduler picked up where it was: new rounds of the heartbeat site after the restart.
    await waitFor(async () => (await checksOf(second, heartbeatId)).filter((c) => c.startedAt >= restartedAt && c.outcome === 'ok').length >= 2, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'two checks of the heartbeat site after the restart',
    });
    expect(second.log()).not.toMatch(/"level":"error"/);
  });
});

const checkIds = async (svc: SpawnedService, siteId: number): Promise<number[]> => {
  const res = await api(svc, 'GET', `/api/sites/${siteId}/checks?limit=1000`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { checks: { id: number }[] }).checks.map((c) => c.id);
};

describe('checks of open chunks across a crash', () => {
  it('a SIGKILL loses no check the API listed; after a SIGTERM every check is in a stored chunk', async () => {
    const env = { DATABASE_PATH: dbPath, API_TOKEN: TOKEN };
    const first = await spawnService(env);
    const created = await api(first, 'POST', '/api/sites', {
      name: 'beat',
      url: healthy.url,
      upstreams: [{ name: 'u', url: `${healthy.url}u` }],
      intervalSeconds: 1,
    });
    expect(created.status).toBe(201);
    const siteId = ((await created.json()) as { id: number }).id;
    const seen = await waitFor(
      async () => {
        const ids = await checkIds(first, siteId);
        return ids.length >= 10 ? ids : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'ten checks listed' },
    );
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    // The crash left these checks' chunk in memory only: no stored chunk lists them all.
    const raw = new Database(dbPath, { readonly: true });
    try {
      const stored = new Set((raw.prepare('SELECT ids FROM check_chunks').all() as { ids: string }[]).flatMap((r) => chunkIds(r.ids)));
      expect(seen.some((id) => !stored.has(id)), 'checks only in memory before the kill').toBe(true);
    } finally {
      raw.close();
    }

    const second = await spawnService(env);
    const after = new Set(await checkIds(second, siteId));
    for (const id of seen) expect(after.has(id), `check ${id} after the restart`).toBe(true);

    // New checks after the restart, then a clean stop writes every open chunk.
    await waitFor(async () => (await checkIds(second, siteId)).length >= seen.length + 4, { timeoutMs: 30_000, intervalMs: 100, message: 'checks after the restart' });
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const db = new Database(dbPath, { readonly: true });
    try {
      const listed = (db.prepare('SELECT ids FROM check_chunks').all() as { ids: string }[]).flatMap((r) => chunkIds(r.ids));
      const rows = (db.prepare('SELECT id FROM raw_checks ORDER BY id').all() as { id: number }[]).map((r) => r.id);
      expect([...listed].sort((a, b) => a - b)).toEqual(rows);
      const through = db.prepare('SELECT value FROM settings WHERE key = ?').get(CHUNKS_THROUGH_KEY) as { value: string };
      expect(Number(through.value)).toBe(rows.at(-1));
    } finally {
      db.close();
    }
    expect(second.log()).not.toMatch(/"level":"error"/);
  });
});

describe('a write lock held by another connection', () => {
  it('delays writes (busy_timeout) but never fails one: every request ends 2xx', async () => {
    const svc = await spawnService({ DATABASE_PATH: dbPath, API_TOKEN: TOKEN });
    const beat = await api(svc, 'POST', '/api/sites', { name: 'heartbeat', url: healthy.url, intervalSeconds: 1 });
    expect(beat.status).toBe(201);
    const heartbeatId = ((await beat.json()) as { id: number }).id;
    const seed = await api(svc, 'POST', '/api/sites', { name: 'patched', url: `${refusing.url}p`, paused: true });
    const seedId = ((await seed.json()) as { id: number }).id;

    const outside = new Database(dbPath);
    outside.pragma('busy_timeout = 10000');
    const results: { status: number; method: string; sentAt: number; doneAt: number }[] = [];
    let stop = false;
    let releasedAt = Infinity;
    let lockedAt = 0;
    const client = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const kind = i % 4;
        const sentAt = Date.now();
        const res =
          kind === 0
            ? await api(svc, 'POST', '/api/sites', { name: `busy-${n}-${i}`, url: `${refusing.url}b`, paused: true })
            : kind === 1
              ? await api(svc, 'PATCH', `/api/sites/${seedId}`, { name: `patched-${n}-${i}` })
              : kind === 2
                ? await api(svc, 'GET', '/api/status')
                : await api(svc, 'GET', `/api/sites/${seedId}`);
        await res.arrayBuffer();
        results.push({ status: res.status, method: kind < 2 ? 'write' : 'read', sentAt, doneAt: Date.now() });
      }
    };
    let clients: Promise<void>[] = [];
    try {
      outside.exec('BEGIN IMMEDIATE');
      lockedAt = Date.now();
      clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
      // How long the lock is held is the point of the test (well under busy_timeout = 5 s).
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      outside.exec('COMMIT');
      releasedAt = Date.now();
    }
    // Keep the clients going a while after the release, then stop them.
    await waitFor(() => results.filter((r) => r.sentAt > releasedAt).length >= 40, { timeoutMs: 20_000, intervalMs: 20, message: 'requests after the release' });
    stop = true;
    await Promise.all(clients);
    outside.close();

    expect(results.filter((r) => r.status < 200 || r.status >= 300), 'non-2xx answers').toEqual([]);
    // The lock did bite: writes sent while it was held finished only after it was released.
    const blocked = results.filter((r) => r.method === 'write' && r.sentAt >= lockedAt && r.sentAt < releasedAt);
    expect(blocked.length).toBeGreaterThan(0);
    for (const r of blocked) expect(r.doneAt).toBeGreaterThanOrEqual(releasedAt);
    // The scheduler's own writes waited too, and carried on.
    await waitFor(async () => (await checksOf(svc, heartbeatId)).some((c) => c.startedAt > releasedAt), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'a check recorded after the release',
    });
    expect(svc.log()).not.toMatch(/SQLITE_BUSY|database is locked|"level":"error"/);
  });
});
