import { sqliteTable, integer, text, blob, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * A small integer per (site, target) that the rollup tables use in their keys instead of the
 * site id and the target text. Ids are never reused: a deleted site's rows are removed by
 * housekeeping, and until then they can be reached by nothing else. No foreign key: housekeeping
 * needs the row after the site is gone to find that site's rollups.
 */
export const rollupTargets = sqliteTable(
  'rollup_targets',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id').notNull(),
    /** 'site' or the upstream's id, as in checks. */
    target: text('target').notNull(),
  },
  (t) => [uniqueIndex('rollup_targets_site_target_idx').on(t.siteId, t.target)],
);

/**
 * The columns every rollup row has. `id` is the key and the row's place at once:
 * bucket index (hours or days since the epoch) * 2^24 + the target's key (rollups.keys.ts), so a
 * table is ordered by time first and then by target: a bucket's rows are written once, in key
 * order, at the end of the B-tree (appends), pruning deletes from its start, and one target's
 * bucket is one rowid lookup. No other index.
 */
const rollupColumns = {
  id: integer('id').primaryKey(),
  count: integer('count').notNull(),
  okCount: integer('ok').notNull(),
  /** Failed checks by outcome, as JSON; NULL when there are none (nearly always). */
  failures: text('fail'),
  /** Sum of the latencies the histogram counts (ms), for the average. */
  latencySumMs: integer('lat_sum').notNull(),
  /** Latency histogram over LATENCY_BOUNDS: counts as unsigned varints, trailing zeros dropped (rollups.ts). */
  latencyHist: blob('hist', { mode: 'buffer' }),
};

/** Hour rollups, kept RETENTION_HOURLY_DAYS (90 days by default). */
export const rollupHours = sqliteTable('rollup_hours', { ...rollupColumns });

/** Day rollups, kept RETENTION_DAILY_DAYS (2 years by default), with the site's worst incident of the day. */
export const rollupDays = sqliteTable('rollup_days', {
  ...rollupColumns,
  /** The incident that covered most of the day (target 'site' only), its kind and its top cause code. */
  worstIncidentId: integer('worst_id'),
  worstKind: text('worst_kind'),
  worstCause: text('worst_cause'),
});
