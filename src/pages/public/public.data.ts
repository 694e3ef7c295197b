/**
 * Gathers what the public status page shows, from the status service, the series and the
 * incidents. Each site's card is kept rendered until its status entry changes (a check, a state,
 * an incident, an edit) or the hour turns: a page polled every second at 1,000 sites renders the
 * few sites checked since the last load, not all of them. When the hour turns, the cards whose
 * site was not checked since are rendered again a few per build (a checked site's card is new
 * anyway), so that no load renders every card at once.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PagesDeps, StatusEntry } from '../pages.deps.js';
import type { IncidentListItem } from '../pages.repository.js';
import type { LatencyPoint, MaintenanceDays } from '../pages.components.js';
import { maintenanceDuring } from '../../sites/sites.maintenance.js';
import type { UptimeBucket } from '../uptime-series.js';
import { pagePart, type PagePart } from '../pages.http.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const HISTORY_DAYS = 90;
/** The most incidents (open and past together) the page lists; it says so when there were more. */
export const HISTORY_LIMIT = 200;
/**
 * Up to this many public sites, the status page is built for each request (public.routes.ts), and
 * each site's past days are kept for the hour (see createPublicStatus).
 */
export const SMALL_PAGE_SITES = 200;
const NO_LATENCY: UptimeBucket['latencyMs'] = Object.freeze({ avg: null, p50: null, p95: null, p99: null });
const NO_FAILURES: UptimeBucket['failures'] = Object.freeze({});
/** Cards of an earlier hour (their site not checked since) rendered again per build. */
const HOUR_TURN_PER_BUILD = 10;

export interface PublicSite {
  id: number;
  name: string;
  state: StatusEntry['state'];
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null; '90d': number | null };
  days: UptimeBucket[];
  latency: LatencyPoint[];
  latencyNow: number | null;
  incident: StatusEntry['incident'];
  maintenance: StatusEntry['maintenance'];
  /** The days (their starts) that one of the site's maintenance windows touched. */
  maintenanceDays: MaintenanceDays;
}

/** A site's card as the page shows it: its state (for the banner) and its HTML, encoded and hashed. */
export interface RenderedCard {
  id: number;
  name: string;
  state: StatusEntry['state'];
  maintenance: StatusEntry['maintenance'];
  html: PagePart;
}

export interface PublicStatus {
  cards: RenderedCard[];
  open: IncidentListItem[];
  history: IncidentListItem[];
  /** More incidents than HISTORY_LIMIT in the last HISTORY_DAYS days: the oldest are not listed. */
  historyTruncated: boolean;
  /** The newest check shown (so the page, and its ETag, change only with the data). */
  asOf: number | null;
}

/** The HISTORY_DAYS - 1 days before today, from the day rollups (or summed from closed hours). */
const pastDaysOf = (deps: Pick<PagesDeps, 'uptimeSeries'>, siteId: number, now: number) => {
  const today = Math.floor(now / DAY) * DAY;
  return deps.uptimeSeries(siteId, { from: today - (HISTORY_DAYS - 1) * DAY, to: today, granularity: 'day', now });
};

const sumUptime = (days: UptimeBucket[]) => {
  let checks = 0;
  let ok = 0;
  for (const d of days) {
    checks += d.checks;
    ok += d.ok;
  }
  return checks > 0 ? Math.round((ok / checks) * 100_000) / 1000 : null;
};

/**
 * One public site's figures: its entry, 90 days by day, the last 24 hours by hour. `pastDays`: the
 * days before today, when the caller kept them (else they are read).
 */
export function publicSite(deps: Pick<PagesDeps, 'recentSeries' | 'uptimeSeries' | 'status'>, e: StatusEntry, now: number, pastDays?: UptimeBucket[]): PublicSite {
  const { days: today, hours } = deps.recentSeries(e.id, { now, days: 1 });
  const days = [...(pastDays ?? pastDaysOf(deps, e.id, now)), ...today];
  const windows = deps.status.maintenanceWindows(e.id);
  const maintenanceDays = new Set<number>();
  if (windows.length > 0) for (const d of days) if (maintenanceDuring(windows, d.start, d.start + DAY)) maintenanceDays.add(d.start);
  return {
    id: e.id,
    name: e.name,
    state: e.state,
    uptime: { ...e.uptime, '90d': sumUptime(days) },
    days,
    latency: hours.map((h) => ({ at: h.start, ms: h.latencyMs.avg })),
    latencyNow: e.latencyMs.last,
    incident: e.incident,
    maintenance: e.maintenance,
    maintenanceDays,
  };
}

/**
 * Reads the page's data; `renderCard` turns a site into HTML, kept until the site's entry changes.
 * `sliceMs`: let the event loop run whenever rendering has held it this long (a build in the
 * background, so that it holds up neither the scheduler nor other requests).
 */
export function createPublicStatus(deps: PagesDeps, renderCard: (site: PublicSite) => string) {
  const kept = new Map<number, { entry: string; hour: number; card: RenderedCard }>();
  /**
   * Each site's days before today, read at most once an hour while the page lists up to
   * SMALL_PAGE_SITES sites (built for each request, so a request waits for it): a card rendered
   * again because its site was checked then reads only today and the last 24 hours. Past days
   * change only when a late check or the day's fold lands, which the next hour's read picks up.
   * Kept without the latency and failures the card does not show (~70 bytes a day).
   */
  const pastDays = new Map<number, { hour: number; days: UptimeBucket[] }>();
  const pastDaysKept = (siteId: number, now: number, hour: number, sites: number) => {
    if (sites > SMALL_PAGE_SITES) return undefined;
    let have = pastDays.get(siteId);
    if (!have || have.hour !== hour) {
      const days = pastDaysOf(deps, siteId, now).map((d) => ({ ...d, latencyMs: NO_LATENCY, failures: NO_FAILURES }));
      pastDays.set(siteId, (have = { hour, days }));
    }
    return have.days;
  };
  return async function publicStatus(opts: { sliceMs?: number } = {}): Promise<PublicStatus> {
    const sliceMs = opts.sliceMs ?? Infinity;
    const now = deps.clock.now();
    const hour = Math.floor(now / HOUR) * HOUR;
    const entries = JSON.parse(await deps.status.listJson(0, -1, false)) as StatusEntry[];
    let asOf: number | null = null;
    const seen = new Set<number>();
    const cards: RenderedCard[] = [];
    let since = performance.now();
    let hourTurns = 0;
    for (const e of entries) {
      seen.add(e.id);
      if (e.lastCheck && (asOf === null || e.lastCheck.at > asOf)) asOf = e.lastCheck.at;
      // The windows too: an edit of a past window changes the day bars, not the entry.
      const windows = deps.status.maintenanceWindows(e.id);
      const entry = windows.length > 0 ? JSON.stringify(e) + JSON.stringify(windows) : JSON.stringify(e);
      const have = kept.get(e.id);
      if (have && have.entry === entry && (have.hour === hour || hourTurns++ >= HOUR_TURN_PER_BUILD)) {
        cards.push(have.card);
        continue;
      }
      if (performance.now() - since > sliceMs) {
        await yieldToLoop();
        since = performance.now();
      }
      const card = { id: e.id, name: e.name, state: e.state, maintenance: e.maintenance, html: pagePart(renderCard(publicSite(deps, e, now, pastDaysKept(e.id, now, hour, entries.length)))) };
      kept.set(e.id, { entry, hour, card });
      cards.push(card);
    }
    if (kept.size > seen.size) for (const id of kept.keys()) if (!seen.has(id)) kept.delete(id);
    if (entries.length > SMALL_PAGE_SITES) pastDays.clear();
    else if (pastDays.size > seen.size) for (const id of pastDays.keys()) if (!seen.has(id)) pastDays.delete(id);
    // One more than shown, to know whether the list is cut.
    // Open incidents are read apart, so that an old one still open is never pushed off the page by
    // newer resolved ones; the history asks for one more than it shows, to know whether it is cut.
    const history = deps.pages.resolved(now - HISTORY_DAYS * DAY, { publicOnly: true, limit: HISTORY_LIMIT + 1 });
    const historyTruncated = history.length > HISTORY_LIMIT;
    if (historyTruncated) history.length = HISTORY_LIMIT;
    return { cards, open: deps.pages.open({ publicOnly: true }), history, historyTruncated, asOf };
  };
}
