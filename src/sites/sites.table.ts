import { sqliteTable, integer, text, index, uniqueIndex } from 'drizzle-orm/sqlite-core';

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
  /** Derived after every round, so that status reads one row per site. */
  state: text('state').$type<'up' | 'degraded' | 'down' | 'unknown'>().notNull(),
  lastRoundAt: integer('last_round_at'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  },
  // Finds the sites that already watch a URL (a duplicate gets a warning at creation).
  (t) => [index('sites_url_idx').on(t.url)],
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
