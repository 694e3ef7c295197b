import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { checks, type CheckRow, type NewCheckRow } from './checks.table.js';

/** A check as the API shows it. */
export type CheckView = Omit<CheckRow, 'incidentId'> & { incidentId: number | null };

const INSERT_CHECK = `INSERT INTO checks (site_id, target, target_name, started_at, outcome, status_code, error_message, addresses, address,
  dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, gateway, incident_id, failed_addresses, cert_expires_at, cert_issuer)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export function createChecksRepository(db: Db) {
  // Every scheduled check passes here: one statement prepared once, not a query built per batch.
  const insertCheck = db.$client.prepare(INSERT_CHECK);

  /** Inserts one row and returns it as stored, with its id (same shape as a select). */
  const insertOne = (row: NewCheckRow): CheckRow => {
    const stored: CheckRow = {
      id: 0,
      siteId: row.siteId,
      target: row.target,
      targetName: row.targetName,
      startedAt: row.startedAt,
      outcome: row.outcome,
      statusCode: row.statusCode ?? null,
      errorMessage: row.errorMessage ?? null,
      addresses: row.addresses,
      address: row.address ?? null,
      failedAddresses: row.failedAddresses?.length ? row.failedAddresses : null,
      dnsMs: row.dnsMs ?? null,
      connectMs: row.connectMs ?? null,
      tlsMs: row.tlsMs ?? null,
      ttfbMs: row.ttfbMs ?? null,
      totalMs: row.totalMs ?? null,
      gateway: row.gateway ?? null,
      incidentId: row.incidentId ?? null,
      certExpiresAt: row.certExpiresAt ?? null,
      certIssuer: row.certIssuer ?? null,
    };
    const info = insertCheck.run(
      stored.siteId,
      stored.target,
      stored.targetName,
      stored.startedAt,
      stored.outcome,
      stored.statusCode,
      stored.errorMessage,
      JSON.stringify(stored.addresses),
      stored.address,
      stored.dnsMs,
      stored.connectMs,
      stored.tlsMs,
      stored.ttfbMs,
      stored.totalMs,
      stored.gateway,
      stored.incidentId,
      stored.failedAddresses ? JSON.stringify(stored.failedAddresses) : null,
      stored.certExpiresAt,
      stored.certIssuer,
    );
    stored.id = Number(info.lastInsertRowid);
    return stored;
  };

  return {
    /** Inserts rows; the caller wraps a batch in one transaction. */
    insertMany(rows: NewCheckRow[]): void {
      for (const row of rows) insertOne(row);
    },

    /** Inserts rows and returns them as stored, with their ids. */
    insertReturning(rows: NewCheckRow[]): CheckRow[] {
      return rows.map(insertOne);
    },

    /** Newest first, all targets (or one), with a time cursor. */
    /**
     * Newest first. A full page is completed with the rest of its last round (checks sharing the
     * last `startedAt`, up to one per target), so that paging on with `before` = that time skips none.
     */
    list(siteId: number, opts: { limit: number; before?: number; target?: string }): CheckView[] {
      const where = [eq(checks.siteId, siteId)];
      if (opts.before !== undefined) where.push(lt(checks.startedAt, opts.before));
      if (opts.target !== undefined) where.push(eq(checks.target, opts.target));
      const rows = db
        .select()
        .from(checks)
        .where(and(...where))
        .orderBy(desc(checks.startedAt), desc(checks.id))
        .limit(opts.limit)
        .all();
      const last = rows.at(-1);
      if (!last || rows.length < opts.limit) return rows;
      const sameRound = [eq(checks.siteId, siteId), eq(checks.startedAt, last.startedAt), lt(checks.id, last.id)];
      if (opts.target !== undefined) sameRound.push(eq(checks.target, opts.target));
      return rows.concat(db.select().from(checks).where(and(...sameRound)).orderBy(desc(checks.id)).all());
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
