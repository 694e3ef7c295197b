import cron, { type ScheduledTask } from 'node-cron';
import type { NewCheckRow } from '../checks/checks.table.js';
import type { HttpProbe, ProbeResult } from '../probes/probes.types.js';
import type { SiteView } from '../sites/sites.repository.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { DueHeap } from './heap.js';
import { Semaphore } from './semaphore.js';

/** The checks of one round of one site, ready to store. */
export interface RoundResult {
  site: SiteView;
  startedAt: number;
  checks: NewCheckRow[];
}

export interface SchedulerDeps {
  /** Loads sites with their upstreams (the scheduler caches them until told of a change). */
  loadSites(ids?: number[]): SiteView[];
  probe: HttpProbe;
  /** Stores finished rounds (one transaction per batch) and returns the stored checks per site. */
  record(rounds: RoundResult[]): Map<number, unknown[]>;
  clock: Clock;
  logger: Logger;
  maxConcurrentProbes: number;
  /** Smallest gap between two dispatches; due rounds within it fire together. */
  tickMs?: number;
  /**
   * How long finished rounds wait to share one write transaction. Each commit writes every page
   * it touched to the WAL, so fewer, larger batches cost less per check. A round run on demand
   * (runNow) is written at once.
   */
  recordBatchMs?: number;
  /** How long stop() lets in-flight rounds finish before abandoning them. */
  stopGraceMs?: number;
}

interface Entry {
  site: SiteView;
  intervalMs: number;
  phase: number;
  due: number;
  /** Bumped on every reschedule; heap items carry the version they were pushed with. */
  version: number;
  running: Promise<void> | null;
}

/** A probe's result as a check of a site's target: one object literal of a fixed shape (a spread copy cost more). */
const checkOf = (r: ProbeResult, siteId: number, target: string, targetName: string): NewCheckRow => ({
  siteId,
  target,
  targetName,
  startedAt: r.startedAt,
  outcome: r.outcome,
  statusCode: r.statusCode,
  errorMessage: r.errorMessage,
  addresses: r.addresses,
  address: r.address,
  dnsMs: r.dnsMs,
  connectMs: r.connectMs,
  tlsMs: r.tlsMs,
  ttfbMs: r.ttfbMs,
  totalMs: r.totalMs,
  gateway: r.gateway,
  failedAddresses: r.failedAddresses ?? null,
  certExpiresAt: r.certExpiresAt ?? null,
  certIssuer: r.certIssuer ?? null,
});

/** One frozen empty list for every site without alert emails, maintenance windows or webhooks. */
const NONE = Object.freeze([]) as unknown as never[];

/**
 * The site as the scheduler keeps it: its empty lists shared, its expected-status range shared
 * with every site that has the same one. Each site held four small arrays of its own; at 10,000
 * sites this takes the kept views from ~714 to ~555 B each. Nothing changes a view's lists.
 */
function compactView(site: SiteView, ranges: Map<number, SiteView['expectedStatus']>): SiteView {
  const [low, high] = site.expectedStatus;
  const key = low * 1000 + high;
  let expectedStatus = ranges.get(key);
  if (!expectedStatus) ranges.set(key, (expectedStatus = Object.freeze([low, high]) as unknown as SiteView['expectedStatus']));
  return {
    ...site,
    expectedStatus,
    alertEmails: site.alertEmails.length ? site.alertEmails : NONE,
    maintenance: site.maintenance.length ? site.maintenance : NONE,
    webhooks: site.webhooks?.length ? site.webhooks : NONE,
  };
}

/**
 * Where in its interval a site's rounds fall, as a share of it (0 to 1): ids 1, 2, 3 ... land far
 * apart (the golden ratio's fractional parts). Whatever the interval, sites of close shares are
 * checked at close moments of it (metrics groups its kept lines by it).
 */
export const phaseShare = (id: number) => (id * 0.6180339887498949) % 1;

/** A site's phase (ms into its interval). */
const phaseOf = (id: number, intervalMs: number) => Math.floor(phaseShare(id) * intervalMs);

/** The first time at or after `after` that sits on the entry's phase grid. */
const nextSlot = (after: number, intervalMs: number, phase: number) => {
  const k = Math.ceil((after - phase) / intervalMs);
  return phase + k * intervalMs;
};

/**
 * New sites get a first round within a second, up to this many per second (a token bucket);
 * past that, during a bulk import, they start on their phase within one interval, as after a
 * restart, so that an import never pushes back the rounds of the sites already there.
 */
export const QUICK_STARTS_PER_SECOND = 100;

/** Buckets of the lag histogram: 1 ms wide up to 1 s, then 100 ms wide up to 60 s, then one overflow bucket. */
const LAG_FINE_MS = 1000;
const LAG_COARSE_STEP_MS = 100;
const LAG_BUCKETS = LAG_FINE_MS + 1 + (60_000 - LAG_FINE_MS) / LAG_COARSE_STEP_MS + 1;

/** The histogram bucket of a lag (ms); early starts (negative lags) count as 0. */
export const lagBucketOf = (lagMs: number): number => {
  const lag = Math.max(0, Math.ceil(lagMs));
  if (lag <= LAG_FINE_MS) return lag;
  return Math.min(LAG_BUCKETS - 1, LAG_FINE_MS + Math.ceil((lag - LAG_FINE_MS) / LAG_COARSE_STEP_MS));
};

/** The upper bound (ms) of a lag bucket; the last one is open-ended (Infinity). */
export const lagBucketUpperMs = (bucket: number): number =>
  bucket >= LAG_BUCKETS - 1 ? Infinity : bucket <= LAG_FINE_MS ? bucket : LAG_FINE_MS + (bucket - LAG_FINE_MS) * LAG_COARSE_STEP_MS;

export interface SchedulerStats {
  sites: number;
  /** Slots of the schedule that came due: rounds it started plus rounds skipped (runNow rounds are not due). */
  roundsDue: number;
  /** Rounds started, by the schedule or on demand (runNow). */
  roundsStarted: number;
  roundsDone: number;
  /** Due slots not run: the site's previous round was still running, or dispatch came so late that the slot had passed. */
  roundsSkipped: number;
  probesInFlight: number;
  /**
   * Recent schedule lags in ms (when the round's first probe began minus its due time; negative
   * when fired early within a tick), newest last; bounded.
   */
  lags: number[];
  /** Every scheduled round whose probing began, by lag (see lagBucketOf / lagBucketUpperMs): cumulative, never trimmed. */
  lagHistogram: Uint32Array;
  /** The largest lag seen since start (ms). */
  maxLagMs: number;
}

/**
 * Drives rounds: one timer armed for the earliest due site, firing every round due within
 * `tickMs` together (batching is what keeps CPU low), never two rounds of one site at once, and
 * a global bound on probes in flight. node-cron beats each second as a watchdog for the timer.
 */
export function createScheduler(deps: SchedulerDeps) {
  const tickMs = deps.tickMs ?? 100;
  const recordBatchMs = deps.recordBatchMs ?? 200;
  const entries = new Map<number, Entry>();
  /** Expected-status ranges shared by the kept site views (compactView). */
  const ranges = new Map<number, SiteView['expectedStatus']>();
  /** Planned rounds: (due, site id, entry version); an item whose version is no longer its entry's is stale. */
  const heap = new DueHeap();
  const probes = new Semaphore(deps.maxConcurrentProbes);
  const inFlight = new Set<Promise<void>>();
  const pending: RoundResult[] = [];
  const waitingForRecord = new Map<RoundResult, (checks: unknown[]) => void>();
  let timer: NodeJS.Timeout | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  let heartbeat: ScheduledTask | null = null;
  let running = false;
  let dispatching = false;
  let armedFor = Infinity;
  const stats: SchedulerStats = {
    sites: 0,
    roundsDue: 0,
    roundsStarted: 0,
    roundsDone: 0,
    roundsSkipped: 0,
    probesInFlight: 0,
    lags: [],
    lagHistogram: new Uint32Array(LAG_BUCKETS),
    maxLagMs: 0,
  };
  // Enough for recent quantiles; 100,000 held up to ~1 MB at 10,000 sites (filled in 10 minutes).
  const LAG_SAMPLES = 2_000;
  const quickStarts = { tokens: QUICK_STARTS_PER_SECOND, at: -Infinity };
  const takeQuickStart = (now: number) => {
    quickStarts.tokens = Math.min(QUICK_STARTS_PER_SECOND, quickStarts.tokens + ((now - quickStarts.at) * QUICK_STARTS_PER_SECOND) / 1000);
    quickStarts.at = now;
    if (quickStarts.tokens < 1) return false;
    quickStarts.tokens--;
    return true;
  };

  const schedule = (entry: Entry, due: number) => {
    entry.due = due;
    entry.version++;
    heap.push(entry.site.id, due, entry.version);
    if (due < armedFor) arm();
  };

  const place = (given: SiteView, now: number, previous?: Entry) => {
    const site = compactView(given, ranges);
    const intervalMs = site.intervalSeconds * 1000;
    const entry: Entry = previous ?? { site, intervalMs, phase: 0, due: 0, version: 0, running: null };
    const intervalChanged = entry.intervalMs !== intervalMs || !previous;
    entry.site = site;
    entry.intervalMs = intervalMs;
    entry.phase = phaseOf(site.id, intervalMs);
    entries.set(site.id, entry);
    if (site.paused) {
      entry.version++; // drops it from the heap
      return;
    }
    if (previous && !intervalChanged && previous.due > now) {
      schedule(entry, previous.due);
      return;
    }
    if (site.lastRoundAt === null) {
      // A new site: a first round within a second, then onto its phase grid (startRound), so
      // that sites created together do not stay bunched together. Past the quick-start budget,
      // straight onto its phase grid.
      const quick = intervalMs > 1000 && takeQuickStart(now);
      schedule(entry, quick ? now + (entry.phase % 1000) : nextSlot(now, intervalMs, entry.phase));
    } else {
      schedule(entry, nextSlot(Math.max(now, site.lastRoundAt + intervalMs / 2), intervalMs, entry.phase));
    }
  };

  const arm = () => {
    // During a dispatch the rounds it starts reschedule themselves; dispatch arms once at its end.
    // (Arming here too left a second timer behind each dispatch, and those timers multiplied.)
    if (!running || dispatching) return;
    if (heap.size === 0) return;
    const now = deps.clock.now();
    const at = Math.max(heap.topDue(), now);
    if (timer && at >= armedFor) return;
    if (timer) clearTimeout(timer);
    armedFor = at;
    timer = setTimeout(dispatch, Math.max(0, at - now));
  };

  const dispatch = () => {
    timer = null;
    armedFor = Infinity;
    if (!running) return;
    const now = deps.clock.now();
    const horizon = now + tickMs;
    dispatching = true;
    try {
      while (heap.topDue() <= horizon) {
        const id = heap.topId();
        const due = heap.topDue();
        const version = heap.topVersion();
        heap.pop();
        const entry = entries.get(id);
        if (!entry || entry.version !== version || entry.site.paused) continue;
        startRound(entry, due, now);
      }
    } finally {
      dispatching = false;
    }
    if (heap.size > 0) {
      armedFor = Math.max(heap.topDue(), now + tickMs);
      timer = setTimeout(dispatch, armedFor - now);
    }
  };

  const recordLag = (lag: number) => {
    if (stats.lags.length >= LAG_SAMPLES) stats.lags.splice(0, LAG_SAMPLES / 2);
    stats.lags.push(lag);
    stats.lagHistogram[lagBucketOf(lag)]++;
    if (lag > stats.maxLagMs) stats.maxLagMs = lag;
  };

  /**
   * Probes a site's targets; `due` (scheduled rounds) makes the first probe to start record the
   * lag. Callbacks and a count rather than an async function over Promise.all: this runs for
   * every round, and those made several promises and closures per probe more.
   */
  const runRound = (site: SiteView, due?: number): Promise<RoundResult> =>
    new Promise<RoundResult>((resolve, reject) => {
      const round: RoundResult = { site, startedAt: deps.clock.now(), checks: new Array<NewCheckRow>(1 + site.upstreams.length) };
      let left = round.checks.length;
      let lagPending = due !== undefined;
      const probeTarget = (index: number, url: string, target: string, targetName: string) => {
        probes
          .run(() => {
            // The lag is measured when probing really begins (past the bound on probes in flight),
            // so an overloaded process shows as late, not as rounds "started" on time.
            if (lagPending) {
              lagPending = false;
              recordLag(deps.clock.now() - due!);
            }
            return deps.probe({ url, timeoutMs: site.timeoutMs, expectedStatus: site.expectedStatus });
          })
          .then((result) => {
            round.checks[index] = checkOf(result, site.id, target, targetName);
            if (--left === 0) resolve(round);
          }, reject);
      };
      probeTarget(0, site.url, 'site', site.name);
      for (let i = 0; i < site.upstreams.length; i++) {
        const upstream = site.upstreams[i];
        probeTarget(i + 1, upstream.url, String(upstream.id), upstream.name);
      }
    });

  const enqueueRecord = (round: RoundResult, now: boolean) =>
    new Promise<unknown[]>((resolve) => {
      pending.push(round);
      waitingForRecord.set(round, resolve);
      if (now) {
        if (flushTimer) clearTimeout(flushTimer);
        flushTimer = null;
        flush();
        return;
      }
      // Rounds finishing close together share one write transaction.
      if (!flushTimer) flushTimer = setTimeout(flush, recordBatchMs);
    });

  /** Set once stop() has written what ended within its grace: later rounds are not stored. */
  let abandoned = false;
  const flush = () => {
    flushTimer = null;
    const batch = pending.splice(0, pending.length);
    if (batch.length === 0) return;
    let stored = new Map<number, unknown[]>();
    try {
      // A round abandoned by stop() (past its grace) that ends later is dropped: the service
      // may have closed its database by then, and nobody waits for that round any more.
      if (!abandoned) stored = deps.record(batch);
      else deps.logger.debug('rounds ended after the scheduler stopped; not stored', { rounds: batch.length });
    } catch (error) {
      deps.logger.error('could not store a batch of checks', { rounds: batch.length, error: String(error) });
    }
    for (const round of batch) {
      waitingForRecord.get(round)?.(stored.get(round.site.id) ?? []);
      waitingForRecord.delete(round);
    }
  };

  /** Runs one round of an entry, never two at once for one site. */
  const execute = (entry: Entry, due?: number): Promise<unknown[]> => {
    stats.roundsStarted++;
    const onDemand = due === undefined;
    let result: unknown[] = [];
    const p = (async () => {
      try {
        const round = await runRound(entry.site, due);
        result = await enqueueRecord(round, onDemand);
        // In place: the view is the scheduler's own copy (compactView), and a copy per round (~550 B,
        // kept a whole interval) was promoted to the old generation at the rate of rounds.
        entry.site.lastRoundAt = round.startedAt;
      } catch (error) {
        deps.logger.error('round failed', { siteId: entry.site.id, error: String(error) });
      } finally {
        stats.roundsDone++;
      }
    })();
    entry.running = p;
    inFlight.add(p);
    return p.then(() => {
      inFlight.delete(p);
      if (entry.running === p) entry.running = null;
      return result;
    });
  };

  const startRound = (entry: Entry, due: number, now: number) => {
    // The next round is the next slot of the site's phase grid at least half an interval after
    // this one (one interval for a round on the grid), so phases never drift.
    let next = nextSlot(due + entry.intervalMs / 2, entry.intervalMs, entry.phase);
    stats.roundsDue++;
    if (next <= now) {
      const passed = nextSlot(now + 1, entry.intervalMs, entry.phase);
      const missed = Math.max(0, Math.round((passed - next) / entry.intervalMs));
      stats.roundsDue += missed;
      stats.roundsSkipped += missed;
      next = passed;
    }
    if (entry.running) {
      // Still busy with the previous round (a slow target): skip this one.
      stats.roundsSkipped++;
      schedule(entry, next);
      return;
    }
    schedule(entry, next);
    void execute(entry, due);
  };

  return {
    start(): void {
      if (running) return;
      running = true;
      abandoned = false;
      const now = deps.clock.now();
      for (const site of deps.loadSites()) place(site, now);
      stats.sites = entries.size;
      heartbeat = cron.schedule('* * * * * *', () => arm(), { name: 'gatewatch-scheduler-heartbeat' });
      arm();
    },

    /** Stops dispatching; waits for in-flight rounds up to the grace period, then abandons them. */
    async stop(): Promise<void> {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      armedFor = Infinity;
      await heartbeat?.stop();
      heartbeat = null;
      const grace = new Promise<void>((resolve) => setTimeout(resolve, deps.stopGraceMs ?? 5000).unref());
      await Promise.race([Promise.allSettled([...inFlight]), grace]);
      if (flushTimer) clearTimeout(flushTimer);
      flush();
      abandoned = true;
    },

    get running(): boolean {
      return running;
    },

    /** The site was created or changed; `current` is its view when the caller already has it. */
    siteChanged(siteId: number, current?: SiteView): void {
      const site = current ?? deps.loadSites([siteId])[0];
      if (!site) return this.siteRemoved(siteId);
      place(site, deps.clock.now(), entries.get(siteId));
      stats.sites = entries.size;
    },

    siteRemoved(siteId: number): void {
      const entry = entries.get(siteId);
      if (entry) entry.version++;
      entries.delete(siteId);
      stats.sites = entries.size;
    },

    /** Runs a round now (after any round in flight for the site) and returns its stored checks. */
    async runNow(siteId: number): Promise<unknown[]> {
      let entry = entries.get(siteId);
      if (!entry) {
        const [site] = deps.loadSites([siteId]);
        if (!site) return [];
        entry = { site, intervalMs: site.intervalSeconds * 1000, phase: 0, due: 0, version: 0, running: null };
      }
      while (entry.running) await entry.running;
      return execute(entry);
    },

    /** When the site's next round is planned (ms), or null when paused or unknown. */
    nextDue(siteId: number): number | null {
      const entry = entries.get(siteId);
      return entry && !entry.site.paused ? entry.due : null;
    },

    stats(): SchedulerStats {
      stats.probesInFlight = probes.inFlight;
      return stats;
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
