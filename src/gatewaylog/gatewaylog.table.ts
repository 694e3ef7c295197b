import { sqliteTable, integer, text, index } from 'drizzle-orm/sqlite-core';
import { sites } from '../sites/sites.table.js';
import type { GatewayLogFormat, LogEventKind, LogLineRelation } from './gatewaylog.types.js';

/** The lines of gateway logs kept for a site: those that concern it (see LogLineRelation). */
export const gatewayLogLines = sqliteTable(
  'gateway_log_lines',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** The line's own time (ms since epoch), else when it was read. */
    at: integer('at').notNull(),
    readAt: integer('read_at').notNull(),
    product: text('product').$type<GatewayLogFormat>().notNull(),
    kind: text('kind').$type<LogEventKind>().notNull(),
    relation: text('relation').$type<LogLineRelation>().notNull(),
    /** The site's upstream id when the line names one of them. */
    upstreamId: text('upstream_id'),
    /** The address or server name as the line gives it. */
    upstream: text('upstream'),
    message: text('message').notNull(),
    /** The line itself, cut to MAX_RAW_CHARS. */
    raw: text('raw').notNull(),
    /** Set once an incident cites it: retention keeps it as long as the incident. */
    incidentId: integer('incident_id'),
  },
  (t) => [
    index('gateway_log_lines_site_idx').on(t.siteId, t.at),
    index('gateway_log_lines_read_idx').on(t.readAt),
  ],
);

/**
 * Where the follower is in each file: the inode and the offset of the first byte not yet read as a
 * whole line, so that a restart goes on from there (and a rotated or truncated file is noticed).
 */
export const gatewayLogFiles = sqliteTable('gateway_log_files', {
  path: text('path').primaryKey(),
  /** st_ino as a decimal string (it may not fit a double). */
  inode: text('inode'),
  offset: integer('offset').notNull(),
  state: text('state').$type<'following' | 'missing' | 'error'>().notNull(),
  /** Why it is not followed, for the site's owner. */
  message: text('message'),
  /** Since when it is in this state. */
  since: integer('since').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export type GatewayLogLineRow = typeof gatewayLogLines.$inferSelect;
export type GatewayLogFileRow = typeof gatewayLogFiles.$inferSelect;
