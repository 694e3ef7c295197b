import { sql } from 'drizzle-orm';
import { sqliteTable, integer, text, index, primaryKey } from 'drizzle-orm/sqlite-core';
import { sites } from '../sites/sites.table.js';
import type { GatewayProduct, Outcome } from '../probes/probes.types.js';

/** Legacy (up to 0.2): emptied into raw_checks by upgradeChecks (checks.upgrade.ts); its indexes are gone. */
export const checks = sqliteTable(
  'checks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** 'site' or the upstream's id. */
    target: text('target').notNull(),
    targetName: text('target_name').notNull(),
    startedAt: integer('started_at').notNull(),
    outcome: text('outcome').$type<Outcome>().notNull(),
    statusCode: integer('status_code'),
    errorMessage: text('error_message'),
    addresses: text('addresses', { mode: 'json' }).$type<string[]>().notNull(),
    address: text('address'),
    /** Addresses of the name that were tried and did not connect (null: none), even when another answered. */
    failedAddresses: text('failed_addresses', { mode: 'json' }).$type<string[]>(),
    dnsMs: integer('dns_ms'),
    connectMs: integer('connect_ms'),
    tlsMs: integer('tls_ms'),
    ttfbMs: integer('ttfb_ms'),
    totalMs: integer('total_ms'),
    gateway: text('gateway').$type<GatewayProduct>(),
    /** https: when the leaf certificate expires (ms since epoch), and who issued it. */
    certExpiresAt: integer('cert_expires_at'),
    certIssuer: text('cert_issuer'),
    /** Set while an incident holds this check as evidence: retention keeps it as long as the incident. */
    incidentId: integer('incident_id'),
  },
);

/**
 * Rollups of checks per site, target and bucket (a minute or an hour). Latency is kept as a
 * histogram over fixed log-spaced bounds, so buckets merge by adding counts.
 */
const rollupColumns = {
  siteId: integer('site_id')
    .notNull()
    .references(() => sites.id, { onDelete: 'cascade' }),
  target: text('target').notNull(),
  bucket: integer('bucket').notNull(),
  count: integer('count').notNull(),
  okCount: integer('ok_count').notNull(),
  failures: text('failures', { mode: 'json' }).$type<Partial<Record<Outcome, number>>>().notNull(),
  latencySumMs: integer('latency_sum_ms').notNull(),
  latencyHist: text('latency_hist', { mode: 'json' }).$type<number[]>().notNull(),
};

/**
 * Legacy (up to 0.1): replaced by rollup_hours and rollup_days (rollups.table.ts). Kept declared
 * so that the upgrade step (rollups.upgrade.ts) can read and empty them; a later release drops them.
 *
 * Minute rollups, keyed time first: the recorder writes each closed minute once, in key order,
 * so every write appends to the end of one B-tree (a key led by the site would dirty a page per
 * site per minute), and pruning deletes from its start. No foreign key: it would need an index
 * led by the site. A deleted site's minute rows are never read again (its ids are not reused)
 * and go with the 7-day retention.
 */
export const rollupsMinute = sqliteTable(
  'rollups_minute',
  {
    ...rollupColumns,
    siteId: integer('site_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.bucket, t.siteId, t.target] })],
);

/** Legacy (up to 0.1), as rollups_minute above. */
export const rollupsHour = sqliteTable('rollups_hour', { ...rollupColumns }, (t) => [
  primaryKey({ columns: [t.siteId, t.target, t.bucket] }),
  index('rollups_hour_bucket_idx').on(t.bucket),
]);

export type CheckRow = typeof checks.$inferSelect;
export type NewCheckRow = typeof checks.$inferInsert;

/**
 * Raw checks, compact (0.3): one append-only row per check, keyed by rowid (rowids grow with
 * time, so pruning deletes from the start and finds its bound by binary search). The target is
 * its rollup_targets key, the outcome a code (OUTCOMES' index), and the strings that rarely
 * change between a target's checks live once in check_details. No per-row secondary index: a
 * target's rows are found through check_chunks.
 */
export const rawChecks = sqliteTable(
  'raw_checks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    targetKey: integer('tk').notNull(),
    startedAt: integer('t').notNull(),
    outcome: integer('o').notNull(),
    statusCode: integer('st'),
    dnsMs: integer('dns'),
    connectMs: integer('con'),
    tlsMs: integer('tls'),
    ttfbMs: integer('ttfb'),
    totalMs: integer('tot'),
    detailId: integer('d').notNull(),
    /** Set while an incident holds this check as evidence: pruning keeps it as long as the incident. */
    incidentId: integer('inc'),
  },
  (t) => [index('raw_checks_incident_idx').on(t.incidentId).where(sql`${t.incidentId} IS NOT NULL`)],
);

/**
 * The rarely-changing strings of checks, deduplicated by content: a JSON array [target name,
 * addresses, address, failed addresses, error, gateway, cert expiry, cert issuer]. `seenAt` is the
 * last check that used the row (noted at most once per chunk, written with the check chunks: up to
 * two chunks and a few minutes behind), for pruning.
 */
export const checkDetails = sqliteTable('check_details', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  body: text('body').notNull().unique(),
  seenAt: integer('seen_at').notNull(),
});

/**
 * Where a target's raw checks are: one row per 10-minute chunk and target, keyed by
 * chunk index * 2^24 + target key (time first, so writes land at the end of the B-tree and
 * pruning deletes from its start); `ids` lists the rowids as the first one then deltas.
 */
export const checkChunks = sqliteTable('check_chunks', {
  id: integer('id').primaryKey(),
  last: integer('last').notNull(),
  ids: text('ids').notNull(),
});
