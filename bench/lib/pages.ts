/**
 * The pages window: GET / (the public status page) as the service renders it, with 50 and with
 * 1,000 public sites, and a poller that loads it every second while the scheduler runs.
 *
 * Server time is measured in-process (`app.request`: routing, reading, rendering, compressing;
 * no socket), so that the figure is the server's alone, over many loads a short pause apart (a
 * p99 of 30 loads is their worst one). The slowest loads are explained: the garbage collection
 * that overlapped each, and whether the page had changed since the load before (a new build,
 * tagged and compressed) or not (the kept bytes). `GW_PAGES_PROFILE=DIR` also writes a CPU
 * profile of each measure there (open it in Chrome's DevTools). Bytes are what goes over the wire with
 * `Accept-Encoding: br` and with `gzip`. Past days: one day rollup per site for the 89
 * days before today (what the page reads for its bars, as on an instance that has run for 90 days).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import type { Database } from 'better-sqlite3';
import type { RollupsRepository } from '../../src/checks/rollups.repository.js';
import { round as roundOrNull } from './stats.js';

const round = (v: number, digits: number) => roundOrNull(v, digits) ?? v;

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One of the slowest loads, and what overlapped it. */
export interface SlowLoad {
  ms: number;
  /** Garbage collection on the main thread during the load (ms), with its kinds. */
  gcMs: number;
  gcKinds: string[];
  /** The page had changed since the load before: built anew (tagged, compressed), not the kept bytes. */
  changed: boolean;
}

export interface PagesFigures {
  publicSites: number;
  requests: number;
  pauseMs: number;
  serverMs: { p50: number; p99: number; max: number };
  /** Loads that got a page that had changed since the load before. */
  changedLoads: number;
  slowest: SlowLoad[];
  bytes: { html: number; br: number; gzip: number };
}

const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak', 16: 'major' };

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

/**
 * 89 past days of day rollups for every site (one row per site and day), as housekeeping writes
 * them, and the hour rollups of the 23 full hours before this one, as the recorder writes them
 * when an hour closes: without them the service, having closed no hour yet, reads every hour of
 * the last day from raw checks, as only an instance in its first hour does.
 */
export function seedHistory(sqlite: Database, rollups: RollupsRepository, now: number): number {
  const today = Math.floor(now / DAY) * DAY;
  const hour = Math.floor(now / HOUR) * HOUR;
  const ids = (sqlite.prepare('SELECT id FROM sites').all() as { id: number }[]).map((r) => r.id);
  let rows = 0;
  sqlite.transaction(() => {
    const hours = [];
    for (let h = 23; h >= 1; h--) {
      for (const siteId of ids) {
        hours.push({ siteId, target: 'site', bucket: hour - h * HOUR, count: 60, okCount: 60, failures: {}, latencySumMs: 60 * 3, latencyHist: [0, 0, 0, 60] });
      }
    }
    rollups.writeHours(hours);
    rows += hours.length;
    for (let d = 89; d >= 1; d--) {
      const day = today - d * DAY;
      rollups.writeDays(
        day,
        ids.map((id) => {
          // A failing day now and then, so the page is not one repeated bar.
          const failed = (id * 31 + d * 17) % 97 === 0 ? 12 : 0;
          return {
            key: rollups.keyOf(id, 'site', true),
            f: { count: 1440, okCount: 1440 - failed, failures: failed ? { bad_gateway: failed } : {}, latencySumMs: 1440 * 3, latencyHist: [0, 0, 0, 1440] },
            worst: null,
          };
        }),
      );
      rows += ids.length;
    }
  })();
  return rows;
}

/** Makes the first `n` sites (by id) public and the others private. */
export function setPublicSites(sqlite: Database, n: number): void {
  sqlite.prepare('UPDATE sites SET public = (id IN (SELECT id FROM sites ORDER BY id LIMIT ?))').run(n);
}

/** `requests` loads of / with `pauseMs` between them: server time, what the slowest met, the bytes of each encoding. */
export async function measurePage(app: App, publicSites: number, requests: number, pauseMs: number): Promise<PagesFigures> {
  const loads: { t0: number; t1: number; changed: boolean }[] = [];
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const profileDir = process.env.GW_PAGES_PROFILE;
  const profiler = profileDir ? new Session() : null;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
    await profiler.post('Profiler.start');
  }
  const size = async (encoding: string) => (await (await app.request('/', { headers: { 'Accept-Encoding': encoding } })).arrayBuffer()).byteLength;
  let lastTag: string | null = null;
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    const res = await app.request('/', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    await res.arrayBuffer();
    const t1 = performance.now();
    if (res.status !== 200) throw new Error(`GET / answered ${res.status}`);
    const tag = res.headers.get('etag');
    loads.push({ t0, t1, changed: lastTag !== null && tag !== lastTag });
    lastTag = tag;
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(`${profileDir}/pages-${publicSites}.cpuprofile`, JSON.stringify(profile));
    profiler.disconnect();
  }
  await new Promise((r) => setImmediate(r)); // the last gc entries are delivered asynchronously
  observer.disconnect();
  const times = loads.map((l) => l.t1 - l.t0).sort((a, b) => a - b);
  const slowest = [...loads]
    .sort((a, b) => b.t1 - b.t0 - (a.t1 - a.t0))
    .slice(0, 3)
    .map((l): SlowLoad => {
      const overlapping = gcs.filter((g) => g.startTime < l.t1 && g.startTime + g.duration > l.t0);
      const gcMs = overlapping.reduce((a, g) => a + Math.min(l.t1, g.startTime + g.duration) - Math.max(l.t0, g.startTime), 0);
      const kinds = overlapping.map((g) => GC_KINDS[(g as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'gc');
      return { ms: round(l.t1 - l.t0, 1), gcMs: round(gcMs, 1), gcKinds: [...new Set(kinds)], changed: l.changed };
    });
  return {
    publicSites,
    requests,
    pauseMs,
    serverMs: { p50: round(quantile(times, 0.5), 1), p99: round(quantile(times, 0.99), 1), max: round(times[times.length - 1], 1) },
    changedLoads: loads.filter((l) => l.changed).length,
    slowest,
    bytes: { html: await size('identity'), br: await size('br'), gzip: await size('gzip') },
  };
}

/** Loads / every `pauseMs` for `durationMs` (the load of a window): calls, failures, server time. */
export async function pollPage(app: App, durationMs: number, pauseMs: number) {
  const until = performance.now() + durationMs;
  const times: number[] = [];
  let failures = 0;
  while (performance.now() < until) {
    const t0 = performance.now();
    const res = await app.request('/', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    if (res.status !== 200) failures++;
    await new Promise((r) => setTimeout(r, Math.max(0, pauseMs - (performance.now() - t0))));
  }
  times.sort((a, b) => a - b);
  return { calls: times.length, failures, serverMs: { p50: round(quantile(times, 0.5), 1), p99: round(quantile(times, 0.99), 1), max: round(times[times.length - 1] ?? 0, 1) } };
}
