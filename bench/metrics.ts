/**
 * node --import tsx bench/metrics.ts [--sites 10000] [--upstreams 1] [--scrapes 20] [--stale 0.25]
 *
 * GET /metrics at scale, in this process: the real service on a temp database, `sites` sites with
 * `upstreams` upstreams each, a last check per target recorded through the real recorder (a mix of
 * ok, 502 and https with a certificate), then scrapes through the real HTTP server (port 0,
 * loopback), identity and gzip. Between two steady scrapes a `stale` share of the sites gets a new
 * round (as 15 s of a 60 s interval would), and the background renderer is given the time it has
 * between real scrapes. Reports p50/p99 per kind, the first scrape after the rounds (every site
 * stale), a gzip scrape a second after the background pass (1/60 of the sites checked since), the floor (the same bytes written by a bare server over the same loopback), the event
 * loop's longest stall while scraping, and RSS before the first render and after the scrapes.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { serve } from '@hono/node-server';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { siteCreateSchema } from '../src/sites/sites.schemas.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { quantile, round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    upstreams: { type: 'string', default: '1' },
    scrapes: { type: 'string', default: '20' },
    stale: { type: 'string', default: '0.25' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node --import tsx bench/metrics.ts [--sites 10000] [--upstreams 1] [--scrapes 20] [--stale 0.25]: GET /metrics at scale (see the top of the file)');
  process.exit(0);
}
const siteCount = Number(args.sites);
const upstreamCount = Number(args.upstreams);
const scrapes = Number(args.scrapes);
const staleShare = Number(args.stale);
const TOKEN = 'metrics-bench-0123456789abcdef';
const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

const dir = mkdtempSync(join(os.tmpdir(), 'gw-metrics-'));
const svc = buildService(loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TOKEN, LOG_LEVEL: 'silent' }), silentLogger);

const views: SiteView[] = [];
for (let i = 0; i < siteCount; i++) {
  const body = siteCreateSchema.parse({
    name: i % 50 === 0 ? `shop "eu-${i}" \\ main` : `bench-${i}`,
    url: i % 3 === 0 ? `https://site-${i}.bench.test/` : `http://site-${i}.bench.test/`,
    intervalSeconds: 60,
    upstreams: Array.from({ length: upstreamCount }, (_, k) => ({ name: `app-${k + 1}`, url: `http://app-${k + 1}.site-${i}.bench.test:8080/health` })),
  });
  views.push(await svc.sites.create(body));
}

/** A realistic last check: https sites have tls and a certificate, one site in 20 answers 502. */
const check = (site: SiteView, target: string, name: string, at: number, k: number) => {
  const https = target === 'site' && site.url.startsWith('https:');
  const bad = site.id % 20 === 0;
  return {
    siteId: site.id,
    target,
    targetName: name,
    startedAt: at,
    outcome: bad ? ('bad_gateway' as const) : ('ok' as const),
    statusCode: bad ? 502 : 200,
    errorMessage: null,
    addresses: ['10.0.0.1'],
    address: '10.0.0.1',
    dnsMs: 1 + (k % 5) / 10,
    connectMs: 2.3 + (k % 3),
    tlsMs: https ? 9.1 + (k % 4) : null,
    ttfbMs: 14.7 + (k % 7),
    totalMs: 15.2 + (k % 11),
    gateway: bad ? ('nginx' as const) : null,
    ...(https ? { certExpiresAt: Date.now() + 40 * 86_400_000, certIssuer: 'Bench CA' } : {}),
  };
};
let k = 0;
/** Records one round for each of `list` through the real recorder, and hands the stored checks to metrics as the scheduler does. */
const recordRounds = (list: SiteView[]) => {
  const at = Date.now();
  for (let i = 0; i < list.length; i += 500) {
    const rounds: RoundResult[] = list.slice(i, i + 500).map((site) => ({
      site,
      startedAt: at,
      checks: [check(site, 'site', site.name, at, k++), ...site.upstreams.map((u) => check(site, String(u.id), u.name, at, k++))],
    }));
    for (const rows of svc.recorder.record(rounds).values()) svc.metrics.observe(rows as never);
  }
};

const server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;

/** GET on a fresh loopback connection, the whole answer read; ms from request to last byte. */
const get = (p: number, gzip: boolean) =>
  new Promise<{ ms: number; body: Buffer }>((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(
      { host: '127.0.0.1', port: p, path: '/metrics', agent: false, headers: { authorization: `Bearer ${TOKEN}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, body: Buffer.concat(parts) }) : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
  });

/** The event loop's longest stall while `run` runs, seen by a 1 ms timer. */
async function withStall<T>(run: () => Promise<T>): Promise<[T, number]> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  try {
    return [await run(), worst];
  } finally {
    clearInterval(timer);
  }
}

const stats = (xs: number[]) => ({ p50: round(quantile(xs, 0.5), 1), p99: round(quantile(xs, 0.99), 1), max: round(Math.max(...xs), 1) });
/** The background pass that runs about a second before each expected scrape. */
const renderedAll = () => svc.metrics.renderStale();

const t0 = performance.now();
recordRounds(views);
console.log(`${siteCount} sites x ${1 + upstreamCount} targets recorded in ${round((performance.now() - t0) / 1000, 1)} s`);
global.gc?.();
const memBefore = process.memoryUsage();

// The first scrape with every site stale (as right after a start with checks already in).
const [first, firstStall] = await withStall(() => get(port, false));
const identity = first.body;
const lines = identity.toString().split('\n').length - 1;
console.log(`first scrape (all ${siteCount} sites stale): ${round(first.ms, 1)} ms, stall ${round(firstStall, 1)} ms; ${lines} lines, ${mb(identity.length)} MB`);

const times = { identity: [] as number[], gzip: [] as number[] };
const stalls: number[] = [];
let gzBody: Buffer = Buffer.alloc(0);
for (let n = 0; n < scrapes; n++) {
  const sample = views.filter((_, i) => (i + n * 7919) % Math.round(1 / staleShare) === 0);
  recordRounds(sample);
  await renderedAll(); // the background renderer's pass between two real scrapes (15 s)
  for (const gzip of [false, true]) {
    const [res, stall] = await withStall(() => get(port, gzip));
    times[gzip ? 'gzip' : 'identity'].push(res.ms);
    stalls.push(stall);
    if (gzip) gzBody = res.body;
  }
}
// A scrape one second after the background pass: the sites checked in that second (1/60 at 60 s)
// are stale, spread over nearly every group; gzip, as Prometheus asks.
const secondTimes: number[] = [];
for (let n = 0; n < scrapes; n++) {
  await renderedAll();
  recordRounds(views.filter((_, i) => (i + n) % 60 === 0));
  secondTimes.push((await get(port, true)).ms);
}
// A scrape that lands right after a round of `stale` of the sites, before the background has run.
const coldTimes: number[] = [];
for (let n = 0; n < Math.min(5, scrapes); n++) {
  recordRounds(views.filter((_, i) => (i + n) % Math.round(1 / staleShare) === 0));
  coldTimes.push((await get(port, false)).ms);
}
global.gc?.();
const memAfter = process.memoryUsage();
const gunzipped = gunzipSync(gzBody).toString();
const sameFamilies = gunzipped.split('\n').filter((l) => l.startsWith('# TYPE')).join() === identity.toString().split('\n').filter((l) => l.startsWith('# TYPE')).join();

// The floor: the same bytes, written by a bare server over the same loopback.
const floorServer = http.createServer((req, res) => {
  const gz = req.headers['accept-encoding'] === 'gzip';
  res.writeHead(200, { 'content-type': 'text/plain', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
  res.end(gz ? gzBody : identity);
});
await new Promise<void>((resolve) => floorServer.listen(0, '127.0.0.1', resolve));
const floorPort = (floorServer.address() as AddressInfo).port;
const floor = { identity: [] as number[], gzip: [] as number[] };
for (let n = 0; n < scrapes; n++) for (const gzip of [false, true]) floor[gzip ? 'gzip' : 'identity'].push((await get(floorPort, gzip)).ms);

const result = {
  sites: siteCount,
  targets: siteCount * (1 + upstreamCount),
  lines,
  mb: { identity: mb(identity.length), gzip: mb(gzBody.length) },
  firstMs: round(first.ms, 1),
  identity: stats(times.identity),
  gzip: stats(times.gzip),
  gzipSecondAfterPass: stats(secondTimes),
  afterRoundNotRendered: stats(coldTimes),
  floor: { identity: stats(floor.identity), gzip: stats(floor.gzip) },
  ratioToFloor: { identity: round(quantile(times.identity, 0.5)! / quantile(floor.identity, 0.5)!, 2), gzip: round(quantile(times.gzip, 0.5)! / quantile(floor.gzip, 0.5)!, 2) },
  stallMs: { p50: stats(stalls).p50, max: stats(stalls).max },
  rssMb: { beforeRender: mb(memBefore.rss), afterScrapes: mb(memAfter.rss) },
  // The kept lines are Buffers (arrayBuffers); the bench's own copies of the last bodies count too.
  heapMb: { beforeRender: mb(memBefore.heapUsed), afterScrapes: mb(memAfter.heapUsed) },
  arrayBuffersMb: { beforeRender: mb(memBefore.arrayBuffers), afterScrapes: mb(memAfter.arrayBuffers) },
  gzipSameFamilies: sameFamilies,
  keptMb: mb(svc.metrics.counts().keptBytes),
};
console.log(JSON.stringify(result, null, 2));

floorServer.close();
server.close();
svc.metrics.stop();
svc.status.stop();
svc.stopStorage();
closeDatabase(svc.db);
rmSync(dir, { recursive: true, force: true });
