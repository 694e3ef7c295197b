import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { AlertKind } from '../alerts/alerts.table.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import type { CheckRow } from '../checks/checks.table.js';
import { addToMinuteRollups } from '../checks/rollups.js';
import { diagnose } from '../diagnosis/diagnose.js';
import type { DiagnosisSite, TimelineCheck } from '../diagnosis/diagnosis.types.js';
import type { RoundResult } from '../scheduler/scheduler.js';
import type { SiteView } from '../sites/sites.repository.js';
import { sites, type MaintenanceWindow } from '../sites/sites.table.js';
import type { Clock } from '../shared/clock.js';
import { toIncidentState, type IncidentsRepository } from './incidents.repository.js';
import type { IncidentRow } from './incidents.table.js';

/** Where incident changes become alerts; called inside the recorder's transaction. */
export interface AlertSink {
  enqueue(site: SiteView, incident: IncidentRow, kind: AlertKind): void;
}

export interface RecorderDeps {
  db: Db;
  checks: ChecksRepository;
  incidents: IncidentsRepository;
  alerts: AlertSink;
  clock: Clock;
}

/** How far back diagnosis looks before a streak (its baseline), and the most rows it reads. */
const BASELINE_MS = 60 * 60 * 1000;
const MAX_WINDOW_ROWS = 3000;

export const inMaintenance = (windows: MaintenanceWindow[], at: number) => windows.some((w) => w.from <= at && at < w.to);

const toTimeline = (row: CheckRow): TimelineCheck => ({
  target: row.target,
  startedAt: row.startedAt,
  outcome: row.outcome,
  statusCode: row.statusCode,
  errorMessage: row.errorMessage,
  addresses: row.addresses,
  address: row.address,
  dnsMs: row.dnsMs,
  connectMs: row.connectMs,
  tlsMs: row.tlsMs,
  ttfbMs: row.ttfbMs,
  totalMs: row.totalMs,
  gateway: row.gateway,
});

const toDiagnosisSite = (site: SiteView): DiagnosisSite => ({
  id: site.id,
  name: site.name,
  url: site.url,
  failureThreshold: site.failureThreshold,
  recoveryThreshold: site.recoveryThreshold,
  upstreams: site.upstreams.map((u) => ({ id: String(u.id), name: u.name, url: u.url })),
});

/**
 * Stores finished rounds in one transaction: the checks, their minute rollups, and for each
 * site the result of diagnosis (site state, incident opened/updated/resolved, alerts).
 */
export function createRoundRecorder(deps: RecorderDeps) {
  const { db } = deps;

  /** Re-evaluates one site from its recorded timeline; writes incident and state changes. */
  const evaluate = (site: SiteView, round: RoundResult, now: number) => {
    const openRow = deps.incidents.openFor(site.id);
    const allOk = round.checks.every((c) => c.outcome === 'ok');
    if (!openRow && allOk && (site.state === 'up' || site.state === 'unknown')) {
      // The common case stays cheap: nothing failing, nothing open.
      return 'up' as const;
    }
    const since = (openRow ? Math.min(openRow.firstFailureAt, now) : now) - BASELINE_MS;
    const timeline = deps.checks.window(site.id, since, MAX_WINDOW_ROWS).map(toTimeline);
    const result = diagnose({
      site: toDiagnosisSite(site),
      checks: timeline,
      open: openRow ? toIncidentState(openRow) : null,
      now,
    });
    if (result.incident) {
      let row: IncidentRow;
      if (openRow) {
        row = deps.incidents.update(openRow.id, result.incident, now);
      } else {
        const silenced = inMaintenance(site.maintenance, result.incident.openedAt);
        row = deps.incidents.insert(site.id, result.incident, silenced, now);
      }
      deps.checks.attachToIncident(site.id, row.firstFailureAt, row.id);
      for (const change of result.changes) {
        if (change === 'kind_changed') continue;
        deps.alerts.enqueue(site, row, change);
      }
    }
    return result.state;
  };

  return {
    record(rounds: RoundResult[]): Map<number, CheckRow[]> {
      const now = deps.clock.now();
      const stored = new Map<number, CheckRow[]>();
      db.transaction(() => {
        // A site deleted while its round ran took its history with it: drop its checks too.
        const states = new Map<number, SiteView['state']>();
        for (const round of rounds) {
          const current = db.select({ state: sites.state }).from(sites).where(eq(sites.id, round.site.id)).get();
          if (current) states.set(round.site.id, current.state);
        }
        const live = rounds.filter((r) => states.has(r.site.id));
        const rows = live.flatMap((r) => r.checks);
        const inserted = rows.length ? deps.checks.insertReturning(rows) : [];
        for (const row of inserted) {
          const list = stored.get(row.siteId) ?? [];
          list.push(row);
          stored.set(row.siteId, list);
        }
        addToMinuteRollups(db, rows);
        for (const round of live) {
          const site = { ...round.site, state: states.get(round.site.id)! };
          const state = evaluate(site, round, now);
          db.update(sites).set({ state, lastRoundAt: round.startedAt }).where(eq(sites.id, site.id)).run();
        }
      });
      return stored;
    },
  };
}

export type RoundRecorder = ReturnType<typeof createRoundRecorder>;
