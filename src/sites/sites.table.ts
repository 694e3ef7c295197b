import { sql } from 'drizzle-orm';
import { sqliteTable, integer, text, index, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { GatewayLogConfig } from '../gatewaylog/gatewaylog.types.js';

export interface MaintenanceWindow {
  /** ms since epoch */
  from: number;
  to: number;
  reason?: string;
}

/** Where a site's alerts are also POSTed (see alerts/webhooks.*): the secret signs JSON bodies. */
export interface SiteWebhook {
  url: string;
  format: 'json' | 'slack';
  secret?: string;
}

export const sites = sqliteTable(
  'sites',
  {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  url: text('url').notNull(),
  intervalSeconds: integer('interval_seconds').notNull(),
  timeoutMs: integer('timeout_ms').notNull(),
  failureThreshold: integer('failure_threshold').notNull(),
  recoveryThreshold: integer('recovery_threshold').notNull(),
  expectedStatus: text('expected_status', { mode: 'json' }).$type<[number, number]>().notNull(),
  alertEmails: text('alert_emails', { mode: 'json' }).$type<string[]>().notNull(),
  maintenance: text('maintenance', { mode: 'json' }).$type<MaintenanceWindow[]>().notNull(),
  webhooks: text('webhooks', { mode: 'json' }).$type<SiteWebhook[]>().notNull().default([]),
  paused: integer('paused', { mode: 'boolean' }).notNull(),
  /** The gateway's error log on this host, followed by src/gatewaylog (null: none). */
  gatewayLog: text('gateway_log', { mode: 'json' }).$type<GatewayLogConfig>(),
  /** Shown on the public status page and in the anonymous GET /api/status. */
  public: integer('public', { mode: 'boolean' }).notNull().default(true),
  /** Derived after every round, so that status reads one row per site. */
  state: text('state').$type<'up' | 'degraded' | 'down' | 'unknown'>().notNull(),
  lastRoundAt: integer('last_round_at'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    // Finds the sites that already watch a URL (a duplicate gets a warning at creation).
    index('sites_url_idx').on(t.url),
    // Partial: the gateway-log follower reads the few sites that have one every second. A create
    // through a JSON placeholder stores null as the text 'null', an update as SQL NULL: both mean none.
    index('sites_gateway_log_idx').on(t.id).where(sql`${t.gatewayLog} IS NOT NULL AND ${t.gatewayLog} <> 'null'`),
  ],
);

export const upstreams = sqliteTable(
  'upstreams',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    url: text('url').notNull(),
    position: integer('position').notNull(),
  },
  (t) => [index('upstreams_site_idx').on(t.siteId, t.position), uniqueIndex('upstreams_site_name_uq').on(t.siteId, t.name)],
);

export type SiteRow = typeof sites.$inferSelect;
export type UpstreamRow = typeof upstreams.$inferSelect;
