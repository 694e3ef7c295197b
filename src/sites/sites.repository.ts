import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sites, upstreams, type SiteRow, type UpstreamRow } from './sites.table.js';
import { siteCreateSchema, type SiteCreate, type SitePatch } from './sites.schemas.js';
import type { Clock } from '../shared/clock.js';
import { webhooksToStore } from './sites.webhooks.js';

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

/** A site's targets as checks name them: 'site' and each upstream's id. */
export interface SiteTargets {
  siteId: number;
  targets: string[];
}

const groupBySite = (rows: UpstreamRow[]) => {
  const bySite = new Map<number, UpstreamRow[]>();
  for (const row of rows) {
    const list = bySite.get(row.siteId);
    if (list) list.push(row);
    else bySite.set(row.siteId, [row]);
  }
  return bySite;
};

export function createSitesRepository(db: Db, clock: Clock) {
  // Reads behind every API call and every scheduler change are prepared once: building a
  // drizzle query costs more than running it.
  const selectSite = db.select().from(sites).where(eq(sites.id, sql.placeholder('id'))).prepare();
  const selectUpstreams = db
    .select()
    .from(upstreams)
    .where(eq(upstreams.siteId, sql.placeholder('siteId')))
    .orderBy(asc(upstreams.position))
    .prepare();
  const selectAllSites = db.select().from(sites).orderBy(asc(sites.id)).prepare();
  const selectAllUpstreams = db.select().from(upstreams).orderBy(asc(upstreams.siteId), asc(upstreams.position)).prepare();
  const countSites = db.select({ n: sql<number>`count(*)` }).from(sites).prepare();
  const selectSameUrl = db.$client.prepare<[string, number], { id: number; name: string }>('SELECT id, name FROM sites WHERE url = ? AND id <> ? ORDER BY id');
  const selectExists = db.select({ id: sites.id }).from(sites).where(eq(sites.id, sql.placeholder('id'))).prepare();
  // Every field the API accepts on create, as placeholders: a field added to the schema (and the
  // table) is written without touching this.
  const createFields = Object.keys(siteCreateSchema.shape).filter((k) => k !== 'upstreams');
  const insertSite = db
    .insert(sites)
    .values({
      ...(Object.fromEntries(createFields.map((k) => [k, sql.placeholder(k)])) as unknown as SiteRow),
      state: 'unknown',
      createdAt: sql.placeholder('now'),
      updatedAt: sql.placeholder('now'),
    })
    .returning()
    .prepare();
  const insertUpstream = db
    .insert(upstreams)
    .values({ siteId: sql.placeholder('siteId'), name: sql.placeholder('name'), url: sql.placeholder('url'), position: sql.placeholder('position') })
    .returning()
    .prepare();
  const targetsAfter = db.$client.prepare<[number, number], { id: number; upstream_id: number | null }>(
    `SELECT s.id, u.id AS upstream_id FROM (SELECT id FROM sites WHERE id > ? ORDER BY id LIMIT ?) s
     LEFT JOIN upstreams u ON u.site_id = s.id ORDER BY s.id, u.position`,
  );

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

  const insertOne = (input: SiteCreate): SiteView => {
    const now = clock.now();
    const { upstreams: ups, ...fields } = input;
    const row = insertSite.get({ ...fields, webhooks: webhooksToStore(fields.webhooks), now })!;
    const upRows = ups.map((u, position) => insertUpstream.get({ siteId: row.id, name: u.name, url: u.url, position })!);
    return toView(row, upRows);
  };

  // better-sqlite3's own transaction functions, built once: their BEGIN, COMMIT and SAVEPOINT
  // statements are prepared once per connection, where drizzle's nested transaction prepares its
  // SAVEPOINT and RELEASE again for every site. Called inside a transaction, one runs in a savepoint.
  const insertInSavepoint = db.$client.transaction(insertOne);
  const insertBatch = db.$client.transaction((inputs: SiteCreate[]) =>
    inputs.map((input): { ok: true; site: SiteView } | { ok: false; error: unknown } => {
      try {
        return { ok: true, site: insertInSavepoint(input) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );

  let queued: { input: SiteCreate; resolve: (site: SiteView) => void; reject: (error: unknown) => void }[] = [];
  const flushCreations = () => {
    const batch = queued;
    queued = [];
    let results: ReturnType<typeof insertBatch>;
    try {
      results = insertBatch(batch.map((item) => item.input));
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const result = results[i];
      if (result.ok) item.resolve(result.site);
      else item.reject(result.error);
    });
  };

  const get = (id: number): SiteView | undefined => {
    const row = selectSite.get({ id });
    return row && toView(row, selectUpstreams.all({ siteId: id }));
  };

  return {
    get,

    list(): SiteView[] {
      const rows = selectAllSites.all();
      const ups = groupBySite(selectAllUpstreams.all());
      return rows.map((r) => toView(r, ups.get(r.id) ?? []));
    },

    count(): number {
      return countSites.get()!.n;
    },

    /** The targets of up to `limit` sites with ids above `afterId`, by ascending id (for housekeeping). */
    targetsAfter(afterId: number, limit: number): SiteTargets[] {
      const out: SiteTargets[] = [];
      for (const r of targetsAfter.all(afterId, limit)) {
        let last = out[out.length - 1];
        if (!last || last.siteId !== r.id) {
          last = { siteId: r.id, targets: ['site'] };
          out.push(last);
        }
        if (r.upstream_id !== null) last.targets.push(String(r.upstream_id));
      }
      return out;
    },

    /**
     * Inserts a site with its upstreams; the view is built from the rows as inserted (no read
     * back). Committed together with the other creations that arrive in the same turn of the
     * event loop: under a burst of API clients one commit serves many sites (a commit is about
     * half of what a creation costs the database). Resolves once the transaction has committed,
     * so an acknowledged site is on disk; each site has its own savepoint, so one failing insert
     * fails only its own request.
     */
    create(input: SiteCreate): Promise<SiteView> {
      return new Promise((resolve, reject) => {
        queued.push({ input, resolve, reject });
        if (queued.length === 1) setImmediate(flushCreations);
      });
    },

    update(id: number, patch: SitePatch): SiteView | undefined {
      const found = db.transaction(() => {
        const { upstreams: ups, webhooks, ...fields } = patch;
        if (webhooks) {
          const existing = db.select({ webhooks: sites.webhooks }).from(sites).where(eq(sites.id, id)).get();
          Object.assign(fields, { webhooks: webhooksToStore(webhooks, existing?.webhooks) });
        }
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

    /** Several sites with their upstreams (in the order of `ids`; unknown ids are left out). */
    getMany(ids: number[]): SiteView[] {
      const out: SiteView[] = [];
      for (const id of ids) {
        const site = get(id);
        if (site) out.push(site);
      }
      return out;
    },

    /** Other sites that watch the same URL through the same upstream URLs (in any order): duplicates of `site`. */
    duplicatesOf(site: Pick<SiteView, 'id' | 'url' | 'upstreams'>): { id: number; name: string }[] {
      const key = (urls: string[]) => [...urls].sort().join('\n');
      const wanted = key(site.upstreams.map((u) => u.url));
      return selectSameUrl.all(site.url, site.id).filter((other) => key(selectUpstreams.all({ siteId: other.id }).map((u) => u.url)) === wanted);
    },

    /** Sites without their own alertEmails (they rely on ALERT_TO). */
    withoutAlertEmails(): { id: number; name: string }[] {
      return db.$client.prepare<[], { id: number; name: string }>(`SELECT id, name FROM sites WHERE alert_emails = '[]' ORDER BY id`).all();
    },

    exists(id: number): boolean {
      return selectExists.get({ id }) !== undefined;
    },
  };
}

export type SitesRepository = ReturnType<typeof createSitesRepository>;
