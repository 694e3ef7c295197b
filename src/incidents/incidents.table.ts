import { sqliteTable, integer, text, index } from 'drizzle-orm/sqlite-core';
import { sites } from '../sites/sites.table.js';
import type { Outcome } from '../probes/probes.types.js';
import type { Cause, IncidentEvent } from '../diagnosis/diagnosis.types.js';

export const incidents = sqliteTable(
  'incidents',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    state: text('state').$type<'open' | 'resolved'>().notNull(),
    kind: text('kind').$type<Outcome>().notNull(),
    kinds: text('kinds', { mode: 'json' }).$type<Outcome[]>().notNull(),
    openedAt: integer('opened_at').notNull(),
    firstFailureAt: integer('first_failure_at').notNull(),
    resolvedAt: integer('resolved_at'),
    failedChecks: integer('failed_checks').notNull(),
    goodStreak: integer('good_streak').notNull(),
    /** startedAt of the last check diagnosis counted, so long incidents never count one twice. */
    lastCheckAt: integer('last_check_at'),
    causes: text('causes', { mode: 'json' }).$type<Cause[]>().notNull(),
    timeline: text('timeline', { mode: 'json' }).$type<IncidentEvent[]>().notNull(),
    /** True when it opened inside a maintenance window: recorded, never alerted. */
    silenced: integer('silenced', { mode: 'boolean' }).notNull().default(false),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [index('incidents_site_state_idx').on(t.siteId, t.state), index('incidents_opened_idx').on(t.openedAt)],
);

export type IncidentRow = typeof incidents.$inferSelect;
