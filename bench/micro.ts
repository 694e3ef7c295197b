/**
 * node --import tsx bench/micro.ts [--sites 10000] [--upstreams 1]
 *
 * The service's own costs without the network, in this process on a temp database: creating
 * sites through the app (no socket), recording rounds of synthetic checks in batches the size
 * the scheduler makes at that scale, GET /api/status (whole and a page), and the hourly fold
 * (hour rollups written, status snapshot moved forward). Complements bench/run.ts,
 * whose figures include probing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { siteBody } from './lib/names.js';
import { quantile, round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    upstreams: { type: 'string', default: '1' },
    interval: { type: 'string', default: '60' },
  },
});
const sites = Number(args.sites);
const upstreams = Number(args.upstreams);
const intervalS = Number(args.interval);
const HOUR = 3_600_000;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const dir = mkdtempSync(join(os.tmpdir(), 'gw-micro-'));
// A clock an hour and a bit ago, moved by hand: the fold at the end has a finished hour to roll up.
let now = Math.floor(Date.now() / HOUR) * HOUR - HOUR + 1000;
const clock = { now: () => now };
const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: 'micro-token-0123456789abcdef', LOG_LEVEL: 'silent' });
const svc = buildService(config, silentLogger, { clock });
const auth = { authorization: 'Bearer micro-token-0123456789abcdef', 'content-type': 'application/json' };
const out: Record<string, unknown> = { sites, upstreams };

// 1. Creation through the app, no socket (the scheduler is not started: no probes).
{
  const t0 = performance.now();
  const c0 = cpuMs();
  for (let i = 0; i < sites; i++) {
    const body = siteBody(i, { ports: [8080], upstreams, intervalSeconds: intervalS, timeoutMs: 5000 });
    const res = await svc.app.request('/api/sites', { method: 'POST', headers: auth, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  }
  const ms = performance.now() - t0;
  out.create = { perSecond: round((sites / ms) * 1000, 0), cpuMsPerSite: round((cpuMs() - c0) / sites, 3) };
  console.log('create', out.create);
}

// 2. Recording: rounds of healthy checks, in batches of what 25 ms brings at this scale.
const views = svc.sites.list();
const batch = Math.max(1, Math.round((sites / intervalS) * 0.2)); // rounds finishing within the recorder's 200 ms batching
const check = (siteId: number, target: string, targetName: string, at: number) => ({
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
  ttfbMs: 2 + (siteId % 7),
  totalMs: 3 + (siteId % 7),
  gateway: null,
});
{
  const rounds = 2 * sites; // two rounds of every site
  const times: number[] = [];
  const c0 = cpuMs();
  let done = 0;
  while (done < rounds) {
    const list: RoundResult[] = [];
    for (let k = 0; k < batch && done < rounds; k++, done++) {
      const site = views[done % views.length];
      now += (intervalS * 1000) / sites;
      list.push({
        site,
        startedAt: now,
        checks: [check(site.id, 'site', site.name, now), ...site.upstreams.map((u) => check(site.id, String(u.id), u.name, now))],
      });
    }
    const t = performance.now();
    svc.recorder.record(list);
    times.push(performance.now() - t);
  }
  const cpu = cpuMs() - c0;
  out.record = {
    batchRounds: batch,
    cpuMsPerCheck: round(cpu / (rounds * (1 + upstreams)), 4),
    batchMs: { p50: round(quantile(times, 0.5)), p99: round(quantile(times, 0.99)), max: round(quantile(times, 1)) },
  };
  console.log('record', out.record);
}

// 3. Status: the whole list (anonymous and with the token) and a page of 1000.
{
  const time = async (path: string, headers: Record<string, string> = {}) => {
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const res = await svc.app.request(path, { headers });
      bytes = (await res.text()).length;
      times.push(performance.now() - t);
    }
    return { p50: round(quantile(times, 0.5)), max: round(quantile(times, 1)), kib: Math.round(bytes / 1024) };
  };
  out.status = {
    all: await time('/api/status'),
    allWithToken: await time('/api/status', auth),
    page1000: await time(`/api/status?limit=1000&offset=${Math.max(0, sites - 1000)}`),
    one: await time('/api/status/1', auth),
  };
  console.log('status', out.status);
}

// 4. The hourly fold: the hour of all the checks above written to the hour rollups, then the snapshot moved forward.
{
  now = Math.floor(now / HOUR) * HOUR + HOUR + 5 * 60_000;
  const tw = performance.now();
  const written = svc.recorder.hours.flushClosed(now);
  out.hourWrite = { rows: written, ms: round(performance.now() - tw, 1) };
  const t = performance.now();
  const c0 = cpuMs();
  await svc.housekeeping.runOnce();
  out.fold = { ms: round(performance.now() - t, 1), cpuMs: round(cpuMs() - c0, 1) };
  const hours = svc.db.$client.prepare('SELECT COUNT(*) AS n FROM rollup_hours').get() as { n: number };
  console.log('hour rollups written', out.hourWrite, 'fold', out.fold, hours);
}

closeDatabase(svc.db);
rmSync(dir, { recursive: true, force: true });
