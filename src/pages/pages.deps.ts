import type { TokenStore } from '../auth/token.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import type { TargetPolicy } from '../probes/target-policy.js';
import type { SitesRepository } from '../sites/sites.repository.js';
import type { SchedulerControl } from '../sites/sites.routes.js';
import type { Clock } from '../shared/clock.js';
import type { StatusService } from '../status/status.service.js';
import type { PagesRepository } from './pages.repository.js';
import type { RecentSeries, UptimeSeries } from './uptime-series.js';

/** Everything the pages read and change, passed in by service.ts (the same repositories as the JSON routes). */
export interface PagesDeps {
  sites: SitesRepository;
  checks: ChecksRepository;
  status: StatusService;
  pages: PagesRepository;
  /** Per-hour and per-day figures of a site, from the rollups. */
  uptimeSeries: UptimeSeries;
  /** A site's last days and last 24 hours together, each raw hour read once (a public card). */
  recentSeries: RecentSeries;
  scheduler: SchedulerControl;
  /** Deletes a site with its history, telling the owners of an open incident (as DELETE /api/sites/:id does). */
  deleteSite: (id: number) => boolean;
  tokens: TokenStore;
  /** ALERT_TO, for the warning a site nobody would hear about gets (as the API's answers carry it). */
  alertTo?: readonly string[];
  /** The probes' target policy: the forms refuse what the API refuses (an IP-literal URL it denies). */
  policy?: TargetPolicy;
  clock: Clock;
  /** STATUS_PUBLIC: false puts the public pages behind signing in too. */
  statusPublic: boolean;
}

/** A status entry as the status service renders it (the anonymous shape, plus what the token adds). */
export interface StatusEntry {
  id: number;
  name: string;
  state: 'up' | 'degraded' | 'down' | 'paused' | 'unknown';
  lastCheck: { at: number; outcome: string; statusCode: number | null; totalMs: number | null; ttfbMs: number | null; errorMessage?: string | null } | null;
  latencyMs: { last: number | null; p50_24h: number | null; p95_24h: number | null };
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null };
  incident: { id: number; kind: string; openedAt: number; failedChecks: number; topCause: { code: string; summary?: string; confidence: number } | null } | null;
  /** The maintenance window the site is in now (`reason` with the token only). */
  maintenance: { from: number; until: number; reason?: string } | null;
  url?: string;
}
