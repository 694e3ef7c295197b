import { z } from 'zod';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The most buckets one request may ask for: a leap year of hours, ten years of days. */
export const MAX_BUCKETS = { hour: 366 * 24, day: 3660 } as const;

/**
 * `GET /api/sites/:id/uptime` query: `from`/`to` in ms since epoch (`to` defaults to now, `from`
 * to 24 h before `to` for hours and 30 days for days), `granularity` hour or day (default day),
 * `target` 'site' (default) or an upstream's id.
 */
export const uptimeQuery = z
  .strictObject({
    from: z.coerce.number().int().min(0).max(8.64e15).optional(),
    to: z.coerce.number().int().min(0).max(8.64e15).optional(),
    granularity: z.enum(['hour', 'day']).default('day'),
    target: z.string().regex(/^(site|[1-9]\d{0,15})$/, "must be 'site' or an upstream's id").optional(),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.from >= q.to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    }
    if (q.from !== undefined && q.to !== undefined) {
      const step = q.granularity === 'hour' ? HOUR : DAY;
      const buckets = Math.ceil((q.to - Math.floor(q.from / step) * step) / step);
      if (buckets > MAX_BUCKETS[q.granularity]) {
        ctx.addIssue({ code: 'custom', path: ['from'], message: `the range holds ${buckets} ${q.granularity}s; at most ${MAX_BUCKETS[q.granularity]}` });
      }
    }
  });

export type UptimeQuery = z.infer<typeof uptimeQuery>;

/** The default range of a query without `from`/`to`. */
export function rangeOf(q: UptimeQuery, now: number): { from: number; to: number } {
  const to = q.to ?? now;
  const from = q.from ?? to - (q.granularity === 'hour' ? DAY : 30 * DAY);
  return { from, to };
}
