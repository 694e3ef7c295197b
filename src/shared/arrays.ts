/**
 * Small array helpers for state held per target. An array grown by `push` (or built by a spread)
 * keeps room for about 16 more elements; held for each of 20,000 targets that is megabytes, so
 * arrays kept for long are made at their exact length.
 */

/** A copy of `items` with `item` added at the end, of the exact length. */
export function appended<T>(items: readonly T[], item: T): T[] {
  const out = new Array<T>(items.length + 1);
  for (let i = 0; i < items.length; i++) out[i] = items[i];
  out[items.length] = item;
  return out;
}

/** Whether two lists hold the same strings in the same order (null only equals null). */
export const sameList = (a: readonly string[] | null, b: readonly string[] | null): boolean =>
  a === b || (a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]));
