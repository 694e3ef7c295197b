import { sqliteTable, integer, text, primaryKey } from 'drizzle-orm/sqlite-core';
import { sites } from '../sites/sites.table.js';

/**
 * The certificates owners were told about: one row per target and certificate (its expiry), so
 * that a cert_expiring alert goes out once per certificate, and a reminder each week while the
 * same certificate is still served. A renewed certificate has another expiry: a row of its own.
 */
export const certNotices = sqliteTable(
  'cert_notices',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** 'site' or the upstream's id, as in checks. */
    target: text('target').notNull(),
    expiresAt: integer('expires_at').notNull(),
    issuer: text('issuer'),
    firstNotifiedAt: integer('first_notified_at').notNull(),
    lastNotifiedAt: integer('last_notified_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.target, t.expiresAt] })],
);

export type CertNoticeRow = typeof certNotices.$inferSelect;
