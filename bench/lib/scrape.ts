/**
 * Window D of the bench: a Prometheus server's view of GET /metrics. Scrapes every `everyMs`
 * (the first at once) for `durationMs`, reading each whole answer, and reports how long a scrape
 * took (request to last byte) and how big the exposition was. The scheduler's lag while it ran
 * is measured by the window around it.
 */
import { quantile, round } from './stats.js';

export interface ScrapeReport {
  scrapes: number;
  failures: number;
  everyMs: number;
  /** Of the last scrape. */
  bytes: number;
  lines: number;
  ms: { p50: number | null; p99: number | null; max: number | null };
}

export async function scrapeMetrics(opts: { api: string; token: string; everyMs: number; durationMs: number }): Promise<ScrapeReport> {
  const end = Date.now() + opts.durationMs;
  const times: number[] = [];
  let failures = 0;
  let bytes = 0;
  let lines = 0;
  for (let next = Date.now(); next < end; next += opts.everyMs) {
    const wait = next - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const t0 = performance.now();
    try {
      const res = await fetch(`${opts.api}/metrics`, { headers: { authorization: `Bearer ${opts.token}` } });
      const text = await res.text();
      times.push(performance.now() - t0);
      if (res.status !== 200) failures++;
      bytes = Buffer.byteLength(text);
      lines = text.split('\n').length - 1;
    } catch {
      failures++;
    }
  }
  return {
    scrapes: times.length,
    failures,
    everyMs: opts.everyMs,
    bytes,
    lines,
    ms: { p50: round(quantile(times, 0.5), 1), p99: round(quantile(times, 0.99), 1), max: round(times.length ? Math.max(...times) : null, 1) },
  };
}
