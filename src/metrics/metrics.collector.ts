import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';
import { OUTCOMES } from '../probes/probes.types.js';
import { lagBucketUpperMs, type SchedulerStats } from '../scheduler/scheduler.js';

export interface MetricsDeps {
  db: Db;
  /** The scheduler's counters (its lag histogram). */
  schedulerStats: () => SchedulerStats;
  /** Alerts waiting in the outbox (emails and webhook deliveries). */
  alertsPending: () => number;
  /** Process metrics (CPU, memory, event loop lag) of prom-client; on by default. */
  processMetrics?: boolean;
}

/** The last check of one target, as the per-target series need it (no history: one entry per target). */
interface LastProbe {
  siteId: number;
  target: string;
  targetName: string;
  /** startedAt of the check: an older one arriving late never replaces a newer one. */
  at: number;
  ok: boolean;
  statusCode: number | null;
  dnsMs: number | null;
  connectMs: number | null;
  tlsMs: number | null;
  ttfbMs: number | null;
  totalMs: number | null;
  /**
   * This target's lines as last rendered, with the labels they were rendered for: a check every
   * interval and a scrape every 15 s means most targets are unchanged since the last scrape, and
   * their lines are reused as they are.
   */
  rendered?: { labels: string; success: string; duration: string; status: string };
}

const SITE_STATES = ['up', 'degraded', 'down', 'paused', 'unknown'] as const;
const PHASES = ['dns', 'connect', 'tls', 'ttfb', 'total'] as const;
/** Buckets (seconds) of gatewatch_schedule_lag_seconds, from the scheduler's 1 ms / 100 ms ones. */
const LAG_BOUNDS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** A scrape yields to the event loop after this long (ms) of work, so it never holds the scheduler for long. */
const SLICE_MS = 25;
/** How many sites are rendered between two looks at the clock. */
const SITES_PER_LOOK = 100;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);
const seconds = (ms: number) => String(ms / 1000);
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * GET /metrics. Counters and process metrics live in a prom-client Registry of our own (not the
 * global one). The per-target families (probe success, durations, status code, certificate
 * expiry, site state, open incidents) are computed when scraped, from the last check of each
 * target (kept in memory, one entry per target, replaced by each check) and the sites,
 * incidents and status snapshot tables; they are written straight to the text format: through
 * prom-client's label maps, 10,000 sites took seconds per scrape where this takes tens of ms.
 */
export function createMetrics(deps: MetricsDeps) {
  const registry = new Registry();
  if (deps.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'gatewatch_' });
  const checksTotal = new Counter({
    name: 'gatewatch_checks_total',
    help: 'Checks recorded since start, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) checksTotal.inc({ outcome }, 0);
  new Gauge({
    name: 'gatewatch_alerts_pending',
    help: 'Alerts waiting in the outbox (email and webhook deliveries not yet accepted).',
    registers: [registry],
    collect() {
      this.set(deps.alertsPending());
    },
  });

  const last = new Map<string, LastProbe>();
  const sqlite = deps.db.$client;
  const selectSites = sqlite.prepare<[], { id: number; name: string; state: string; paused: number }>(
    'SELECT id, name, state, paused FROM sites ORDER BY id',
  );
  const selectCerts = sqlite.prepare<[], { site_id: number; target: string; cert_expires_at: number }>(
    'SELECT site_id, target, cert_expires_at FROM status_snapshot WHERE cert_expires_at IS NOT NULL',
  );
  const selectOpen = sqlite.prepare<[], { site_id: number; cause: string | null }>(
    `SELECT site_id, json_extract(causes, '$[0].code') AS cause FROM incidents WHERE state = 'open'`,
  );
  const selectUpstreamNames = sqlite.prepare<[], { id: number; name: string }>('SELECT id, name FROM upstreams');

  /** One target's lines of the three per-check families (several duration lines joined by newlines). */
  const render = (p: LastProbe, labels: string): NonNullable<LastProbe['rendered']> => {
    const phases = [p.dnsMs, p.connectMs, p.tlsMs, p.ttfbMs, p.totalMs];
    const duration: string[] = [];
    for (let k = 0; k < PHASES.length; k++) {
      const ms = phases[k];
      if (ms !== null) duration.push(`gatewatch_probe_duration_seconds{${labels},phase="${PHASES[k]}"} ${seconds(ms)}`);
    }
    return {
      labels,
      success: `gatewatch_probe_success{${labels}} ${p.ok ? 1 : 0}`,
      status: p.statusCode === null ? '' : `gatewatch_probe_http_status_code{${labels}} ${p.statusCode}`,
      duration: duration.join('\n'),
    };
  };

  /** Renders the per-target families, yielding to the event loop every SITES_PER_SLICE sites. */
  const perTarget = async (): Promise<string> => {
    let since = performance.now();
    const breathe = async () => {
      if (performance.now() - since < SLICE_MS) return;
      await yieldToLoop();
      since = performance.now();
    };
    const sites = selectSites.all();
    await breathe();
    const alive = new Set(sites.map((s) => s.id));
    const upstreamNames = new Map(selectUpstreamNames.all().map((u) => [String(u.id), u.name]));
    const certs = new Map<number, { target: string; at: number }[]>();
    for (const c of selectCerts.all()) {
      const list = certs.get(c.site_id) ?? [];
      list.push({ target: c.target, at: c.cert_expires_at });
      certs.set(c.site_id, list);
    }
    const open = new Map(selectOpen.all().map((i) => [i.site_id, i.cause ?? 'unknown']));
    await breathe();
    const bySite = new Map<number, LastProbe[]>();
    for (const [key, probe] of last) {
      if (!alive.has(probe.siteId)) {
        last.delete(key); // the site was deleted
        continue;
      }
      const list = bySite.get(probe.siteId) ?? [];
      list.push(probe);
      bySite.set(probe.siteId, list);
    }
    const targetLabel = (target: string, fallback: string) => (target === 'site' ? 'site' : (upstreamNames.get(target) ?? fallback));

    const success: string[] = [];
    const duration: string[] = [];
    const status: string[] = [];
    const cert: string[] = [];
    const state: string[] = [];
    const incident: string[] = [];
    for (let i = 0; i < sites.length; i++) {
      if (i % SITES_PER_LOOK === 0) await breathe();
      const site = sites[i];
      const base = `site_id="${site.id}",site="${esc(site.name)}"`;
      // Only the current state's series (value 1), as DESIGN.md says: a state the site left goes
      // stale in Prometheus. Five series per site would double the exposition at 10,000 sites.
      const current = site.paused ? 'paused' : SITE_STATES.includes(site.state as (typeof SITE_STATES)[number]) ? site.state : 'unknown';
      state.push(`gatewatch_site_state{${base},state="${current}"} 1`);
      const cause = open.get(site.id);
      if (cause !== undefined) incident.push(`gatewatch_incident_open{${base},cause="${esc(cause)}"} 1`);
      for (const p of bySite.get(site.id) ?? []) {
        const labels = `${base},target="${esc(targetLabel(p.target, p.targetName))}"`;
        if (p.rendered?.labels !== labels) p.rendered = render(p, labels);
        success.push(p.rendered.success);
        if (p.rendered.status) status.push(p.rendered.status);
        if (p.rendered.duration) duration.push(p.rendered.duration);
      }
      for (const c of certs.get(site.id) ?? []) {
        const name = targetLabel(c.target, c.target);
        cert.push(`gatewatch_cert_expiry_timestamp_seconds{${base},target="${esc(name)}"} ${Math.floor(c.at / 1000)}`);
      }
    }
    const family = (name: string, type: string, help: string, lines: string[]) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.length ? `${lines.join('\n')}\n` : ''}`;
    const families: [string, string, string[]][] = [
      ['gatewatch_probe_success', 'Whether the last check of the target succeeded (1) or not (0).', success],
      ['gatewatch_probe_duration_seconds', 'Phases of the last check of the target, cumulative from its start (dns, connect, tls, ttfb, total).', duration],
      ['gatewatch_probe_http_status_code', 'HTTP status of the last check of the target (absent when none was received).', status],
      ['gatewatch_cert_expiry_timestamp_seconds', 'When the leaf certificate last seen on the target expires (unix seconds).', cert],
      ['gatewatch_site_state', 'The site state: 1 for the current one (up, degraded, down, paused, unknown).', state],
      ['gatewatch_incident_open', 'An open incident of the site, labelled with its top cause.', incident],
    ];
    // Joined family by family, with a breath between: one join of the whole exposition (14 MB
    // at 10,000 sites) would be one long block.
    const parts: string[] = [];
    for (const [name, help, lines] of families) {
      parts.push(family(name, 'gauge', help, lines));
      await breathe();
    }
    return parts.join('');
  };

  /** The scheduler's lag histogram in Prometheus buckets; the sum counts each round at its bucket's upper bound. */
  const lagHistogram = (): string => {
    const hist = deps.schedulerStats().lagHistogram;
    const counts = new Array<number>(LAG_BOUNDS_S.length).fill(0);
    let total = 0;
    let sumMs = 0;
    for (let b = 0; b < hist.length; b++) {
      const n = hist[b];
      if (n === 0) continue;
      const upper = lagBucketUpperMs(b);
      total += n;
      sumMs += n * (Number.isFinite(upper) ? upper : 60_000);
      for (let k = 0; k < LAG_BOUNDS_S.length; k++) if (upper <= LAG_BOUNDS_S[k] * 1000) counts[k] += n;
    }
    const name = 'gatewatch_schedule_lag_seconds';
    const lines = LAG_BOUNDS_S.map((le, k) => `${name}_bucket{le="${le}"} ${counts[k]}`);
    lines.push(`${name}_bucket{le="+Inf"} ${total}`, `${name}_sum ${sumMs / 1000}`, `${name}_count ${total}`);
    return `# HELP ${name} How late scheduled rounds began their probes (due time to first probe).\n# TYPE ${name} histogram\n${lines.join('\n')}\n`;
  };

  return {
    registry,

    /** Takes stored checks (after each recorded batch): counts them and keeps each target's last one. */
    observe(rows: Iterable<CheckRow>): void {
      for (const row of rows) {
        checksTotal.inc({ outcome: row.outcome });
        const key = `${row.siteId}:${row.target}`;
        const prev = last.get(key);
        if (prev && prev.at > row.startedAt) continue;
        last.set(key, {
          siteId: row.siteId,
          target: row.target,
          targetName: row.targetName,
          at: row.startedAt,
          ok: row.outcome === 'ok',
          statusCode: row.statusCode,
          dnsMs: row.dnsMs,
          connectMs: row.connectMs,
          tlsMs: row.tlsMs,
          ttfbMs: row.ttfbMs,
          totalMs: row.totalMs,
        });
      }
    },

    /** The whole exposition, in the Prometheus text format (version 0.0.4). */
    async text(): Promise<string> {
      const own = await registry.metrics();
      const targets = await perTarget();
      return `${own}${own.endsWith('\n') ? '' : '\n'}${targets}${lagHistogram()}`;
    },

    contentType: 'text/plain; version=0.0.4; charset=utf-8',
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
