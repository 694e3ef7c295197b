import { and, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { checks, rollupsHour, rollupsMinute } from '../checks/checks.table.js';
import { mergeHist, percentileOf } from '../checks/rollups.js';
import { settings } from '../db/settings.table.js';
import { incidents } from '../incidents/incidents.table.js';
import type { SiteView } from '../sites/sites.repository.js';
import type { Clock } from '../shared/clock.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WINDOWS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;
/** Hour rollups cover everything before this time (ms); minute rollups the rest. */
export const HOUR_WATERMARK_KEY = 'rollup_hour_watermark';

export interface UptimeFigures {
  '24h': number | null;
  '7d': number | null;
  '30d': number | null;
}

interface Agg {
  count: number;
  ok: number;
  hist: number[];
}

const percent = (a: Agg | undefined) => (a && a.count > 0 ? Math.round((a.ok / a.count) * 100_000) / 1000 : null);

/** Reads uptime and latency of sites' targets from the rollups: the cost does not grow with history. */
export function createStatusService(db: Db, clock: Clock) {
  const watermark = () => {
    const row = db.select().from(settings).where(eq(settings.key, HOUR_WATERMARK_KEY)).get();
    return row ? Number(row.value) : 0;
  };

  /** Per (site, target): aggregates over each window. */
  const aggregate = (siteIds: number[], target?: string) => {
    const now = clock.now();
    const mark = watermark();
    const out = new Map<string, Record<keyof typeof WINDOWS, Agg>>();
    const add = (siteId: number, tgt: string, bucket: number, count: number, ok: number, hist: number[]) => {
      const key = `${siteId}|${tgt}`;
      let rec = out.get(key);
      if (!rec) {
        rec = { '24h': { count: 0, ok: 0, hist: [] }, '7d': { count: 0, ok: 0, hist: [] }, '30d': { count: 0, ok: 0, hist: [] } };
        out.set(key, rec);
      }
      for (const [name, span] of Object.entries(WINDOWS) as [keyof typeof WINDOWS, number][]) {
        if (bucket < now - span) continue;
        const a = rec[name];
        a.count += count;
        a.ok += ok;
        if (name === '24h') a.hist = mergeHist(a.hist, hist);
      }
    };
    const siteFilter = (col: typeof rollupsMinute.siteId | typeof rollupsHour.siteId) =>
      siteIds.length === 1 ? eq(col, siteIds[0]) : inArray(col, siteIds);
    const from = now - WINDOWS['30d'];
    const hourRows = db
      .select()
      .from(rollupsHour)
      .where(and(siteFilter(rollupsHour.siteId), gte(rollupsHour.bucket, from - HOUR), lt(rollupsHour.bucket, mark), target ? eq(rollupsHour.target, target) : undefined))
      .all();
    for (const r of hourRows) add(r.siteId, r.target, r.bucket + HOUR - 1, r.count, r.okCount, r.latencyHist);
    const minuteRows = db
      .select()
      .from(rollupsMinute)
      .where(and(siteFilter(rollupsMinute.siteId), gte(rollupsMinute.bucket, Math.max(mark, from)), target ? eq(rollupsMinute.target, target) : undefined))
      .all();
    for (const r of minuteRows) add(r.siteId, r.target, r.bucket, r.count, r.okCount, r.latencyHist);
    return out;
  };

  const lastChecks = (siteIds: number[], targetFilter?: string) => {
    if (siteIds.length === 0) return [];
    return db
      .select()
      .from(checks)
      .where(
        and(
          inArray(checks.siteId, siteIds),
          targetFilter ? eq(checks.target, targetFilter) : undefined,
          sql`${checks.startedAt} = (SELECT MAX(c2.started_at) FROM checks c2 WHERE c2.site_id = ${checks.siteId} AND c2.target = ${checks.target})`,
        ),
      )
      .all();
  };

  const openIncidents = (siteIds: number[]) =>
    siteIds.length === 0
      ? []
      : db
          .select()
          .from(incidents)
          .where(and(inArray(incidents.siteId, siteIds), eq(incidents.state, 'open')))
          .orderBy(desc(incidents.openedAt))
          .all();

  /** Status entries for sites; `full` adds what only an authenticated caller may see. */
  const build = (list: SiteView[], full: boolean, withUpstreams: boolean) => {
    const ids = list.map((s) => s.id);
    const aggs = aggregate(ids, withUpstreams ? undefined : 'site');
    const last = new Map(lastChecks(ids, withUpstreams ? undefined : 'site').map((c) => [`${c.siteId}|${c.target}`, c]));
    const open = new Map(openIncidents(ids).map((i) => [i.siteId, i]));
    return list.map((site) => {
      const lastSite = last.get(`${site.id}|site`);
      const agg = aggs.get(`${site.id}|site`);
      const incident = open.get(site.id);
      const top = incident?.causes[0];
      const entry: Record<string, unknown> = {
        id: site.id,
        name: site.name,
        state: site.state,
        lastCheck: lastSite
          ? { at: lastSite.startedAt, outcome: lastSite.outcome, statusCode: lastSite.statusCode, totalMs: lastSite.totalMs, ttfbMs: lastSite.ttfbMs }
          : null,
        latencyMs: {
          last: lastSite?.ttfbMs ?? null,
          p50_24h: agg ? percentileOf(agg['24h'].hist, 0.5) : null,
          p95_24h: agg ? percentileOf(agg['24h'].hist, 0.95) : null,
        },
        uptime: { '24h': percent(agg?.['24h']), '7d': percent(agg?.['7d']), '30d': percent(agg?.['30d']) } satisfies UptimeFigures,
        incident: incident
          ? {
              id: incident.id,
              kind: incident.kind,
              openedAt: incident.openedAt,
              failedChecks: incident.failedChecks,
              topCause: top ? { code: top.code, summary: full ? top.summary : undefined, confidence: top.confidence } : null,
            }
          : null,
      };
      if (full) {
        entry.url = site.url;
        if (lastSite) (entry.lastCheck as Record<string, unknown>).errorMessage = lastSite.errorMessage;
      }
      if (withUpstreams) {
        entry.upstreams = site.upstreams.map((u) => {
          const c = last.get(`${site.id}|${u.id}`);
          const ua = aggs.get(`${site.id}|${u.id}`);
          const base: Record<string, unknown> = {
            name: u.name,
            state: c ? (c.outcome === 'ok' ? 'up' : 'down') : 'unknown',
            lastCheck: c ? { at: c.startedAt, outcome: c.outcome, statusCode: c.statusCode, totalMs: c.totalMs, ttfbMs: c.ttfbMs } : null,
            uptime: { '24h': percent(ua?.['24h']), '7d': percent(ua?.['7d']), '30d': percent(ua?.['30d']) },
          };
          if (full) {
            base.id = u.id;
            base.url = u.url;
            if (c) Object.assign(base.lastCheck as object, { addresses: c.addresses, address: c.address, errorMessage: c.errorMessage });
          }
          return base;
        });
      }
      return entry;
    });
  };

  return {
    list: (sites: SiteView[], full: boolean) => build(sites, full, false),
    one: (site: SiteView, full: boolean) => build([site], full, true)[0],
  };
}

export type StatusService = ReturnType<typeof createStatusService>;
