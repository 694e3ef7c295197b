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
import { createRoundRecorder } from './incidents/rounds.recorder.js';
import { createProbeRunner, type ProbeOptions, type ProbeRunner } from './probes/index.js';
import type { HttpProbe } from './probes/probes.types.js';
import { createScheduler } from './scheduler/scheduler.js';
import { createSitesRepository } from './sites/sites.repository.js';
import { sitesRoutes } from './sites/sites.routes.js';
import { createStatusService } from './status/status.service.js';
import { statusRoutes } from './status/status.routes.js';
import { systemClock, type Clock } from './shared/clock.js';
import type { Logger } from './shared/logger.js';
import { createHousekeeping } from './scheduler/housekeeping.js';
import { createMetrics } from './metrics/metrics.collector.js';
import { metricsRoutes } from './metrics/metrics.routes.js';
import { createAlertsRepository } from './alerts/alerts.repository.js';
import { createWebhooksRepository } from './alerts/webhooks.repository.js';
import { createWebhookSender } from './alerts/webhooks.sender.js';
import { createTargetPolicy } from './probes/target-policy.js';
import { createCertWatch } from './certs/certs.watch.js';

export interface ServiceOverrides {
  clock?: Clock;
  probe?: HttpProbe;
  /** Webhook delivery settings (tests: shorter back-off). */
  webhooks?: { pollMs?: number; retryBaseMs?: number; maxRetryMs?: number; timeoutMs?: number };
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
  const db = openDatabase(config.DATABASE_PATH);

  if (!config.API_TOKEN && !hasStoredToken(db)) {
    const file = tokenFilePath(config.DATABASE_PATH);
    issueToken(db, file);
    logger.info('generated an API token; read it from the file (mode 0600)', { tokenFile: file });
  } else if (!config.API_TOKEN) {
    logger.info('API token: the one issued before', { tokenFile: tokenFilePath(config.DATABASE_PATH) });
  }
  const tokens = createTokenStore(db, config.API_TOKEN);

  const sites = createSitesRepository(db, clock);
  const checks = createChecksRepository(db);
  const incidents = createIncidentsRepository(db);
  const webhooksRepo = createWebhooksRepository(db);
  const policy = createTargetPolicy({ allow: config.ALLOW_TARGETS, deny: config.DENY_TARGETS });
  const outbox = createAlertsOutbox(db, {
    webhooks: webhooksRepo,
    alertTo: config.ALERT_TO ?? [],
    groupSeconds: config.ALERT_GROUP_SECONDS,
    reminderMinutes: config.REMINDER_MINUTES,
    clock,
  });
  const recorder = createRoundRecorder({ db, checks, incidents, alerts: outbox, clock });
  const alertsRepo = createAlertsRepository(db);
  const metrics = createMetrics({
    db,
    schedulerStats: () => scheduler.stats(),
    alertsPending: () => alertsRepo.countPending() + webhooksRepo.countPending(),
  });
  const certs = createCertWatch({ db, clock, warnDays: config.CERT_WARN_DAYS, alertTo: config.ALERT_TO ?? [], sites, webhooks: webhooksRepo });
  const probes = probeRunner(config, logger, overrides);
  const scheduler = createScheduler({
    loadSites: (ids) => (ids ? sites.getMany(ids) : sites.list()),
    probe: probes.probe,
    record: (rounds) => {
      const stored = recorder.record(rounds);
      for (const rows of stored.values()) {
        metrics.observe(rows);
        certs.observe(rows);
      }
      return stored;
    },
    clock,
    logger,
    maxConcurrentProbes: config.MAX_CONCURRENT_PROBES,
  });
  const sender = createAlertSender({ db, clock, logger, smtpUrl: config.SMTP_URL, from: config.ALERT_FROM });
  const webhooks = createWebhookSender({ db, clock, logger, policy, publicUrl: config.PUBLIC_URL, ...overrides.webhooks });
  const housekeeping = createHousekeeping({ db, clock, logger, outbox, sites, retentionRawHours: config.RETENTION_RAW_HOURS });
  const status = createStatusService(db, clock);

  const app = createApp({
    tokens,
    logger,
    statusPublic: config.STATUS_PUBLIC,
    schedulerRunning: () => scheduler.running,
    routes: [
      { path: '/api/sites', app: sitesRoutes({ sites, checks, scheduler, policy }) },
      { path: '/api/incidents', app: incidentsRoutes({ incidents, clock }) },
      { path: '/api/status', app: statusRoutes({ sites, status, clock }) },
      { path: '/api/alerts', app: alertsRoutes({ db }) },
      { path: '/metrics', app: metricsRoutes({ metrics, tokens, public: config.METRICS_PUBLIC }) },
    ],
  });

  return { app, db, clock, scheduler, probes, sender, housekeeping, sites, checks, incidents, outbox, recorder, status, metrics, webhooks };
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

/**
 * Starts everything: database (migrated), token, scheduler, alert sender, housekeeping and the
 * HTTP server. `stop()` undoes it in reverse order.
 */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  const { app, db, scheduler, probes, sender, housekeeping, status, webhooks } = buildService(config, logger, overrides);
  scheduler.start();
  sender.start();
  webhooks.start();
  housekeeping.start();

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
    s.once('error', reject);
  });
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
        await probes.close();
        housekeeping.stop();
        await sender.stop();
        await webhooks.stop();
        await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
        status.stop();
        closeDatabase(db);
      })();
      return stopping;
    },
  };
}
