/** Small helpers for the figures: percentiles of samples and of count histograms. */

/** The p-quantile (0..1) of samples, nearest rank; null when empty. */
export function quantile(samples: number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

/**
 * The p-quantile of a histogram given as counts per bucket with each bucket's upper bound;
 * null when empty.
 */
export function histQuantile(counts: ArrayLike<number>, upperBound: (index: number) => number, p: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return upperBound(i);
  }
  return upperBound(counts.length - 1);
}

export const round = (x: number | null, digits = 3) => (x === null || !Number.isFinite(x) ? x : Math.round(x * 10 ** digits) / 10 ** digits);
