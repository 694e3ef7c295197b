import { sqliteTable, integer, real, text, primaryKey } from 'drizzle-orm/sqlite-core';
import { sites } from '../sites/sites.table.js';
import type { Outcome } from '../probes/probes.types.js';

/** Checks of one target within one hour that the snapshot's base does not hold yet. */
export interface LiveHour {
  /** Start of the hour (ms). */
  hour: number;
  count: number;
  ok: number;
  /** Latency histogram over LATENCY_BOUNDS (trailing zeros trimmed). */
  hist: number[];
}

/**
 * What status shows of each target (a site's url or one of its upstreams), kept current so that
 * status reads one row per target whatever the history: the last check, and uptime and latency
 * over 24 h / 7 d / 30 d. `base*` sum the hour rollups of the full hours before `baseThrough`
 * (advanced by housekeeping each hour); `live` holds the checks since then (written with every
 * check); the derived figures combine both and are recomputed on every write.
 */
export const statusSnapshot = sqliteTable(
  'status_snapshot',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** 'site' or the upstream's id, as in checks. */
    target: text('target').notNull(),
    lastCheckId: integer('last_check_id'),
    lastAt: integer('last_at'),
    lastOutcome: text('last_outcome').$type<Outcome>(),
    lastStatusCode: integer('last_status_code'),
    lastErrorMessage: text('last_error_message'),
    lastAddresses: text('last_addresses', { mode: 'json' }).$type<string[]>(),
    lastAddress: text('last_address'),
    lastTotalMs: integer('last_total_ms'),
    lastTtfbMs: integer('last_ttfb_ms'),
    baseThrough: integer('base_through').notNull(),
    base24hCount: integer('base_24h_count').notNull(),
    base24hOk: integer('base_24h_ok').notNull(),
    base7dCount: integer('base_7d_count').notNull(),
    base7dOk: integer('base_7d_ok').notNull(),
    base30dCount: integer('base_30d_count').notNull(),
    base30dOk: integer('base_30d_ok').notNull(),
    base24hHist: text('base_24h_hist', { mode: 'json' }).$type<number[]>().notNull(),
    live: text('live', { mode: 'json' }).$type<LiveHour[]>().notNull(),
    uptime24h: real('uptime_24h'),
    uptime7d: real('uptime_7d'),
    uptime30d: real('uptime_30d'),
    p50Ms24h: integer('p50_ms_24h'),
    p95Ms24h: integer('p95_ms_24h'),
    /** The last leaf certificate an https check saw (ms since epoch; its issuer), kept through checks that saw none. */
    certExpiresAt: integer('cert_expires_at'),
    certIssuer: text('cert_issuer'),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.target] })],
);

export type StatusSnapshotRow = typeof statusSnapshot.$inferSelect;
