import { and, desc, eq, lt } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { IncidentState } from '../diagnosis/diagnosis.types.js';
import { incidents, type IncidentRow } from './incidents.table.js';

export const toIncidentState = (row: IncidentRow): IncidentState => ({
  kind: row.kind,
  kinds: row.kinds,
  openedAt: row.openedAt,
  firstFailureAt: row.firstFailureAt,
  failedChecks: row.failedChecks,
  goodStreak: row.goodStreak,
  causes: row.causes,
  timeline: row.timeline,
  resolvedAt: row.resolvedAt,
  lastCheckAt: row.lastCheckAt ?? undefined,
});

const fromState = (state: IncidentState) => ({
  state: state.resolvedAt === null ? ('open' as const) : ('resolved' as const),
  kind: state.kind,
  kinds: state.kinds,
  openedAt: state.openedAt,
  firstFailureAt: state.firstFailureAt,
  resolvedAt: state.resolvedAt,
  failedChecks: state.failedChecks,
  goodStreak: state.goodStreak,
  causes: state.causes,
  timeline: state.timeline,
  lastCheckAt: state.lastCheckAt ?? null,
});

export function createIncidentsRepository(db: Db) {
  return {
    openFor(siteId: number): IncidentRow | undefined {
      return db
        .select()
        .from(incidents)
        .where(and(eq(incidents.siteId, siteId), eq(incidents.state, 'open')))
        .get();
    },

    insert(siteId: number, state: IncidentState, silenced: boolean, now: number): IncidentRow {
      return db
        .insert(incidents)
        .values({ siteId, ...fromState(state), silenced, updatedAt: now })
        .returning()
        .get();
    },

    update(id: number, state: IncidentState, now: number): IncidentRow {
      return db
        .update(incidents)
        .set({ ...fromState(state), updatedAt: now })
        .where(eq(incidents.id, id))
        .returning()
        .get();
    },

    get(id: number): IncidentRow | undefined {
      return db.select().from(incidents).where(eq(incidents.id, id)).get();
    },

    list(opts: { siteId?: number; state?: 'open' | 'resolved'; limit: number; before?: number }): IncidentRow[] {
      const where = [];
      if (opts.siteId !== undefined) where.push(eq(incidents.siteId, opts.siteId));
      if (opts.state !== undefined) where.push(eq(incidents.state, opts.state));
      if (opts.before !== undefined) where.push(lt(incidents.openedAt, opts.before));
      return db
        .select()
        .from(incidents)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(incidents.openedAt), desc(incidents.id))
        .limit(opts.limit)
        .all();
    },

    allOpen(): IncidentRow[] {
      return db.select().from(incidents).where(eq(incidents.state, 'open')).all();
    },
  };
}

export type IncidentsRepository = ReturnType<typeof createIncidentsRepository>;
