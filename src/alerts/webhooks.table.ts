import { sqliteTable, integer, text, index } from 'drizzle-orm/sqlite-core';

export type WebhookDeliveryState = 'pending' | 'sent' | 'cancelled' | 'failed';

/**
 * The webhook side of the outbox: one row per alert and webhook, written in the transaction that
 * writes the alert (so in the incident's transaction), sent by webhooks.sender.ts with retries.
 * Its id is the delivery's idempotency key, the same on every attempt. The body is rendered at
 * each attempt from the alert's payload (so an opening alert that a cause change folded into
 * says the newer causes); the url, format and secret are those of the site when the alert was written.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** The alert (alerts.id) this delivers; no foreign key, as alerts outlive their site. */
    alertId: integer('alert_id').notNull(),
    siteId: integer('site_id').notNull(),
    url: text('url').notNull(),
    format: text('format').$type<'json' | 'slack'>().notNull(),
    secret: text('secret'),
    state: text('state').$type<WebhookDeliveryState>().notNull(),
    createdAt: integer('created_at').notNull(),
    dueAt: integer('due_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastAttemptAt: integer('last_attempt_at'),
    lastError: text('last_error'),
    /** The receiver's status on the last attempt that got one. */
    lastStatus: integer('last_status'),
    sentAt: integer('sent_at'),
    cancelReason: text('cancel_reason'),
  },
  (t) => [index('webhook_deliveries_state_due_idx').on(t.state, t.dueAt), index('webhook_deliveries_alert_idx').on(t.alertId)],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
