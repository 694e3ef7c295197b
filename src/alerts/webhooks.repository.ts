import { and, asc, eq, lte, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { SiteWebhook } from '../sites/sites.table.js';
import { alerts, type AlertRow } from './alerts.table.js';
import { webhookDeliveries, type WebhookDeliveryRow } from './webhooks.table.js';

/** A due delivery with the alert it carries. */
export interface DueDelivery {
  delivery: WebhookDeliveryRow;
  alert: AlertRow | undefined;
}

/** The only module that reads or writes webhook_deliveries. */
export function createWebhooksRepository(db: Db) {
  // A delivery is finished once sent, given up or cancelled; it finished at its last attempt (or
  // when written, if cancelled before any). Finished ones go after the retention, and at once when
  // their site is gone.
  const pruneFinished = db.$client.prepare(
    `DELETE FROM webhook_deliveries WHERE id IN (
       SELECT id FROM webhook_deliveries
       WHERE state != 'pending'
         AND (coalesce(sent_at, last_attempt_at, created_at) < ?
              OR NOT EXISTS (SELECT 1 FROM sites WHERE sites.id = webhook_deliveries.site_id))
       LIMIT ?)`,
  );
  return {
    /** Deletes up to `limit` finished deliveries that finished before `before` or whose site is deleted; returns how many. */
    pruneFinished(before: number, limit: number): number {
      return pruneFinished.run(before, limit).changes;
    },

    /** One pending delivery per webhook of the alert, due with it. Call it in the alert's transaction. */
    addFor(alert: AlertRow, webhooks: SiteWebhook[]): void {
      for (const w of webhooks) {
        db.insert(webhookDeliveries)
          .values({
            alertId: alert.id,
            siteId: alert.siteId,
            url: w.url,
            format: w.format,
            secret: w.secret ?? null,
            state: 'pending',
            createdAt: alert.createdAt,
            dueAt: alert.dueAt,
          })
          .run();
      }
    },

    /** Pending deliveries due at `now`, oldest first, each with its alert. */
    due(now: number, limit: number): DueDelivery[] {
      return db
        .select({ delivery: webhookDeliveries, alert: alerts })
        .from(webhookDeliveries)
        .leftJoin(alerts, eq(alerts.id, webhookDeliveries.alertId))
        .where(and(eq(webhookDeliveries.state, 'pending'), lte(webhookDeliveries.dueAt, now)))
        .orderBy(asc(webhookDeliveries.dueAt), asc(webhookDeliveries.id))
        .limit(limit)
        .all()
        .map((r) => ({ delivery: r.delivery, alert: r.alert ?? undefined }));
    },

    markSent(id: number, at: number, status: number): void {
      db.update(webhookDeliveries)
        .set({ state: 'sent', sentAt: at, lastAttemptAt: at, lastStatus: status, lastError: null, attempts: sql`${webhookDeliveries.attempts} + 1` })
        .where(eq(webhookDeliveries.id, id))
        .run();
    },

    /** A failed attempt: retried at `retryAt`, or given up (`failed`) when null. */
    markFailed(row: WebhookDeliveryRow, at: number, error: string, status: number | null, retryAt: number | null): void {
      db.update(webhookDeliveries)
        .set({
          attempts: row.attempts + 1,
          lastAttemptAt: at,
          lastError: error,
          lastStatus: status,
          ...(retryAt === null ? { state: 'failed' as const } : { dueAt: retryAt }),
        })
        .where(eq(webhookDeliveries.id, row.id))
        .run();
    },

    cancel(id: number, reason: string): void {
      db.update(webhookDeliveries).set({ state: 'cancelled', cancelReason: reason }).where(eq(webhookDeliveries.id, id)).run();
    },

    countPending(): number {
      return db.select({ n: sql<number>`count(*)` }).from(webhookDeliveries).where(eq(webhookDeliveries.state, 'pending')).get()?.n ?? 0;
    },

    /** Every delivery of one alert (for tests and diagnostics). */
    ofAlert(alertId: number): WebhookDeliveryRow[] {
      return db.select().from(webhookDeliveries).where(eq(webhookDeliveries.alertId, alertId)).orderBy(asc(webhookDeliveries.id)).all();
    },
  };
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>;
