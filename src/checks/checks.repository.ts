import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { checks, type CheckRow, type NewCheckRow } from './checks.table.js';

/** A check as the API shows it. */
export type CheckView = Omit<CheckRow, 'incidentId'> & { incidentId: number | null };

export function createChecksRepository(db: Db) {
  return {
    /** Inserts rows; the caller wraps a batch in one transaction. */
    insertMany(rows: NewCheckRow[]): void {
      // SQLite caps bound variables per statement; 17 columns x 50 rows stays far below it.
      for (let i = 0; i < rows.length; i += 50) db.insert(checks).values(rows.slice(i, i + 50)).run();
    },

    /** Inserts rows and returns them with their ids (same batching as insertMany). */
    insertReturning(rows: NewCheckRow[]): CheckRow[] {
      const out: CheckRow[] = [];
      for (let i = 0; i < rows.length; i += 50) out.push(...db.insert(checks).values(rows.slice(i, i + 50)).returning().all());
      return out;
    },

    /** Newest first, all targets (or one), with a time cursor. */
    list(siteId: number, opts: { limit: number; before?: number; target?: string }): CheckView[] {
      const where = [eq(checks.siteId, siteId)];
      if (opts.before !== undefined) where.push(lt(checks.startedAt, opts.before));
      if (opts.target !== undefined) where.push(eq(checks.target, opts.target));
      return db
        .select()
        .from(checks)
        .where(and(...where))
        .orderBy(desc(checks.startedAt), desc(checks.id))
        .limit(opts.limit)
        .all();
    },

    /** Checks of a site since a time, oldest first, at most `limit` (the newest ones). */
    window(siteId: number, since: number, limit: number): CheckRow[] {
      const rows = db
        .select()
        .from(checks)
        .where(and(eq(checks.siteId, siteId), gte(checks.startedAt, since)))
        .orderBy(desc(checks.startedAt), desc(checks.id))
        .limit(limit)
        .all();
      return rows.reverse();
    },

    /** Marks a site's checks since a time as evidence of an incident, so retention keeps them. */
    attachToIncident(siteId: number, since: number, incidentId: number): void {
      db.update(checks)
        .set({ incidentId })
        .where(and(eq(checks.siteId, siteId), gte(checks.startedAt, since), sql`${checks.incidentId} IS NULL`))
        .run();
    },
  };
}

export type ChecksRepository = ReturnType<typeof createChecksRepository>;
