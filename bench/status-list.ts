/**
 * flock /tmp/bench.lock node --import tsx bench/status-list.ts [--sites 10000] [--calls 30] [--token]
 *
 * Where the time of one `GET /api/status` (the whole list) goes, without probes: the service is
 * built on a temp database with `--sites` sites and one round of checks each, then served over
 * loopback HTTP while synthetic rounds of a steady share of the sites are recorded every 200 ms
 * (as at 10,000 sites checked every 60 s), and a client in a child process reads the whole list
 * once a second, as window B of bench/run.ts does. Reports the client's latency, the server's
 * time from the request to the last byte handed to the socket, and the part of it spent building
 * the list's body (`listBody`). `--legacy` also times, first, the way the route answered before
 * (the list's text joined into one string and written as a string), for a before/after in one run.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { siteBody } from './lib/names.js';
import { quantile, round } from './lib/stats.js';

const TOKEN = 'status-token-0123456789abcdef';
const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    calls: { type: 'string', default: '30' },
    pause: { type: 'string', default: '1000' },
    token: { type: 'boolean', default: false },
    gzip: { type: 'boolean', default: false },
    client: { type: 'string' },
    path: { type: 'string', default: '/api/status' },
    legacy: { type: 'boolean', default: false },
  },
});

const summary = (xs: number[]) => ({ p50: round(quantile(xs, 0.5)), p99: round(quantile(xs, 0.99)), max: round(quantile(xs, 1)) });

if (args.client) {
  // The client: one call at a time on a kept-alive socket, the whole body read.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let bytes = 0;
  const headers: Record<string, string> = {};
  if (args.token) headers.authorization = `Bearer ${TOKEN}`;
  if (args.gzip) headers['accept-encoding'] = 'gzip';
  for (let n = 0; n < Number(args.calls); n++) {
    const t = performance.now();
    bytes = await new Promise<number>((resolve, reject) => {
      http
        .get(`${args.client}${args.path}`, { agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).length));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    latencies.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, Number(args.pause)));
  }
  agent.destroy();
  process.send!({ latencies, bytes });
  process.exit(0);
}

const sites = Number(args.sites);
const dir = mkdtempSync(join(os.tmpdir(), 'gw-status-'));
const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
const svc = buildService(config, silentLogger);
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

for (let i = 0; i < sites; i++) {
  const body = siteBody(i, { ports: [8080], upstreams: 1, intervalSeconds: 60, timeoutMs: 5000 });
  const res = await svc.app.request('/api/sites', { method: 'POST', headers: auth, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
}
const views = svc.sites.list();
const check = (siteId: number, target: string, targetName: string, at: number, i: number) => ({
  siteId,
  target,
  targetName,
  startedAt: at,
  outcome: 'ok' as const,
  statusCode: 200,
  errorMessage: null,
  addresses: ['127.0.0.10'],
  address: '127.0.0.10',
  dnsMs: 1,
  connectMs: 1,
  tlsMs: null,
  ttfbMs: 2 + (i % 7),
  totalMs: 3 + (i % 7),
  gateway: null,
});
let next = 0;
/** Records rounds of the next `count` sites, as the scheduler's batches bring them. */
const recordRounds = (count: number) => {
  const list: RoundResult[] = [];
  const at = Date.now();
  for (let k = 0; k < count; k++, next++) {
    const site = views[next % views.length];
    list.push({ site, startedAt: at, checks: [check(site.id, 'site', site.name, at, next), ...site.upstreams.map((u) => check(site.id, String(u.id), u.name, at, next))] });
  }
  svc.recorder.record(list);
};
recordRounds(sites);

// Time spent building the list's body, per call.
const listMs: number[] = [];
const timed = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
  async (...a: A): Promise<R> => {
    const t = performance.now();
    const out = await fn(...a);
    listMs.push(performance.now() - t);
    return out;
  };
svc.status.listBody = timed(svc.status.listBody.bind(svc.status));
const listJson = timed(svc.status.listJson.bind(svc.status));

// The route as it was before listBody: the list's text in one string, sent as a string (its ids
// now come from the ids the service keeps, as listBody's do: it times the serialising alone).
const app = new Hono();
app.get('/legacy/api/status', async (c) => {
  const total = args.token ? svc.sites.count() : svc.status.publicCount();
  const sites = await listJson(0, -1, args.token);
  return c.body(`{"generatedAt":${Date.now()},"total":${total},"offset":0,"sites":${sites}}`, 200, { 'Content-Type': 'application/json' });
});
app.route('/', svc.app);

const server: ServerType = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
});
const serverMs: number[] = [];
server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
  const t = performance.now();
  res.on('finish', () => serverMs.push(performance.now() - t));
});
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
// One warm read of the variant the client reads, as the bench's warm-up does.
await (await svc.app.request('/api/status', { headers: args.token ? auth : {} })).text();

const churn = setInterval(() => recordRounds(Math.round(sites / 60 / 5)), 200);
/** Runs the client against `path` and reports what the client and this process saw. */
const measure = async (path: string) => {
  listMs.length = 0;
  serverMs.length = 0;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const child = fork(new URL(import.meta.url).pathname, ['--client', api, '--path', path, '--calls', String(args.calls), '--pause', String(args.pause), ...(args.token ? ['--token'] : []), ...(args.gzip ? ['--gzip'] : [])], {
    execArgv: process.execArgv,
  });
  const report = await new Promise<{ latencies: number[]; bytes: number }>((resolve) => child.once('message', (m) => resolve(m as never)));
  delay.disable();
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  const memory = process.memoryUsage();
  return {
    path,
    bytes: report.bytes,
    clientMs: summary(report.latencies),
    serverMs: summary(serverMs),
    listMs: summary(listMs),
    eventLoopDelayMs: { p50: round(delay.percentile(50) / 1e6), p99: round(delay.percentile(99) / 1e6), max: round(delay.max / 1e6) },
    cpuPctOfOneCore: round(((cpu.user + cpu.system) / 1000 / ms) * 100, 1),
    rssMB: round(memory.rss / 2 ** 20, 1),
    heapUsedMB: round(memory.heapUsed / 2 ** 20, 1),
  };
};
const runs = [];
if (args.legacy) runs.push(await measure('/legacy/api/status'));
runs.push(await measure(String(args.path)));
clearInterval(churn);
console.log(JSON.stringify({ sites, token: args.token, gzip: args.gzip, runs, cache: svc.status.cacheStats() }, null, 1));
server.close();
svc.status.stop();
closeDatabase(svc.db);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
