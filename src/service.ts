import { createRollupsRepository } from './checks/rollups.repository.js';
import { uptimeRoutes } from './checks/uptime.routes.js';
import { upgradeRollups } from './checks/rollups.upgrade.js';
import { upgradeChecks } from './checks/checks.upgrade.js';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createTokenStore, hasStoredToken, issueToken, tokenFilePath } from './auth/token.js';
import { createAlertsOutbox, createAlertSender, alertsRoutes } from './alerts/index.js';
import { createChecksRepository } from './checks/checks.repository.js';
import type { Config } from './config.js';
import { closeDatabase, openDatabase, type Db } from './db/client.js';
import { createIncidentsRepository } from './incidents/incidents.repository.js';
import { incidentsRoutes } from './incidents/incidents.routes.js';
import { createRoundRecorder, type AlertSink } from './incidents/rounds.recorder.js';
import { createProbeRunner, createTargetPolicy, type ProbeOptions, type ProbeRunner } from './probes/index.js';
import type { HttpProbe } from './probes/probes.types.js';
import { createScheduler } from './scheduler/scheduler.js';
import { createSitesRepository } from './sites/sites.repository.js';
import { sitesRoutes, type SchedulerControl } from './sites/sites.routes.js';
import { createStatusService } from './status/status.service.js';
import { createStatusSnapshot } from './status/status.snapshot.js';
import { statusRoutes } from './status/status.routes.js';
import { systemClock, type Clock } from './shared/clock.js';
import type { Logger } from './shared/logger.js';
import { describeSystemError, StartupError } from './shared/errors.js';
import { resolve as resolvePath } from 'node:path';
import { createHousekeeping } from './scheduler/housekeeping.js';
import { createMetrics } from './metrics/metrics.collector.js';
import { metricsRoutes } from './metrics/metrics.routes.js';
import { createAlertsRepository } from './alerts/alerts.repository.js';
import { createGatewayLogRepository } from './gatewaylog/gatewaylog.repository.js';
import { createGatewayLogFollower } from './gatewaylog/gatewaylog.follower.js';
import { gatewayLogRoutes } from './gatewaylog/gatewaylog.routes.js';
import { createPagesRepository } from './pages/pages.repository.js';
import { pagesRoutes } from './pages/pages.routes.js';
import type { RecentSeries, UptimeSeries } from './pages/uptime-series.js';
import { createWebhooksRepository } from './alerts/webhooks.repository.js';
import { createWebhookSender } from './alerts/webhooks.sender.js';
import { createCertWatch } from './certs/certs.watch.js';
import type { RoundResult } from './scheduler/scheduler.js';
import type { CheckRow } from './checks/checks.table.js';
import { createStorageHealth, isStorageFull } from './storage/storage.health.js';
import { createStorageNotice } from './storage/storage.notice.js';

export interface ServiceOverrides {
  clock?: Clock;
  probe?: HttpProbe;
  /** Webhook delivery settings (tests: shorter back-off). */
  webhooks?: { pollMs?: number; retryBaseMs?: number; maxRetryMs?: number; timeoutMs?: number };
  /** While the database takes no writes: one summary log line this often (default a minute). */
  storageSummaryEveryMs?: number;
}

export interface RunningService {
  port: number;
  db: Db;
  /** Where probes run (PROBE_THREADS) and how many ran where. */
  probes: ProbeRunner;
  stop(): Promise<void>;
}

/** Wires every part on an opened, migrated database; starts nothing. */
export function buildService(config: Config, logger: Logger, overrides: ServiceOverrides = {}) {
  const clock = overrides.clock ?? systemClock;
  let db: Db;
  try {
    db = openDatabase(config.DATABASE_PATH);
  } catch (error) {
    throw new StartupError(`cannot open the database at ${resolvePath(config.DATABASE_PATH)} (DATABASE_PATH): ${describeSystemError(error)}`);
  }
  // The data step of the storage upgrade (0.1 rollups into rollup_hours), before the recorder reads them.
  // One checks repository for the whole service: it keeps the open chunks in memory.
  const checks = createChecksRepository(db);
  const upgraded = upgradeRollups(db, checks);
  if (upgraded.batches > 0) logger.info('rollups upgraded', { ...upgraded });
  const movedChecks = upgradeChecks(db, checks);
  if (movedChecks.batches > 0) logger.info('checks upgraded', { ...movedChecks });

  if (!config.API_TOKEN && !hasStoredToken(db)) {
    const file = tokenFilePath(config.DATABASE_PATH);
    try {
      issueToken(db, file);
    } catch (error) {
      closeDatabase(db);
      throw new StartupError(`cannot write the API token file ${file}: ${describeSystemError(error)}`);
    }
    logger.info('generated an API token; read it from the file (mode 0600)', { tokenFile: file });
  } else if (!config.API_TOKEN) {
    logger.info('API token: the one issued before', { tokenFile: tokenFilePath(config.DATABASE_PATH) });
  }
  const tokens = createTokenStore(db, config.API_TOKEN);

  const sites = createSitesRepository(db, clock);
  const incidents = createIncidentsRepository(db);
  const webhooksRepo = createWebhooksRepository(db);
  const policy = createTargetPolicy({ allow: config.ALLOW_TARGETS, deny: config.DENY_TARGETS });
  const outbox = createAlertsOutbox(db, {
    webhooks: webhooksRepo,
    alertTo: config.ALERT_TO ?? [],
    groupSeconds: config.ALERT_GROUP_SECONDS,
    reminderMinutes: config.REMINDER_MINUTES,
    clock,
    logger,
  });
  const rollups = createRollupsRepository(db, checks);
  const gatewayLogLines = createGatewayLogRepository(db);
  const gatewayLogs = createGatewayLogFollower({ repo: gatewayLogLines, clock, logger, retentionHours: config.RETENTION_RAW_HOURS });
  // The status snapshot lives in memory, one instance for the recorder, housekeeping and status.
  const snapshot = createStatusSnapshot(db, checks);
  const recorder = createRoundRecorder({ db, checks, incidents, alerts: loggedIncidentChanges(outbox, logger), clock, gatewayLog: gatewayLogLines, snapshot, heldDue: () => store([]) });
  const alertsRepo = createAlertsRepository(db);
  const metrics = createMetrics({
    db,
    schedulerStats: () => scheduler.stats(),
    alertsPending: () => alertsRepo.countPending() + webhooksRepo.countPending(),
    lastChecks: snapshot,
  });
  const certs = createCertWatch({ db, clock, warnDays: config.CERT_WARN_DAYS, alertTo: config.ALERT_TO ?? [], sites, webhooks: webhooksRepo });
  const storageNotice = createStorageNotice({ smtpUrl: config.SMTP_URL, from: config.ALERT_FROM, to: config.ALERT_TO ?? [], logger });
  const storage = createStorageHealth({ clock, logger, events: storageNotice, summaryEveryMs: overrides.storageSummaryEveryMs });
  let lastRecordAt = 0;
  /**
   * While writes fail and no round is being recorded (no sites, all paused), a write that needs
   * real space (8 KB, removed at once) tells when it has returned: /healthz and the API recover
   * without waiting for a round.
   */
  const spaceProbe = setInterval(() => {
    if (!storage.failure() || clock.now() - lastRecordAt < 10_000 || !db.$client.open) return;
    try {
      db.$client.prepare(`INSERT INTO settings (key, value) VALUES ('storage_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run('x'.repeat(8192));
      db.$client.prepare(`DELETE FROM settings WHERE key = 'storage_probe'`).run();
      storage.succeeded();
    } catch {
      /* still full: the summary line a minute says so */
    }
  }, 5_000);
  spaceProbe.unref();
  /** The recorder, around which a full disk drops the rounds (counted, logged once a minute) instead of failing each batch. */
  const record = (rounds: RoundResult[], hold: boolean) => {
    lastRecordAt = clock.now();
    try {
      const stored = recorder.record(rounds, hold);
      storage.succeeded();
      return stored;
    } catch (error) {
      if (!isStorageFull(error)) throw error;
      storage.failed(error, { rounds: rounds.length, checks: rounds.reduce((n, r) => n + r.checks.length, 0) });
      return new Map<number, CheckRow[]>();
    }
  };
  /** Records rounds (held ones with them; `store([])` writes what the recorder holds) and tells metrics and certificates. */
  const store = (rounds: RoundResult[], hold = false) => {
    const stored = record(rounds, hold);
    for (const rows of stored.values()) {
      metrics.observe(rows);
      certs.observe(rows);
    }
    return stored;
  };
  const probes = probeRunner(config, logger, overrides);
  const scheduler = createScheduler({
    loadSites: (ids) => (ids ? sites.getMany(ids) : sites.list()),
    probe: probes.probe,
    record: (rounds) => store(rounds, true),
    clock,
    logger,
    maxConcurrentProbes: config.MAX_CONCURRENT_PROBES,
  });
  /**
   * The scheduler as the routes use it: a round run on demand is written at once (its caller waits
   * for its checks), and an edit or deletion also renews the site's metrics lines.
   */
  const schedulerControl: SchedulerControl = {
    siteChanged: (id, current) => {
      scheduler.siteChanged(id, current);
      metrics.siteChanged(id);
    },
    siteRemoved: (id) => {
      scheduler.siteRemoved(id);
      metrics.siteRemoved(id);
    },
    runNow: (id) => {
      recorder.awaitRound(id);
      return scheduler.runNow(id);
    },
  };
  const sender = createAlertSender({ db, clock, logger, smtpUrl: config.SMTP_URL, from: config.ALERT_FROM, publicUrl: config.PUBLIC_URL });
  const webhooks = createWebhookSender({ db, clock, logger, policy, publicUrl: config.PUBLIC_URL, ...overrides.webhooks });
  const housekeeping = createHousekeeping({
    db,
    clock,
    logger,
    outbox,
    sites,
    checks,
    snapshot,
    retentionRawHours: config.RETENTION_RAW_HOURS,
    retentionHourlyDays: config.RETENTION_HOURLY_DAYS,
    retentionDailyDays: config.RETENTION_DAILY_DAYS,
  });
  const status = createStatusService(db, clock, snapshot);
  const uptimeSeries: UptimeSeries = (siteId, opts) => rollups.uptimeSeries(siteId, opts);
  const recentSeries: RecentSeries = (siteId, opts) => rollups.recentSeries(siteId, opts);

  /**
   * Deletes a site with its history. An open incident's owners heard it open: they get a closing
   * notice, written to the outbox (which outlives the site) in the transaction that deletes it.
   */
  const deleteSite = (id: number): boolean =>
    db.transaction(() => {
      const site = sites.get(id);
      if (!site) return false;
      const open = incidents.openFor(id);
      if (open) {
        outbox.enqueue(site, open, 'closed');
        logger.info('incident closed: its site was deleted', { siteId: id, site: site.name, incidentId: open.id, kind: open.kind, cause: open.causes[0]?.code ?? null });
      }
      snapshot.forgetSite(id);
      return sites.delete(id);
    });

  const app = createApp({
    tokens,
    logger,
    statusPublic: config.STATUS_PUBLIC,
    schedulerRunning: () => scheduler.running,
    storageFailure: () => storage.failure(),
    onStorageFull: (error) => storage.failed(error, { requests: 1 }),
    routes: [
      {
        path: '/api/sites',
        app: sitesRoutes({
          sites,
          checks,
          scheduler: schedulerControl,
          alertTo: config.ALERT_TO ?? [],
          deleteSite: (id) => deleteSite(id),
          policy,
          storageFailing: () => storage.failure() !== null,
          gatewayLogStatus: (site) => gatewayLogLines.status(site.gatewayLog),
        }),
      },
      { path: '/api/sites', app: uptimeRoutes({ sites, rollups, clock }) },
      { path: '/api/sites', app: gatewayLogRoutes({ lines: gatewayLogLines, siteExists: (id) => sites.exists(id) }) },
      { path: '/api/incidents', app: incidentsRoutes({ incidents, clock }) },
      { path: '/api/status', app: statusRoutes({ sites, status, clock }) },
      { path: '/api/alerts', app: alertsRoutes({ db }) },
      { path: '/metrics', app: metricsRoutes({ metrics, tokens, public: config.METRICS_PUBLIC }) },
      {
        path: '/',
        app: pagesRoutes({ sites, checks, status, pages: createPagesRepository(db), uptimeSeries, recentSeries, scheduler: schedulerControl, deleteSite: (id) => deleteSite(id), tokens, policy, alertTo: config.ALERT_TO ?? [], clock, statusPublic: config.STATUS_PUBLIC }),
      },
    ],
  });

  const stopStorage = () => {
    clearInterval(spaceProbe);
    storage.stop();
    storageNotice.stop();
  };
  return {
    app,
    db,
    clock,
    scheduler,
    probes,
    sender,
    housekeeping,
    sites,
    checks,
    incidents,
    outbox,
    recorder,
    snapshot,
    status,
    rollups,
    metrics,
    deleteSite,
    gatewayLogs,
    gatewayLogLines,
    webhooks,
    storage,
    storageNotice,
    stopStorage,
    /** Writes the rounds the recorder holds back and its waiting round marks, then the open chunks (at stop, once the scheduler has stopped). */
    storeHeld: () => {
      store([]);
      try {
        recorder.writeRoundMarks();
        checks.writeOpenChunks();
      } catch (error) {
        // Nothing is lost: the next start rebuilds the chunks from the raw checks, and a stale
        // round mark only lets a site be probed a little early.
        if (!isStorageFull(error)) throw error;
      }
    },
  };
}

/**
 * The probe for `PROBE_THREADS`. A test's probe or clock keeps probing in-process, as a fake clock
 * must not drive the routing of real probes.
 */
function probeRunner(config: Config, logger: Logger, overrides: ServiceOverrides): ProbeRunner {
  const options: ProbeOptions = { dnsServers: config.DNS_SERVERS, allowTargets: config.ALLOW_TARGETS, denyTargets: config.DENY_TARGETS };
  const threads = overrides.probe || overrides.clock ? 0 : config.PROBE_THREADS;
  return createProbeRunner({ threads, options, logger, local: overrides.probe });
}

export type Service = ReturnType<typeof buildService>;

/** Why the server could not listen, in one line naming the port. */
function listenError(error: NodeJS.ErrnoException, config: Config): Error {
  const where = `${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(`port ${config.PORT} is already in use (${where}): stop what listens there, or set PORT`);
    case 'EACCES':
      return new StartupError(`not allowed to listen on port ${config.PORT} (${where}): use a port above 1023, or set PORT`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`cannot listen on ${where}: HOST is not an address of this machine`);
    default:
      return new StartupError(`cannot listen on ${where}: ${describeSystemError(error)}`);
  }
}

const CHANGE_WORDS: Record<string, string> = { opened: 'incident opened', cause_changed: 'incident cause changed', resolved: 'incident resolved' };

/** The outbox as the recorder's alert sink, with one info line per incident change (site, kind, top cause). */
function loggedIncidentChanges(outbox: Service['outbox'], logger: Logger): AlertSink {
  return {
    enqueue(site, incident, change) {
      outbox.enqueue(site, incident, change);
      const top = incident.causes[0];
      logger.info(CHANGE_WORDS[change] ?? `incident ${change}`, {
        siteId: site.id,
        site: site.name,
        incidentId: incident.id,
        kind: incident.kind,
        cause: top?.code ?? null,
        summary: top?.summary ?? null,
        ...(change === 'resolved' && incident.resolvedAt !== null ? { downMs: incident.resolvedAt - incident.firstFailureAt } : {}),
      });
    },
  };
}

/** At start: one line when sites rely on ALERT_TO and it is not set (their incidents would email nobody). */
function warnUnheardSites(config: Config, logger: Logger, sites: Service['sites']): void {
  if (config.ALERT_TO?.length) return;
  const unheard = sites.withoutAlertEmails();
  if (unheard.length === 0) return;
  logger.warn(`${unheard.length} site(s) have no alertEmails and ALERT_TO is not set: their incidents will email nobody`, {
    sites: unheard.length,
    siteIds: unheard.slice(0, 20).map((s) => s.id),
  });
}

/**
 * Starts everything: database (migrated), token, scheduler, alert sender, housekeeping and the
 * HTTP server. `stop()` undoes it in reverse order.
 */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  // The port first: a start that cannot listen writes nothing (no database, no token file). Until
  // the service is built (synchronously, right after), the server has nothing to answer with.
  let fetchApp: (request: Request, env: unknown) => Response | Promise<Response> = () => new Response(null, { status: 503 });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: (request, env) => fetchApp(request, env), port: config.PORT, hostname: config.HOST }, () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, config)));
  });
  let built: Service;
  try {
    built = buildService(config, logger, overrides);
  } catch (error) {
    server.close();
    throw error;
  }
  const { app, db, scheduler, probes, sender, housekeeping, status, sites, gatewayLogs, webhooks, stopStorage, storeHeld } = built;
  fetchApp = (request, env) => app.fetch(request, env as object);
  warnUnheardSites(config, logger, sites);
  scheduler.start();
  gatewayLogs.start();
  sender.start();
  webhooks.start();
  housekeeping.start();

  const port = (server.address() as AddressInfo).port;
  logger.info('gatewatch listening', { url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}` });

  let stopping: Promise<void> | null = null;
  return {
    port,
    db,
    probes,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        await scheduler.stop();
        storeHeld();
        await probes.close();
        await housekeeping.stop();
        gatewayLogs.stop();
        await sender.stop();
        await webhooks.stop();
        await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
        status.stop();
        built.metrics.stop();
        stopStorage();
        closeDatabase(db);
      })();
      return stopping;
    },
  };
}
