import { and, asc, desc, eq, inArray, lte, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { alerts, type AlertKind, type AlertRow, type AlertState, type OutboxKind } from './alerts.table.js';
import type { AlertPayload } from './alerts.types.js';

export interface NewAlert {
  siteId: number;
  incidentId: number;
  kind: OutboxKind;
  recipients: string[];
  payload: AlertPayload;
  state: 'pending' | 'cancelled';
  createdAt: number;
  dueAt: number;
  cancelReason?: string;
}

export interface AlertsQuery {
  limit: number;
  state?: AlertState;
  incidentId?: number;
  siteId?: number;
}

/** What reminders need to know about one open incident's alerts. */
export interface ContactSummary {
  /** opened / cause_changed / reminder alerts not yet sent. */
  pending: number;
  /** When the owners last heard (sentAt) or were deliberately not told (createdAt of a cancelled row). */
  lastAt: number | null;
}

/** Kinds that tell the owners the incident is (still) open: the clock for reminders. */
const OPEN_NEWS: AlertKind[] = ['opened', 'cause_changed', 'reminder'];
/** SQLite's default limit on bound parameters is far above this; it keeps statements short. */
const ID_CHUNK = 500;

const chunks = <T>(list: T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
};

/** The only module that reads or writes the alerts table. */
export function createAlertsRepository(db: Db) {
  return {
    insert(row: NewAlert): AlertRow {
      return db.insert(alerts).values(row).returning().get();
    },

    /** Pending alerts of one incident, oldest first. */
    pendingOf(incidentId: number): AlertRow[] {
      return db
        .select()
        .from(alerts)
        .where(and(eq(alerts.incidentId, incidentId), eq(alerts.state, 'pending')))
        .orderBy(asc(alerts.id))
        .all();
    },

    /** The newest alert of an incident among `kinds` that was sent or still will be. */
    lastNotCancelled(incidentId: number, kinds: AlertKind[]): AlertRow | undefined {
      return db
        .select()
        .from(alerts)
        .where(and(eq(alerts.incidentId, incidentId), inArray(alerts.kind, kinds), ne(alerts.state, 'cancelled')))
        .orderBy(desc(alerts.id))
        .limit(1)
        .get();
    },

    /** Cancels those of `ids` that are still pending. */
    cancel(ids: number[], reason: string): void {
      if (ids.length === 0) return;
      db.update(alerts)
        .set({ state: 'cancelled', cancelReason: reason })
        .where(and(inArray(alerts.id, ids), eq(alerts.state, 'pending')))
        .run();
    },

    updatePayload(id: number, payload: AlertPayload): void {
      db.update(alerts).set({ payload }).where(eq(alerts.id, id)).run();
    },

    /** Pending alerts due at `now`, oldest due first. */
    due(now: number, limit: number): AlertRow[] {
      return db
        .select()
        .from(alerts)
        .where(and(eq(alerts.state, 'pending'), lte(alerts.dueAt, now)))
        .orderBy(asc(alerts.dueAt), asc(alerts.id))
        .limit(limit)
        .all();
    },

    /** Those of `ids` still pending (re-read right before sending: a resolve may have folded some). */
    stillPending(ids: number[]): AlertRow[] {
      if (ids.length === 0) return [];
      return db
        .select()
        .from(alerts)
        .where(and(inArray(alerts.id, ids), eq(alerts.state, 'pending')))
        .orderBy(asc(alerts.id))
        .all();
    },

    countPending(): number {
      return db.select({ n: sql<number>`count(*)` }).from(alerts).where(eq(alerts.state, 'pending')).get()?.n ?? 0;
    },

    /**
     * Records a message the server accepted, for every alert in it, in one transaction. A row a
     * resolve cancelled while the message was in flight is marked sent too: it was.
     */
    markSent(ids: number[], at: number, messageId: string, note: string | null): void {
      db.transaction(() => {
        db.update(alerts)
          .set({
            state: 'sent',
            sentAt: at,
            messageId,
            cancelReason: null,
            lastAttemptAt: at,
            attempts: sql`${alerts.attempts} + 1`,
            ...(note ? { lastError: note } : {}),
          })
          .where(inArray(alerts.id, ids))
          .run();
      });
    },

    /** The Message-IDs of the emails sent about one incident, oldest first, each once: its thread so far. */
    threadOf(incidentId: number): string[] {
      const rows = db
        .select({ messageId: alerts.messageId })
        .from(alerts)
        .where(and(eq(alerts.incidentId, incidentId), eq(alerts.state, 'sent')))
        .orderBy(asc(alerts.sentAt), asc(alerts.id))
        .all();
      return [...new Set(rows.map((r) => r.messageId).filter((id): id is string => !!id))];
    },

    /** Records a failed attempt; `nextDue` maps the attempts made so far to the next try. */
    markFailed(rows: AlertRow[], at: number, error: string, nextDue: (attempts: number) => number): void {
      db.transaction(() => {
        for (const row of rows) {
          const attempts = row.attempts + 1;
          db.update(alerts)
            .set({ attempts, lastError: error, lastAttemptAt: at, dueAt: nextDue(attempts) })
            .where(eq(alerts.id, row.id))
            .run();
        }
      });
    },

    /** Per incident: pending open-news alerts and when the owners last heard of it. */
    contactSummary(incidentIds: number[]): Map<number, ContactSummary> {
      const out = new Map<number, ContactSummary>();
      for (const part of chunks(incidentIds, ID_CHUNK)) {
        const rows = db
          .select({
            incidentId: alerts.incidentId,
            pending: sql<number>`sum(case when ${alerts.state} = 'pending' then 1 else 0 end)`,
            lastAt: sql<number | null>`max(case ${alerts.state} when 'sent' then ${alerts.sentAt} when 'cancelled' then ${alerts.createdAt} end)`,
          })
          .from(alerts)
          .where(and(inArray(alerts.incidentId, part), inArray(alerts.kind, OPEN_NEWS)))
          .groupBy(alerts.incidentId)
          .all();
        for (const r of rows) out.set(r.incidentId, { pending: r.pending, lastAt: r.lastAt });
      }
      return out;
    },

    /** Newest first. */
    list(query: AlertsQuery): AlertRow[] {
      const where = [];
      if (query.state) where.push(eq(alerts.state, query.state));
      if (query.incidentId !== undefined) where.push(eq(alerts.incidentId, query.incidentId));
      if (query.siteId !== undefined) where.push(eq(alerts.siteId, query.siteId));
      return db
        .select()
        .from(alerts)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(alerts.id))
        .limit(query.limit)
        .all();
    },
  };
}

export type AlertsRepository = ReturnType<typeof createAlertsRepository>;
