import type { Outcome } from '../probes/probes.types.js';
import type { NewCheckRow } from './checks.table.js';

/** Upper bounds (ms) of the latency histogram buckets: 1.5x apart, from 1 ms to ~5 min. */
export const LATENCY_BOUNDS = Array.from({ length: 32 }, (_, i) => Math.round(1.5 ** i));

export const bucketOf = (ms: number) => {
  for (let i = 0; i < LATENCY_BOUNDS.length; i++) if (ms <= LATENCY_BOUNDS[i]) return i;
  return LATENCY_BOUNDS.length - 1;
};

/** A percentile (0..1) read off a merged histogram: the bucket's upper bound. */
export function percentileOf(hist: number[], p: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= rank) return LATENCY_BOUNDS[i];
  }
  return LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1];
}

/** Adds two histograms (either may be shorter: missing buckets count 0). */
export const mergeHist = (a: number[], b: number[]) => {
  const out = a.slice();
  for (let i = 0; i < b.length; i++) out[i] = (out[i] ?? 0) + b[i];
  return out;
};

/** `a` minus `b`, bucket by bucket, never below 0 (for sliding a window forward). */
export const subtractHist = (a: number[], b: number[]) => {
  const out = a.slice();
  for (let i = 0; i < b.length && i < out.length; i++) out[i] = Math.max(0, out[i] - b[i]);
  return out;
};

/**
 * The histogram as stored: trailing empty buckets dropped. It stays a plain `number[]` that every
 * reader above accepts, and a fast check (a few ms) stores as `[0,0,1]` instead of 32 numbers.
 */
export const trimHist = (hist: number[]) => {
  let end = hist.length;
  while (end > 0 && !hist[end - 1]) end--;
  return end === hist.length ? hist : hist.slice(0, end);
};

export interface RollupAcc {
  siteId: number;
  target: string;
  bucket: number;
  count: number;
  okCount: number;
  failures: Partial<Record<Outcome, number>>;
  latencySumMs: number;
  latencyHist: number[];
}

/** Latency that a rollup keeps for a check: time to first byte of a good answer. */
export const latencyOf = (row: Pick<NewCheckRow, 'outcome' | 'ttfbMs' | 'totalMs'>) => (row.outcome === 'ok' ? (row.ttfbMs ?? row.totalMs ?? null) : null);

export const mergeFailures = (a: Partial<Record<Outcome, number>>, b: Partial<Record<Outcome, number>>) => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b) as [Outcome, number][]) out[k] = (out[k] ?? 0) + v;
  return out;
};

/**
 * A histogram as a rollup row stores it: each count as an unsigned LEB128 varint (one byte up to
 * 127), trailing empty buckets dropped; NULL for an empty histogram. A fast target's hour is 2-4
 * bytes where its JSON text took 10-20.
 */
export function encodeHist(hist: number[]): Buffer | null {
  const trimmed = trimHist(hist);
  if (trimmed.length === 0) return null;
  const bytes: number[] = [];
  for (let v of trimmed) {
    v = Math.max(0, Math.floor(v || 0));
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  }
  return Buffer.from(bytes);
}

/** Reads what encodeHist wrote (NULL: empty). */
export function decodeHist(buf: Uint8Array | null): number[] {
  const out: number[] = [];
  if (!buf) return out;
  let value = 0;
  let scale = 1;
  for (const byte of buf) {
    value += (byte & 0x7f) * scale;
    if (byte & 0x80) scale *= 0x80;
    else {
      out.push(value);
      value = 0;
      scale = 1;
    }
  }
  return out;
}

/** Failures by outcome as a rollup row stores them: JSON, or NULL when there are none. */
export const encodeFailures = (f: Partial<Record<Outcome, number>>): string | null => {
  for (const _ in f) return JSON.stringify(f);
  return null;
};

export const decodeFailures = (text: string | null): Partial<Record<Outcome, number>> =>
  text ? (JSON.parse(text) as Partial<Record<Outcome, number>>) : {};
