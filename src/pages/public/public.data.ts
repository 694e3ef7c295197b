/** Gathers what the public status page shows, from the status service, the series and the incidents. */
import type { PagesDeps, StatusEntry } from '../pages.deps.js';
import type { IncidentListItem } from '../pages.repository.js';
import type { LatencyPoint } from '../pages.components.js';
import type { UptimeBucket } from '../uptime-series.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const HISTORY_DAYS = 90;

export interface PublicSite {
  id: number;
  name: string;
  state: StatusEntry['state'];
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null; '90d': number | null };
  days: UptimeBucket[];
  latency: LatencyPoint[];
  latencyNow: number | null;
  incident: StatusEntry['incident'];
}

export interface PublicStatus {
  sites: PublicSite[];
  open: IncidentListItem[];
  history: IncidentListItem[];
  /** The newest check shown (so the page, and its ETag, change only with the data). */
  asOf: number | null;
}

const sumUptime = (days: UptimeBucket[]) => {
  let checks = 0;
  let ok = 0;
  for (const d of days) {
    checks += d.checks;
    ok += d.ok;
  }
  return checks > 0 ? Math.round((ok / checks) * 100_000) / 1000 : null;
};

export async function publicStatus(deps: PagesDeps): Promise<PublicStatus> {
  const now = deps.clock.now();
  const entries = JSON.parse(await deps.status.listJson(0, -1, false)) as StatusEntry[];
  const today = Math.floor(now / DAY) * DAY;
  const from = today - (HISTORY_DAYS - 1) * DAY;
  const hourFrom = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
  let asOf: number | null = null;
  const sites = entries.map((e): PublicSite => {
    const days = deps.uptimeSeries(e.id, { from, to: today + DAY, granularity: 'day' });
    const hours = deps.uptimeSeries(e.id, { from: hourFrom, to: hourFrom + 24 * HOUR, granularity: 'hour' });
    if (e.lastCheck && (asOf === null || e.lastCheck.at > asOf)) asOf = e.lastCheck.at;
    return {
      id: e.id,
      name: e.name,
      state: e.state,
      uptime: { ...e.uptime, '90d': sumUptime(days) },
      days,
      latency: hours.map((h) => ({ at: h.start, ms: h.latencyMs.avg })),
      latencyNow: e.latencyMs.last,
      incident: e.incident,
    };
  });
  const incidents = deps.pages.recent(now - HISTORY_DAYS * DAY, { publicOnly: true, limit: 200 });
  return {
    sites,
    open: incidents.filter((i) => i.state === 'open'),
    history: incidents.filter((i) => i.state === 'resolved'),
    asOf,
  };
}
