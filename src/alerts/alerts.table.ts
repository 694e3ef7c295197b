import { sqliteTable, integer, text, index } from 'drizzle-orm/sqlite-core';
import type { AlertPayload } from './alerts.types.js';

export type AlertKind = 'opened' | 'cause_changed' | 'reminder' | 'resolved' | 'closed';
export type AlertState = 'pending' | 'sent' | 'cancelled';
/** Every kind the outbox carries: the incident kinds, and `cert_expiring` (no incident: incident_id 0, payload a CertAlertPayload). */
export type OutboxKind = AlertKind | 'cert_expiring';

/**
 * The outbox: one row per alert about one incident, written in the transaction that changed the
 * incident. The sender groups due rows by recipient list into one email.
 */
export const alerts = sqliteTable(
  'alerts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** No foreign key: an alert outlives the deletion of its site so the log stays honest. */
    siteId: integer('site_id').notNull(),
    incidentId: integer('incident_id').notNull(),
    kind: text('kind').$type<OutboxKind>().notNull(),
    recipients: text('recipients', { mode: 'json' }).$type<string[]>().notNull(),
    /** Everything the email needs, captured when the alert was written. */
    payload: text('payload', { mode: 'json' }).$type<AlertPayload>().notNull(),
    state: text('state').$type<AlertState>().notNull(),
    createdAt: integer('created_at').notNull(),
    /** Not sent before this time (grouping window, back-off). */
    dueAt: integer('due_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    lastAttemptAt: integer('last_attempt_at'),
    sentAt: integer('sent_at'),
    messageId: text('message_id'),
    /** Why a pending alert was dropped (resolved within the group window, maintenance, ...). */
    cancelReason: text('cancel_reason'),
  },
  (t) => [index('alerts_state_due_idx').on(t.state, t.dueAt), index('alerts_incident_idx').on(t.incidentId)],
);

export type AlertRow = typeof alerts.$inferSelect;
