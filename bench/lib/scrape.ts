/**
 * Window D of the bench: a Prometheus server's view of GET /metrics. Scrapes every `everyMs`
 * (the first at once) for `durationMs` with `Accept-Encoding: gzip`, as Prometheus asks, reading
 * each whole answer, and reports how long a scrape took (request to last byte) and how big the
 * exposition was (on the wire and decoded); then one identity scrape, for comparison. The
 * scheduler's lag while it ran is measured by the window around it. It runs in the bench's load
 * process (bench/targets.ts), as Prometheus is a process of its own; `--scrape-in-process` runs it
 * in the service's process, where reading 12 MB costs the service's event loop too.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { quantile, round } from './stats.js';

export interface ScrapeReport {
  scrapes: number;
  failures: number;
  everyMs: number;
  /** What the answers were sent as (gzip when the service honours the header). */
  encoding: string;
  /** Of the last scrape, decoded. */
  bytes: number;
  /** Of the last scrape, as sent. */
  wireBytes: number;
  lines: number;
  ms: { p50: number | null; p99: number | null; max: number | null };
  /** Each scrape in order (ms): the first ones find everything changed since boot to render. */
  each: number[];
  /** Each scrape's time to its first byte of body (ms): what the service did before it could send (the render of stale groups). */
  eachFirstByte: number[];
  /**
   * From the third scrape on, once the service knows the interval and renders ahead of it: what a
   * Prometheus scraping all along meets (null with fewer than three scrapes).
   */
  steady: { p50: number | null; max: number | null } | null;
  /** One scrape without Accept-Encoding after the window: ms and bytes (null when it failed). */
  identity: { ms: number; firstByteMs: number; bytes: number } | null;
}

const countLines = (text: Buffer) => {
  let n = 0;
  for (let at = text.indexOf(10); at >= 0; at = text.indexOf(10, at + 1)) n++;
  return n;
};

/** GET /metrics on a kept-alive connection: status, Content-Encoding, body as sent, ms to the first and to the last byte. */
const get = (url: URL, token: string, agent: http.Agent, gzip: boolean) =>
  new Promise<{ status: number; encoding: string; body: Buffer; ms: number; firstByteMs: number }>((resolve, reject) => {
    const t0 = performance.now();
    let firstByteMs = -1;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) };
    const req = http.get(url, { agent, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - t0;
        parts.push(d);
      });
      res.on('error', reject);
      res.on('end', () => {
        // Timed at the last byte, before the parts are joined (12 MB copied for an identity answer).
        const ms = performance.now() - t0;
        resolve({ status: res.statusCode ?? 0, encoding: String(res.headers['content-encoding'] ?? 'identity'), body: Buffer.concat(parts), ms, firstByteMs });
      });
    });
    req.on('error', reject);
  });

/**
 * GW_SCRAPE_PROFILE=DIR: a CPU profile (this process: the service and this scraper) of each of the
 * first two scrapes and of the identity one, written to DIR/scrape-<n>.cpuprofile.
 */
const profileDir = process.env.GW_SCRAPE_PROFILE;
async function profiled<T>(name: string | null, run: () => Promise<T>): Promise<T> {
  if (!profileDir || name === null) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(profileDir, `scrape-${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

export async function scrapeMetrics(opts: { api: string; token: string; everyMs: number; durationMs: number }): Promise<ScrapeReport> {
  const url = new URL(`${opts.api}/metrics`);
  const agent = new http.Agent({ keepAlive: true });
  const end = Date.now() + opts.durationMs;
  const times: number[] = [];
  const firstBytes: number[] = [];
  let failures = 0;
  let encoding = '';
  let bytes = 0;
  let wireBytes = 0;
  let lines = 0;
  try {
    for (let next = Date.now(); next < end; next += opts.everyMs) {
      const wait = next - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        const res = await profiled(times.length < 2 ? String(times.length + 1) : null, () => get(url, opts.token, agent, true));
        times.push(res.ms);
        firstBytes.push(res.firstByteMs);
        if (res.status !== 200) failures++;
        encoding = res.encoding;
        wireBytes = res.body.length;
        // Lines counted on the bytes: with --scrape-in-process the scraper shares the service's
        // process, and a 12 MB string split into 130,000 lines was garbage the next scrape paid for.
        const text = res.encoding === 'gzip' ? gunzipSync(res.body) : res.body;
        bytes = text.length;
        lines = countLines(text);
      } catch {
        failures++;
      }
    }
    let identity: ScrapeReport['identity'] = null;
    try {
      const res = await profiled('identity', () => get(url, opts.token, agent, false));
      if (res.status === 200) identity = { ms: round(res.ms, 1)!, firstByteMs: round(res.firstByteMs, 1)!, bytes: res.body.length };
    } catch {
      /* reported as null */
    }
    return {
      scrapes: times.length,
      failures,
      everyMs: opts.everyMs,
      encoding,
      bytes,
      wireBytes,
      lines,
      ms: { p50: round(quantile(times, 0.5), 1), p99: round(quantile(times, 0.99), 1), max: round(times.length ? Math.max(...times) : null, 1) },
      each: times.map((t) => round(t, 1)!),
      eachFirstByte: firstBytes.map((t) => round(t, 1)!),
      steady: times.length >= 3 ? { p50: round(quantile(times.slice(2), 0.5), 1), max: round(Math.max(...times.slice(2)), 1) } : null,
      identity,
    };
  } finally {
    agent.destroy();
  }
}
