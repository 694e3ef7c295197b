/** Small order statistics over latency samples. Inputs are not modified. */

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export function p95(values: number[]): number {
  return quantile(values, 0.95);
}

/** Linear-interpolated quantile; NaN for no values. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const low = Math.floor(pos);
  const high = Math.ceil(pos);
  return sorted[low] + (sorted[high] - sorted[low]) * (pos - low);
}

export const round2 = (n: number): number => Math.round(n * 100) / 100;

export const clamp01 = (n: number): number => Math.min(1, Math.max(0, n));
