/**
 * The pages window: GET / (the public status page) as the service renders it, with 50 and with
 * 1,000 public sites, and a poller that loads it every second while the scheduler runs.
 *
 * Server time is measured in-process (`app.request`: routing, reading, rendering, compressing;
 * no socket), so that the figure is the server's alone. Bytes are what goes over the wire with
 * `Accept-Encoding: br` and with `gzip`. Past days: one day rollup per site for the 89
 * days before today (what the page reads for its bars, as on an instance that has run for 90 days).
 */
import { performance } from 'node:perf_hooks';
import type { Database } from 'better-sqlite3';
import type { RollupsRepository } from '../../src/checks/rollups.repository.js';
import { round as roundOrNull } from './stats.js';

const round = (v: number, digits: number) => roundOrNull(v, digits) ?? v;

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface PagesFigures {
  publicSites: number;
  requests: number;
  serverMs: { p50: number; p99: number; max: number };
  bytes: { html: number; br: number; gzip: number };
}

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

/** 89 past days of day rollups for every site (one row per site and day), as housekeeping writes them. */
export function seedHistory(sqlite: Database, rollups: RollupsRepository, now: number): number {
  const today = Math.floor(now / DAY) * DAY;
  const ids = (sqlite.prepare('SELECT id FROM sites').all() as { id: number }[]).map((r) => r.id);
  let rows = 0;
  sqlite.transaction(() => {
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

/** `requests` loads of / with `pauseMs` between them: server time, and the bytes of each encoding. */
export async function measurePage(app: App, publicSites: number, requests: number, pauseMs: number): Promise<PagesFigures> {
  const times: number[] = [];
  const size = async (encoding: string) => (await (await app.request('/', { headers: { 'Accept-Encoding': encoding } })).arrayBuffer()).byteLength;
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    const res = await app.request('/', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`GET / answered ${res.status}`);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  times.sort((a, b) => a - b);
  return {
    publicSites,
    requests,
    serverMs: { p50: round(quantile(times, 0.5), 1), p99: round(quantile(times, 0.99), 1), max: round(times[times.length - 1], 1) },
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
