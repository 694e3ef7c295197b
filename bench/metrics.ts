/**
 * node --expose-gc --import tsx bench/metrics.ts [--sites 10000] [--upstreams 1] [--scrapes 10] [--stale 0.25] [--cleanup 200] [--no-restart] [--profile DIR]
 *
 * GET /metrics at scale, in this process: the real service on a temp database, `sites` sites with
 * `upstreams` upstreams each, a last check per target recorded through the real recorder (a mix of
 * ok, 502 and https with a certificate; whole milliseconds, as the probe measures them), then
 * scrapes through the real HTTP server (port 0, loopback), gzip as Prometheus asks unless said.
 * The scrapes a Prometheus meets, in order:
 * - boot: the service is started again on the same database (its boot pass renders every site
 *   from the status snapshot), a `stale` share of the sites gets a round (15 s of a 60 s
 *   interval), then the first scrape; with `--no-restart`, the first scrape is the first render of
 *   every site in the process (as in the full bench, whose sites are created after boot);
 * - second: another `stale` share, then a scrape (the interval is not known yet: no pass ran);
 * - steady: the background pass (it runs every second), then the sites due in the next second of
 *   a 60 s interval checked (their phase, as the scheduler spreads them), then a scrape; `scrapes`
 *   times;
 * - identity: the same without Accept-Encoding;
 * - quiet: every site checked since the last scrape (a scraper back after a minute or more), then
 *   a scrape; 3 times, and once identity;
 * - cleanup: `cleanup` sites deleted across the fleet (nearly every group loses one, as at the end
 *   of the full bench's window C), then a scrape; 3 times.
 * Each with the event loop's longest stall while it ran (a 1 ms timer). Also the floor (the same
 * bytes written by a bare server over the same loopback), and RSS and heap before the first
 * render and after the scrapes. `--profile DIR` writes a CPU profile of the first quiet scrape and of the first cleanup scrape.
 */
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { serve } from '@hono/node-server';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import { phaseShare } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { createMetricsFleet, recordRounds as recordFleetRounds } from './lib/metrics-fleet.js';
import { quantile, round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    upstreams: { type: 'string', default: '1' },
    scrapes: { type: 'string', default: '10' },
    stale: { type: 'string', default: '0.25' },
    'no-restart': { type: 'boolean', default: false },
    cleanup: { type: 'string', default: '200' },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node --expose-gc --import tsx bench/metrics.ts [--sites 10000] [--upstreams 1] [--scrapes 10] [--stale 0.25] [--profile DIR]: GET /metrics at scale (see the top of the file)');
  process.exit(0);
}
const siteCount = Number(args.sites);
const upstreamCount = Number(args.upstreams);
const scrapes = Number(args.scrapes);
const staleShare = Number(args.stale);
const cleanupCount = Number(args.cleanup);
const TOKEN = 'metrics-bench-0123456789abcdef';
const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

const dir = mkdtempSync(join(os.tmpdir(), 'gw-metrics-'));
const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
let svc = buildService(config, silentLogger);

const views = await createMetricsFleet(svc, siteCount, upstreamCount);

/** Records one round for each of `list` (the current service's). */
const recordRounds = (list: SiteView[]) => recordFleetRounds(svc, list);
/** The sites whose rounds fall in second `second` of a 60 s interval (the scheduler's phases). */
const dueIn = (second: number) => views.filter((v) => Math.floor(phaseShare(v.id) * 60) === second % 60);
let dueSecond = 0;
/** A `share` of the sites, a different one each time. */
let turn = 0;
const someSites = (share: number) => {
  const every = Math.round(1 / share);
  const offset = turn++ % every;
  return views.filter((_, i) => i % every === offset);
};

/** Starts the HTTP server of the current service on a loopback port. */
const listen = async () => {
  const server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, port: (server.address() as AddressInfo).port };
};

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
/** One scrape: ms to the last byte, and the event loop's longest stall meanwhile. */
const scrapeOnce = async (port: number, gzip: boolean) => {
  const [res, stall] = await withStall(() => get(port, gzip));
  return { ms: Math.round(res.ms * 10) / 10, stallMs: Math.round(stall * 10) / 10, body: res.body };
};
const idle = async () => {
  // Let the event loop settle (timers, compression callbacks) before the next measure.
  await new Promise((resolve) => setTimeout(resolve, 50));
  global.gc?.();
};

const t0 = performance.now();
recordRounds(views);
console.log(`${siteCount} sites x ${1 + upstreamCount} targets recorded in ${round((performance.now() - t0) / 1000, 1)} s`);

if (!args['no-restart']) {
  // A restart: the service stops (its snapshot flushed) and starts again on the same database.
  await svc.snapshot.flush();
  svc.metrics.stop();
  svc.status.stop();
  svc.stopStorage();
  closeDatabase(svc.db);
  const bootT0 = performance.now();
  svc = buildService(config, silentLogger);
  const built = performance.now() - bootT0;
  await svc.metrics.renderStale(); // the boot pass (planned at once by the service), waited for to its end
  console.log(`service built again in ${round(built, 1)} ms, boot pass to its end ${round(performance.now() - bootT0, 1)} ms`);
}
global.gc?.();
const memBefore = process.memoryUsage();
const { server, port } = await listen();

recordRounds(someSites(staleShare));
const boot = await scrapeOnce(port, true);
const identityBody = (await get(port, false)).body;
const lines = identityBody.toString().split('\n').length - 1;
await idle();
recordRounds(someSites(staleShare));
const second = await scrapeOnce(port, true);
console.log(`first scrape after boot ${boot.ms} ms (stall ${boot.stallMs}), second ${second.ms} ms (stall ${second.stallMs}); ${lines} lines, ${mb(identityBody.length)} MB`);

const steady: { ms: number; stallMs: number }[] = [];
const identity: { ms: number; stallMs: number }[] = [];
let gzBody: Buffer = Buffer.alloc(0);
for (let n = 0; n < scrapes; n++) {
  for (const gzip of [true, false]) {
    await svc.metrics.renderStale(); // the background pass (every second)
    recordRounds(dueIn(dueSecond++)); // the sites checked in the second since
    await idle();
    const res = await scrapeOnce(port, gzip);
    (gzip ? steady : identity).push(res);
    if (gzip) gzBody = res.body;
  }
}

/** `run`, and with --profile DIR a CPU profile of it in DIR/`file`. */
async function profiled<T>(file: string | null, run: () => Promise<T>): Promise<T> {
  if (file === null || !args.profile) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(args.profile, { recursive: true });
    writeFileSync(join(args.profile, file), JSON.stringify(profile));
    session.disconnect();
  }
}

const quiet: { ms: number; stallMs: number }[] = [];
for (let n = 0; n < 3; n++) {
  recordRounds(views); // every site checked since the last scrape
  await idle();
  quiet.push(await profiled(n === 0 ? 'metrics-quiet-scrape.cpuprofile' : null, () => scrapeOnce(port, true)));
}
recordRounds(views);
await idle();
const quietIdentity = await scrapeOnce(port, false);

// Cleanup: `cleanup` sites deleted across the fleet just before a scrape (what window C of the
// full bench ends with: nearly every group has a site to drop), 3 times, different sites each.
const cleanup: { ms: number; stallMs: number }[] = [];
for (let n = 0; n < 3; n++) {
  await svc.metrics.renderStale(); // the background passes had caught up before the deletions
  const every = Math.floor(views.length / cleanupCount);
  const gone = views.filter((_, i) => i % every === n && i / every < cleanupCount);
  for (const v of gone) {
    svc.sites.delete(v.id);
    svc.metrics.siteRemoved(v.id);
  }
  await idle();
  cleanup.push(await profiled(n === 0 ? 'metrics-cleanup-scrape.cpuprofile' : null, () => scrapeOnce(port, true)));
}

global.gc?.();
const memAfter = process.memoryUsage();
const gunzipped = gunzipSync(gzBody).toString();
const sameFamilies = gunzipped.split('\n').filter((l) => l.startsWith('# TYPE')).join() === identityBody.toString().split('\n').filter((l) => l.startsWith('# TYPE')).join();

// The floor: the same bytes, written by a bare server over the same loopback.
const floorServer = http.createServer((req, res) => {
  const gz = req.headers['accept-encoding'] === 'gzip';
  res.writeHead(200, { 'content-type': 'text/plain', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
  res.end(gz ? gzBody : identityBody);
});
await new Promise<void>((resolve) => floorServer.listen(0, '127.0.0.1', resolve));
const floorPort = (floorServer.address() as AddressInfo).port;
const floor = { identity: [] as number[], gzip: [] as number[] };
for (let n = 0; n < scrapes; n++) for (const gzip of [false, true]) floor[gzip ? 'gzip' : 'identity'].push((await get(floorPort, gzip)).ms);

const brief = (xs: { ms: number; stallMs: number }[]) => ({ ...stats(xs.map((x) => x.ms)), stallMax: round(Math.max(...xs.map((x) => x.stallMs)), 1) });
const result = {
  sites: siteCount,
  targets: siteCount * (1 + upstreamCount),
  lines,
  mb: { identity: mb(identityBody.length), gzip: mb(gzBody.length) },
  boot: { ms: boot.ms, stallMs: boot.stallMs },
  second: { ms: second.ms, stallMs: second.stallMs },
  steady: brief(steady),
  identity: brief(identity),
  quiet: { each: quiet.map((q) => q.ms), stallMax: round(Math.max(...quiet.map((q) => q.stallMs)), 1) },
  quietIdentity: { ms: quietIdentity.ms, stallMs: quietIdentity.stallMs },
  cleanup: { sites: cleanupCount, each: cleanup.map((q) => q.ms), stallMax: round(Math.max(...cleanup.map((q) => q.stallMs)), 1) },
  floor: { identity: stats(floor.identity), gzip: stats(floor.gzip) },
  rssMb: { beforeScrapes: mb(memBefore.rss), afterScrapes: mb(memAfter.rss) },
  // The kept lines are Buffers (arrayBuffers); the bench's own copies of the last bodies count too.
  heapMb: { beforeScrapes: mb(memBefore.heapUsed), afterScrapes: mb(memAfter.heapUsed) },
  arrayBuffersMb: { beforeScrapes: mb(memBefore.arrayBuffers), afterScrapes: mb(memAfter.arrayBuffers) },
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
