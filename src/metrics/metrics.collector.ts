import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';
import { OUTCOMES } from '../probes/probes.types.js';
import { createSiteBlocks, TARGET_FAMILIES, type LastChecks, type SiteBlocksOptions } from './metrics.blocks.js';
import { gzipMember, type Piece } from './metrics.gzip.js';
import { lagBucketUpperMs, type SchedulerStats } from '../scheduler/scheduler.js';

export interface MetricsDeps {
  db: Db;
  /** The scheduler's counters (its lag histogram). */
  schedulerStats: () => SchedulerStats;
  /** Alerts waiting in the outbox (emails and webhook deliveries). */
  alertsPending: () => number;
  /** Process metrics (CPU, memory, event loop lag) of prom-client; on by default. */
  processMetrics?: boolean;
  /** Each target's last check at start (the status snapshot), so the first scrape after a restart has every target. */
  lastChecks?: LastChecks;
  /** The background passes over stale sites' lines: how often, when a group has settled, their budget, and how long rendering or streaming goes before the event loop is let in (tests; metrics.blocks.ts). */
  passes?: Pick<SiteBlocksOptions, 'passEveryMs' | 'settleMs' | 'passShare' | 'passBurstMs' | 'sliceMs'>;
}

/** Buckets (seconds) of gatewatch_schedule_lag_seconds, from the scheduler's 1 ms / 100 ms ones. */
const LAG_BOUNDS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Small pieces are joined up to about this size: one write each instead of hundreds of small ones at 10,000 sites. */
const WRITE_BYTES = 64 * 1024;
/** A piece at least this big is written as it is (after what was held): copying 12 MB into joined writes cost ~20 ms at 10,000 sites. */
const PASS_BYTES = 16 * 1024;

/** Joins small buffers into pieces of about `size` bytes; a big one passes as it is, after what was held. */
async function* joined(pieces: AsyncIterable<Buffer>, size = WRITE_BYTES): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let bytes = 0;
  for await (const piece of pieces) {
    if (piece.length >= PASS_BYTES) {
      if (bytes > 0) yield held.length === 1 ? held[0] : Buffer.concat(held, bytes);
      held = [];
      bytes = 0;
      yield piece;
      continue;
    }
    held.push(piece);
    bytes += piece.length;
    if (bytes >= size) {
      yield Buffer.concat(held, bytes);
      held = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(held, bytes);
}

/**
 * GET /metrics. Counters and process metrics live in a prom-client Registry of our own (not the
 * global one). The per-target families (probe success, durations, status code, certificate
 * expiry, site state, open incidents) come from each target's last check, kept in memory (one
 * entry per target, replaced by each check), and are kept compressed per group of sites, rendered
 * again as their sites are checked or edited (metrics.blocks.ts says why they are not prom-client
 * gauges).
 */
const familyHeaders = TARGET_FAMILIES.map(([name, help]) => Buffer.from(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`));

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

  const blocks = createSiteBlocks(deps.db, { lastChecks: deps.lastChecks, ...deps.passes });

  /**
   * The exposition in pieces: prom-client's families, then each per-target family (its HELP and
   * TYPE, then every group's kept lines of it: all samples of a family together), then the lag
   * histogram. Stale groups are rendered as the stream reaches them, in slices. With `gzip`, the
   * groups' pieces come as they are kept, compressed; without, as text.
   */
  async function* exposition(gzip: boolean): AsyncGenerator<Piece> {
    const own = await registry.metrics();
    yield Buffer.from(own.endsWith('\n') || own === '' ? own : `${own}\n`);
    yield* blocks.scrape(gzip, (f) => familyHeaders[f]);
    yield Buffer.from(lagHistogram());
  }
  async function* identity(): AsyncGenerator<Buffer> {
    // Without gzip every piece is text (the groups' kept pieces come uncompressed).
    for await (const piece of exposition(false)) if (Buffer.isBuffer(piece)) yield piece;
  }

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

    /** Takes stored checks (after each recorded batch): counts them; their sites' lines go stale. */
    observe(rows: Iterable<CheckRow>): void {
      for (const row of rows) {
        checksTotal.inc({ outcome: row.outcome });
        blocks.observe(row);
      }
    },

    /** A site was created or edited: its lines are rendered again. */
    siteChanged: (id: number) => blocks.siteChanged(id),
    /** A site was deleted: its lines go. */
    siteRemoved: (id: number) => blocks.siteChanged(id),

    /** The whole exposition, in the Prometheus text format (version 0.0.4), as a stream of pieces; one gzip member with `gzip`. */
    stream: (gzip: boolean): AsyncGenerator<Buffer> => joined(gzip ? gzipMember(exposition(true)) : identity()),

    /** Renders every stale group now, as a background pass does (the bench). */
    renderStale: () => blocks.renderStale(),

    /** The whole exposition as one string (tests). */
    async text(): Promise<string> {
      const parts: Buffer[] = [];
      for await (const part of identity()) parts.push(part);
      return Buffer.concat(parts).toString();
    },

    /** Sites kept, and those still to render. */
    counts: () => blocks.counts(),

    /** The group of kept lines a site is in (tests). */
    groupOf: (siteId: number) => blocks.groupOf(siteId),

    stop: () => blocks.stop(),

    contentType: 'text/plain; version=0.0.4; charset=utf-8',
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
