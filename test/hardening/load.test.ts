/**
 * Hardening: load, in a CI-friendly size. The real service (a child process) probes N sites every
 * second against a loopback server (N = 300 plus 75 upstreams is ~375 probes/s, the probe rate
 * of ~22,500 sites at 60 s; LOAD_SITES and LOAD_SECONDS change the size) while 16 API clients mix creates, patches, reads and status. No answer
 * may be a 5xx and no acknowledged write may be lost. Speed is printed, never asserted: the
 * 10,000-site figure belongs to the benchmark (`npm run bench`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHttpServer, type TestServer } from '../support/http-servers.js';
import { killAll, spawnService, type SpawnedService } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'load-test-token-0123456789abcdef';
const SITES = Number(process.env.LOAD_SITES ?? 300);
const CLIENTS = 16;
const LOAD_MS = Number(process.env.LOAD_SECONDS ?? 12) * 1000;
/** ~25 s alone on 2 cores; the margin is for a CI machine shared with other test files. */
const TIMEOUT_MS = 150_000;

let dir: string;
let target: TestServer;
let probesServed = 0;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-load-'));
  probesServed = 0;
  target = await startHttpServer((_req, res) => {
    probesServed++;
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
  });
});
afterEach(async () => {
  await killAll();
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `fn` over `items`, `CLIENTS` at a time. */
async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += CLIENTS) await Promise.all(items.slice(i, i + CLIENTS).map(fn));
}

/** CPU seconds a process used so far (Linux /proc), or NaN elsewhere. */
const cpuSecondsOf = (pid: number) => {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return NaN;
  const fields = readFileSync(file, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
};

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
};

describe('load', () => {
  it(`serves ${CLIENTS} API clients without a 5xx or a lost write while probing ${SITES} sites every second`, async () => {
    const dbPath = join(dir, 'gw.db');
    const svc: SpawnedService = await spawnService({ DATABASE_PATH: dbPath, API_TOKEN: TOKEN, LOG_LEVEL: 'info' });
    const call = async (method: string, path: string, body?: unknown, auth = true) => {
      const res = await fetch(`${svc.base}${path}`, {
        method,
        headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };

    // The probed sites, created through the API (16 at a time).
    const t0 = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const probed: number[] = [];
    await inBatches(
      Array.from({ length: SITES }, (_, n) => n),
      async (n) => {
        const res = await call('POST', '/api/sites', {
          name: `load-${n}`,
          url: `${target.url}site/${n}`,
          upstreams: n % 4 === 0 ? [{ name: 'app', url: `${target.url}up/${n}` }] : [],
          intervalSeconds: 1,
          timeoutMs: 5000,
        });
        expect(res.status).toBe(201);
        probed.push(res.body.id);
      },
    );
    phase('created');
    // Steady state: the scheduler has been through every site at least once.
    await waitFor(
      () => {
        const db = new Database(dbPath, { readonly: true });
        try {
          return (db.prepare("SELECT COUNT(DISTINCT site_id) AS n FROM checks WHERE target = 'site'").get() as { n: number }).n >= SITES;
        } finally {
          db.close();
        }
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'a first round of every site' },
    );

    phase('steady');
    const statuses = new Map<number, number>();
    const latency: Record<string, number[]> = { status: [], create: [], patch: [], read: [] };
    const created = new Map<number, string>();
    const patched = new Map<number, string>();
    const serverErrors: string[] = [];
    const started = Date.now();
    const probesBefore = probesServed;
    const serviceCpuBefore = cpuSecondsOf(svc.pid);
    const testCpuBefore = process.cpuUsage();
    const deadline = started + LOAD_MS;

    const client = async (n: number) => {
      // Each client patches only its own share of the sites, so the last name it wrote is the one to read back.
      const mine = probed.filter((_, k) => k % CLIENTS === n);
      for (let i = 0; Date.now() < deadline; i++) {
        const kind = (['status', 'create', 'patch', 'read', 'status', 'read'] as const)[(n + i) % 6];
        const t0 = performance.now();
        let res: { status: number; body: any };
        if (kind === 'status') {
          res = await call('GET', '/api/status', undefined, i % 2 === 0);
        } else if (kind === 'create') {
          const name = `new-${n}-${i}`;
          res = await call('POST', '/api/sites', { name, url: `${target.url}new/${n}/${i}`, intervalSeconds: 60, paused: i % 3 === 0 });
          if (res.status === 201) created.set(res.body.id, name);
        } else if (kind === 'patch') {
          const id = mine[i % mine.length];
          const name = `patched-${n}-${i}`;
          res = await call('PATCH', `/api/sites/${id}`, { name, timeoutMs: 4000 + (i % 1000) });
          if (res.status === 200) patched.set(id, name);
        } else {
          res = await call('GET', `/api/sites/${probed[(n * 31 + i) % probed.length]}`);
        }
        latency[kind].push(performance.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) serverErrors.push(`${kind} -> ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    const elapsed = (Date.now() - started) / 1000;
    const probeRate = (probesServed - probesBefore) / elapsed;
    const serviceCpu = (cpuSecondsOf(svc.pid) - serviceCpuBefore) / elapsed;
    const testCpuUsed = process.cpuUsage(testCpuBefore);
    const testCpu = (testCpuUsed.user + testCpuUsed.system) / 1e6 / elapsed;
    phase('loaded');

    expect(serverErrors).toEqual([]);
    expect([...statuses.keys()].every((s) => s >= 200 && s < 300), JSON.stringify([...statuses])).toBe(true);

    // No lost writes: every 201 reads back, and every patched site shows a name this test wrote.
    await inBatches([...created], async ([id, name]) => {
      const res = await call('GET', `/api/sites/${id}`);
      expect(res.status, `site ${id}`).toBe(200);
      expect(res.body.name).toBe(name);
    });
    await inBatches([...patched], async ([id, name]) => {
      const res = await call('GET', `/api/sites/${id}`);
      expect(res.body.name, `site ${id}`).toBe(name);
    });
    phase('verified');

    // The scheduler kept going through the load: every probed site has a check from within it.
    const db = new Database(dbPath, { readonly: true });
    let starved: number;
    let checksInWindow: number;
    try {
      const rows = db.prepare("SELECT site_id AS id, COUNT(*) AS n FROM checks WHERE target = 'site' AND started_at >= ? GROUP BY site_id").all(started) as { id: number; n: number }[];
      const seen = new Set(rows.map((r) => r.id));
      starved = probed.filter((id) => !seen.has(id)).length;
      checksInWindow = (db.prepare('SELECT COUNT(*) AS n FROM checks WHERE started_at >= ?').get(started) as { n: number }).n;
    } finally {
      db.close();
    }
    expect(starved, 'probed sites without a check during the load').toBe(0);

    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const fmt = (xs: number[]) => `p50 ${percentile(xs, 0.5).toFixed(1)} / p99 ${percentile(xs, 0.99).toFixed(1)} ms (${xs.length})`;
    console.log(`load: status p99 = ${percentile(latency.status, 0.99).toFixed(1)} ms over ${latency.status.length} requests`);
    console.log(
      `load: ${SITES} sites @1s, ${total} API requests in ${elapsed.toFixed(1)} s by ${CLIENTS} clients; probes served ${probeRate.toFixed(0)}/s, ` +
        `checks stored ${(checksInWindow / elapsed).toFixed(0)}/s; CPU: service ${(serviceCpu * 100).toFixed(0)}%, test process ${(testCpu * 100).toFixed(0)}%; status ${fmt(latency.status)}, create ${fmt(latency.create)}, patch ${fmt(latency.patch)}, read ${fmt(latency.read)}; ` +
        `phases: ${phases.join(', ')}`,
    );
    expect(svc.log()).not.toMatch(/"level":"error"/);
  }, TIMEOUT_MS);
});
