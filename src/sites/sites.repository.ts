import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sites, upstreams, type SiteRow, type UpstreamRow } from './sites.table.js';
import type { SiteCreate, SitePatch } from './sites.schemas.js';
import type { Clock } from '../shared/clock.js';

export interface UpstreamView {
  id: number;
  name: string;
  url: string;
}

export type SiteState = 'up' | 'degraded' | 'down' | 'paused' | 'unknown';

export interface SiteView extends Omit<SiteRow, 'state'> {
  state: SiteState;
  upstreams: UpstreamView[];
}

/** What the scheduler needs to keep its plan. */
export interface SitePlanEntry {
  id: number;
  intervalSeconds: number;
  paused: boolean;
  lastRoundAt: number | null;
}

const toView = (row: SiteRow, ups: UpstreamRow[]): SiteView => ({
  ...row,
  state: row.paused ? 'paused' : row.state,
  upstreams: ups.map(({ id, name, url }) => ({ id, name, url })),
});

export function createSitesRepository(db: Db, clock: Clock) {
  const upstreamsOf = (siteIds: number[]) => {
    const bySite = new Map<number, UpstreamRow[]>();
    if (siteIds.length === 0) return bySite;
    const rows = db
      .select()
      .from(upstreams)
      .where(siteIds.length === 1 ? eq(upstreams.siteId, siteIds[0]) : inArray(upstreams.siteId, siteIds))
      .orderBy(asc(upstreams.siteId), asc(upstreams.position))
      .all();
    for (const row of rows) {
      const list = bySite.get(row.siteId) ?? [];
      list.push(row);
      bySite.set(row.siteId, list);
    }
    return bySite;
  };

  /** Replaces a site's upstreams, keeping the id of an upstream whose name stays, so its history stays linked. */
  const replaceUpstreams = (siteId: number, wanted: { name: string; url: string }[]) => {
    const existing = db.select().from(upstreams).where(eq(upstreams.siteId, siteId)).all();
    const byName = new Map(existing.map((u) => [u.name.toLowerCase(), u]));
    const keep = new Set<number>();
    wanted.forEach((u, position) => {
      const old = byName.get(u.name.toLowerCase());
      if (old) {
        keep.add(old.id);
        db.update(upstreams).set({ name: u.name, url: u.url, position }).where(eq(upstreams.id, old.id)).run();
      }
    });
    const drop = existing.filter((u) => !keep.has(u.id)).map((u) => u.id);
    if (drop.length) db.delete(upstreams).where(inArray(upstreams.id, drop)).run();
    wanted.forEach((u, position) => {
      if (!byName.has(u.name.toLowerCase())) db.insert(upstreams).values({ siteId, name: u.name, url: u.url, position }).run();
    });
  };

  const get = (id: number): SiteView | undefined => {
    const row = db.select().from(sites).where(eq(sites.id, id)).get();
    return row && toView(row, upstreamsOf([id]).get(id) ?? []);
  };

  return {
    get,

    list(): SiteView[] {
      const rows = db.select().from(sites).orderBy(asc(sites.id)).all();
      const ups = upstreamsOf(rows.map((r) => r.id));
      return rows.map((r) => toView(r, ups.get(r.id) ?? []));
    },

    create(input: SiteCreate): SiteView {
      const now = clock.now();
      const id = db.transaction(() => {
        const { upstreams: ups, ...fields } = input;
        const row = db
          .insert(sites)
          .values({ ...fields, state: 'unknown', createdAt: now, updatedAt: now })
          .returning({ id: sites.id })
          .get();
        ups.forEach((u, position) => db.insert(upstreams).values({ siteId: row.id, name: u.name, url: u.url, position }).run());
        return row.id;
      });
      return get(id)!;
    },

    update(id: number, patch: SitePatch): SiteView | undefined {
      const found = db.transaction(() => {
        const { upstreams: ups, ...fields } = patch;
        const res = db
          .update(sites)
          .set({ ...fields, updatedAt: clock.now() })
          .where(eq(sites.id, id))
          .run();
        if (res.changes === 0) return false;
        if (ups) replaceUpstreams(id, ups);
        return true;
      });
      return found ? get(id) : undefined;
    },

    delete(id: number): boolean {
      return db.delete(sites).where(eq(sites.id, id)).run().changes > 0;
    },

    plan(): SitePlanEntry[] {
      return db
        .select({ id: sites.id, intervalSeconds: sites.intervalSeconds, paused: sites.paused, lastRoundAt: sites.lastRoundAt })
        .from(sites)
        .all();
    },

    /** Several sites with their upstreams at once (for a batch of due rounds). */
    getMany(ids: number[]): SiteView[] {
      if (ids.length === 0) return [];
      const rows = db.select().from(sites).where(inArray(sites.id, ids)).all();
      const ups = upstreamsOf(rows.map((r) => r.id));
      return rows.map((r) => toView(r, ups.get(r.id) ?? []));
    },

    exists(id: number): boolean {
      return db.select({ id: sites.id }).from(sites).where(and(eq(sites.id, id))).get() !== undefined;
    },
  };
}

export type SitesRepository = ReturnType<typeof createSitesRepository>;
