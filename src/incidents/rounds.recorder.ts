import { inMaintenance } from '../sites/sites.maintenance.js';
import type { Db } from '../db/client.js';
import type { AlertKind } from '../alerts/alerts.table.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import type { CheckRow } from '../checks/checks.table.js';
import { createHourRollups, createRollupsRepository } from '../checks/rollups.repository.js';
import { diagnose } from '../diagnosis/diagnose.js';
import { SLOW_MIN_EXTRA_MS } from '../diagnosis/state.js';
import type { DiagnosisSite, TimelineCheck } from '../diagnosis/diagnosis.types.js';
import type { RoundResult } from '../scheduler/scheduler.js';
import type { SiteView } from '../sites/sites.repository.js';
import type { StatusSnapshot } from '../status/status.snapshot.js';
import type { Clock } from '../shared/clock.js';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { GatewayLogEvent } from '../gatewaylog/gatewaylog.types.js';
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
  /** The status snapshot shared with status and housekeeping (service.ts makes the one instance). */
  snapshot: StatusSnapshot;
  /**
   * Called when rounds held back (HOLD_MS) are due to be written and no new batch came to take
   * them: service.ts records them as it does a batch (record([]) writes what is held).
   */
  heldDue?: () => void;
  /** The gateway-log lines kept per site (src/gatewaylog); read only for a site that fails or has an incident. */
  gatewayLog?: {
    events(siteId: number, since: number): GatewayLogEvent[];
    attachToIncident(siteId: number, from: number, incidentId: number): void;
  };
}

/**
 * How long ordinary rounds (everything up, nothing open) may wait in memory to share one commit:
 * each commit writes every page it touched to the WAL, so one a second instead of one per batch
 * writes a page dirtied by many checks once. A SIGKILL loses at most this much of such checks;
 * a round that opens, updates or resolves an incident, or writes an alert, commits at once.
 */
const HOLD_MS = 1000;

/** How far back diagnosis looks before a streak (its baseline), and the most rows it reads. */
const BASELINE_MS = 60 * 60 * 1000;
const MAX_WINDOW_ROWS = 3000;
/** Gateway-log lines this long before the first failure stay with the incident too (what led to it). */
const GATEWAY_LOG_LEAD_MS = 5 * 60 * 1000;

/**
 * How stale `sites.last_round_at` may be: the scheduler only reads it at start, to keep a site
 * from being probed again within half an interval of its last round; the status snapshot has the
 * exact time of every target's last check. Marks wait in memory and are written in one sweep in
 * id order this often (a page of sites once per sweep, instead of a random page per commit);
 * a state change, a site's first round and the rounds of sites checked this rarely or less are
 * written at once.
 */
const ROUND_MARK_EVERY_MS = 10 * 60_000;


const toTimeline = (row: CheckRow): TimelineCheck => ({
  target: row.target,
  startedAt: row.startedAt,
  outcome: row.outcome,
  statusCode: row.statusCode,
  errorMessage: row.errorMessage,
  addresses: row.addresses,
  address: row.address,
  failedAddresses: row.failedAddresses,
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

/** Nothing failed, no address lost, and no answer slow enough to be far above any baseline. */
const isPlainlyUp = (round: RoundResult) =>
  round.checks.every((c) => c.outcome === 'ok' && !c.failedAddresses?.length && (c.ttfbMs ?? 0) <= SLOW_MIN_EXTRA_MS);

/**
 * Stores finished rounds in one transaction: the checks, their hour rollups, and for each
 * site the result of diagnosis (site state, incident opened/updated/resolved, alerts).
 */
export function createRoundRecorder(deps: RecorderDeps) {
  const { db } = deps;
  const hours = createHourRollups(createRollupsRepository(db, deps.checks), {
    clock: deps.clock,
    transaction: (fn) => db.$client.transaction(fn)(),
    isOpen: () => db.$client.open,
  });
  const { snapshot } = deps;
  // Per round, on every batch: prepared once. The site's stored state, and whether it has an
  // open incident (a site deleted while its round ran has no row: its checks are dropped).
  const siteNow = db.$client.prepare<[number], { state: SiteView['state']; last: number | null; open: number }>(
    `SELECT state, last_round_at AS last, EXISTS (SELECT 1 FROM incidents WHERE site_id = sites.id AND state = 'open') AS open FROM sites WHERE id = ?`,
  );
  const setSiteRound = db.$client.prepare('UPDATE sites SET state = ?, last_round_at = ? WHERE id = ?');
  const setRoundMark = db.$client.prepare('UPDATE sites SET last_round_at = @at WHERE id = @id AND (last_round_at IS NULL OR last_round_at < @at)');
  /** Round marks not written yet: site id → start of its newest round; `marksSince` is when the oldest waits from. */
  const marks = new Map<number, number>();
  let marksSince = 0;
  /** Writes the waiting marks in id order (inside a transaction); a deleted site's mark matches no row. */
  const writeMarks = () => {
    for (const id of [...marks.keys()].sort((a, b) => a - b)) setRoundMark.run({ at: marks.get(id), id });
    marks.clear();
  };

  /** Re-evaluates one site from its recorded timeline; writes incident and state changes. */
  const evaluate = (site: SiteView, hasOpen: boolean, round: RoundResult, now: number) => {
    // Nothing failed, no address lost, and no answer slow enough to be far above any baseline
    // (that takes more than SLOW_MIN_EXTRA_MS): `up` without reading the window.
    const plainlyUp = isPlainlyUp(round);
    if (!hasOpen && plainlyUp && (site.state === 'up' || site.state === 'unknown')) {
      // The common case stays cheap: nothing failing, nothing open.
      return 'up' as const;
    }
    const openRow = hasOpen ? deps.incidents.openFor(site.id) : undefined;
    const since = (openRow ? Math.min(openRow.firstFailureAt, now) : now) - BASELINE_MS;
    const timeline = deps.checks.window(site.id, since, MAX_WINDOW_ROWS).map(toTimeline);
    const logConfig = deps.gatewayLog && site.gatewayLog ? site.gatewayLog : null;
    const result = diagnose({
      site: toDiagnosisSite(site),
      checks: timeline,
      open: openRow ? toIncidentState(openRow) : null,
      now,
      gatewayLog: logConfig
        ? { product: logConfig.format, file: basename(logConfig.path), events: deps.gatewayLog!.events(site.id, since) }
        : undefined,
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
      if (logConfig) deps.gatewayLog!.attachToIncident(site.id, row.firstFailureAt - GATEWAY_LOG_LEAD_MS, row.id);
      for (const change of result.changes) {
        if (change === 'kind_changed') continue;
        deps.alerts.enqueue(site, row, change);
      }
    }
    return result.state;
  };

  /** Rounds held back (ordinary ones), written with the next batch that must commit or after HOLD_MS. */
  let held: RoundResult[] = [];
  let heldSince = 0;
  let heldTimer: NodeJS.Timeout | null = null;
  /** Sites whose next round someone waits for (a check on demand): it is written at once. */
  const awaited = new Set<number>();

  /** True when the round can wait: nothing failed or slow, the site stored as up with no open incident. */
  const mayWait = (round: RoundResult) => {
    if (awaited.has(round.site.id) || !isPlainlyUp(round)) return false;
    const row = siteNow.get(round.site.id);
    return row !== undefined && row.state === 'up' && row.open === 0;
  };

  /** Writes rounds in one transaction; their stored checks are added to `stored` per site. */
  const write = (rounds: RoundResult[], stored = new Map<number, CheckRow[]>()): Map<number, CheckRow[]> => {
    const now = deps.clock.now();
    try {
      writeTransaction(rounds, stored, now);
    } catch (err) {
      deps.checks.forgetUncommitted();
      throw err;
    }
    // After the commit: a chunk that closed is written once its checks are stored for good.
    deps.checks.writeClosedChunks();
    return stored;
  };

  const writeTransaction = (rounds: RoundResult[], stored: Map<number, CheckRow[]>, now: number) => {
    db.transaction(() => {
      // A site deleted while its round ran took its history with it: drop its checks too.
      const current = new Map<number, { state: SiteView['state']; last: number | null; open: number }>();
      for (const round of rounds) {
        const row = siteNow.get(round.site.id);
        if (row) current.set(round.site.id, row);
      }
      const live = rounds.filter((r) => current.has(r.site.id));
      const rows = live.flatMap((r) => r.checks);
      const inserted = rows.length ? deps.checks.insertReturning(rows) : [];
      for (const row of inserted) {
        const list = stored.get(row.siteId);
        if (list) list.push(row);
        else stored.set(row.siteId, [row]);
      }
      hours.record(rows, now);
      snapshot.observe(inserted);
      for (const round of live) {
        const { state: storedState, last, open } = current.get(round.site.id)!;
        const site = { ...round.site, state: storedState };
        const state = evaluate(site, open === 1, round, now);
        // The site's row is rewritten at once when its state changes; else its mark waits for
        // the next sweep (see ROUND_MARK_EVERY_MS): a write per round dirtied a page per check.
        if (state !== storedState || last === null || round.startedAt < last || site.intervalSeconds * 1000 >= ROUND_MARK_EVERY_MS) {
          setSiteRound.run(state, round.startedAt, site.id);
          marks.delete(site.id);
        } else if (round.startedAt > (marks.get(site.id) ?? last)) {
          if (marks.size === 0) marksSince = now;
          marks.set(site.id, round.startedAt);
        }
      }
      if (marks.size > 0 && now - marksSince >= ROUND_MARK_EVERY_MS) writeMarks();
    });
  };

  return {
    /**
     * Stores finished rounds, or holds them back when all of them can wait (HOLD_MS at most):
     * the returned map has the checks stored now per site (held ones included once written).
     * Only the scheduler's batches (`hold`) may wait; `record([])` writes whatever is held.
     */
    record(rounds: RoundResult[], hold = false): Map<number, CheckRow[]> {
      if (hold && deps.heldDue && rounds.length > 0 && (held.length === 0 || performance.now() - heldSince < HOLD_MS) && rounds.every(mayWait)) {
        if (held.length === 0) heldSince = performance.now();
        for (const round of rounds) held.push(round);
        if (!heldTimer) {
          heldTimer = setTimeout(() => {
            heldTimer = null;
            if (held.length > 0 && db.$client.open) deps.heldDue?.();
          }, HOLD_MS);
          heldTimer.unref();
        }
        return new Map();
      }
      for (const round of rounds) awaited.delete(round.site.id);
      const before = held;
      held = [];
      if (heldTimer) clearTimeout(heldTimer);
      heldTimer = null;
      if (before.length === 0) return write(rounds);
      // A held round of a site that has a round in this batch too is judged before it, in its own
      // transaction: diagnosis reads the site's window, which must not yet hold the later checks.
      const sites = new Set(rounds.map((r) => r.site.id));
      if (!before.some((r) => sites.has(r.site.id))) return write(before.concat(rounds));
      return write(rounds, write(before));
    },
    /** Writes the round marks that wait for the next sweep (at stop, after the held rounds). */
    writeRoundMarks(): void {
      if (marks.size > 0 && db.$client.open) db.transaction(writeMarks);
    },
    /** The next round of this site is written at once (someone waits for its checks). */
    awaitRound(siteId: number): void {
      awaited.add(siteId);
    },
    /** Hour rollups held in memory until their hour closes (tests, the bench). */
    hours,
  };
}

export type RoundRecorder = ReturnType<typeof createRoundRecorder>;
