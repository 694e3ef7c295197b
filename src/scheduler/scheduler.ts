import cron, { type ScheduledTask } from 'node-cron';
import type { NewCheckRow } from '../checks/checks.table.js';
import type { HttpProbe } from '../probes/probes.types.js';
import type { SiteView } from '../sites/sites.repository.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { MinHeap } from './heap.js';
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

interface HeapItem {
  id: number;
  due: number;
  version: number;
}

/** A spread of phases: ids 1, 2, 3 ... land far apart within any interval. */
const phaseOf = (id: number, intervalMs: number) => Math.floor(((id * 0.6180339887498949) % 1) * intervalMs);

/** The first time at or after `after` that sits on the entry's phase grid. */
const nextSlot = (after: number, intervalMs: number, phase: number) => {
  const k = Math.ceil((after - phase) / intervalMs);
  return phase + k * intervalMs;
};

export interface SchedulerStats {
  sites: number;
  roundsStarted: number;
  roundsDone: number;
  probesInFlight: number;
  /** Recent schedule lags in ms (start minus due), newest last; bounded. */
  lags: number[];
}

/**
 * Drives rounds: one timer armed for the earliest due site, firing every round due within
 * `tickMs` together (batching is what keeps CPU low), never two rounds of one site at once, and
 * a global bound on probes in flight. node-cron beats each second as a watchdog for the timer.
 */
export function createScheduler(deps: SchedulerDeps) {
  const tickMs = deps.tickMs ?? 25;
  const entries = new Map<number, Entry>();
  const heap = new MinHeap<HeapItem>((i) => i.due);
  const probes = new Semaphore(deps.maxConcurrentProbes);
  const inFlight = new Set<Promise<void>>();
  const pending: RoundResult[] = [];
  const waitingForRecord = new Map<RoundResult, (checks: unknown[]) => void>();
  let timer: NodeJS.Timeout | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  let heartbeat: ScheduledTask | null = null;
  let running = false;
  let armedFor = Infinity;
  const stats: SchedulerStats = { sites: 0, roundsStarted: 0, roundsDone: 0, probesInFlight: 0, lags: [] };
  const LAG_SAMPLES = 100_000;

  const schedule = (entry: Entry, due: number) => {
    entry.due = due;
    entry.version++;
    heap.push({ id: entry.site.id, due, version: entry.version });
    if (due < armedFor) arm();
  };

  const place = (site: SiteView, now: number, previous?: Entry) => {
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
      // A new site: a first round within a second, then onto its phase grid.
      schedule(entry, now + (entry.phase % Math.min(intervalMs, 1000)));
    } else {
      schedule(entry, nextSlot(Math.max(now, site.lastRoundAt + intervalMs / 2), intervalMs, entry.phase));
    }
  };

  const arm = () => {
    if (!running) return;
    const top = heap.peek();
    if (!top) return;
    const now = deps.clock.now();
    const at = Math.max(top.due, now);
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
    while (heap.size > 0 && heap.peek()!.due <= horizon) {
      const item = heap.pop()!;
      const entry = entries.get(item.id);
      if (!entry || entry.version !== item.version || entry.site.paused) continue;
      startRound(entry, item.due, now);
    }
    const next = heap.peek();
    if (next) {
      armedFor = Math.max(next.due, now + tickMs);
      timer = setTimeout(dispatch, armedFor - now);
    }
  };

  const recordLag = (lag: number) => {
    if (stats.lags.length >= LAG_SAMPLES) stats.lags.splice(0, LAG_SAMPLES / 2);
    stats.lags.push(lag);
  };

  const runRound = async (site: SiteView): Promise<RoundResult> => {
    const startedAt = deps.clock.now();
    const targets = [
      { target: 'site', targetName: site.name, url: site.url },
      ...site.upstreams.map((u) => ({ target: String(u.id), targetName: u.name, url: u.url })),
    ];
    const results = await Promise.all(
      targets.map((t) =>
        probes.run(() => deps.probe({ url: t.url, timeoutMs: site.timeoutMs, expectedStatus: site.expectedStatus })),
      ),
    );
    return {
      site,
      startedAt,
      checks: results.map((r, i) => ({ ...r, siteId: site.id, target: targets[i].target, targetName: targets[i].targetName })),
    };
  };

  const enqueueRecord = (round: RoundResult) =>
    new Promise<unknown[]>((resolve) => {
      pending.push(round);
      waitingForRecord.set(round, resolve);
      // Rounds finishing close together share one write transaction.
      if (!flushTimer) flushTimer = setTimeout(flush, tickMs);
    });

  const flush = () => {
    flushTimer = null;
    const batch = pending.splice(0, pending.length);
    if (batch.length === 0) return;
    let stored = new Map<number, unknown[]>();
    try {
      stored = deps.record(batch);
    } catch (error) {
      deps.logger.error('could not store a batch of checks', { rounds: batch.length, error: String(error) });
    }
    for (const round of batch) {
      waitingForRecord.get(round)?.(stored.get(round.site.id) ?? []);
      waitingForRecord.delete(round);
    }
  };

  /** Runs one round of an entry, never two at once for one site. */
  const execute = (entry: Entry): Promise<unknown[]> => {
    stats.roundsStarted++;
    let result: unknown[] = [];
    const p = (async () => {
      try {
        const round = await runRound(entry.site);
        result = await enqueueRecord(round);
        entry.site = { ...entry.site, lastRoundAt: round.startedAt };
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
    // The next round is planned from the due time, so phases never drift.
    let next = due + entry.intervalMs;
    if (next <= now) next = nextSlot(now + 1, entry.intervalMs, entry.phase);
    if (entry.running) {
      // Still busy with the previous round (a slow target): skip this one.
      schedule(entry, next);
      return;
    }
    recordLag(now - due);
    schedule(entry, next);
    void execute(entry);
  };

  return {
    start(): void {
      if (running) return;
      running = true;
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
    },

    get running(): boolean {
      return running;
    },

    siteChanged(siteId: number): void {
      const [site] = deps.loadSites([siteId]);
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
