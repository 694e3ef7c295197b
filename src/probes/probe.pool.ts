import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { createResolver } from './dns.resolver.js';
import { createHttpProbe } from './http.probe.js';
import type { HttpProbe, ProbeResult, ProbeTarget } from './probes.types.js';
import { createTargetPolicy } from './target-policy.js';

/** What a probe needs from the configuration; plain data, so a worker thread can be started with it. */
export interface ProbeOptions {
  /** `DNS_SERVERS`; absent: the system resolver. */
  dnsServers?: string[];
  /** `ALLOW_TARGETS` */
  allowTargets?: string[];
  /** `DENY_TARGETS` */
  denyTargets?: string[];
  /** PEM certificates trusted on top of the bundled roots (tests: a self-signed server, probed from a worker). */
  extraCa?: string | string[];
}

/** Main thread to worker: probe this target. */
export interface ProbeRequest {
  id: number;
  target: ProbeTarget;
}

/** Worker to main thread: what the probe of request `id` found. */
export interface ProbeReply {
  id: number;
  result: ProbeResult;
}

/** An in-process probe built from the options: the one a worker runs, and the main thread's own. */
export function createProbeFromOptions(options: ProbeOptions): HttpProbe {
  return createHttpProbe({
    resolver: createResolver({ servers: options.dnsServers }),
    policy: createTargetPolicy({ allow: options.allowTargets, deny: options.denyTargets }),
    ...(options.extraCa ? { extraCa: options.extraCa } : {}),
  });
}

/** First restart of a crashed worker after this long, doubling on each crash in a row, up to the max. */
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 30_000;
/**
 * A probe bounds itself by its time-out; a worker that has not answered this long after it is
 * stuck (a busy loop would be a bug), so it is ended like a crashed one.
 */
const STALL_GRACE_MS = 10_000;
const WATCHDOG_EVERY_MS = 1_000;

export interface ProbePoolStats {
  threads: number;
  /** Workers up now (started lazily, on the first probe). */
  live: number;
  inFlight: number;
  /** Probes answered by a worker. */
  answered: number;
  /** Probes run on this thread instead: their worker died or stalled, none was up, or the pool was closed. */
  ranLocally: number;
  /** Workers that died (crash, stall, or ended by a test) while the pool was open. */
  crashes: number;
  /** Workers ended after `idleMs` without a probe (started again by the next probe). */
  retired: number;
}

export type ProbePool = HttpProbe & {
  /** Ends every worker; resolves when they are gone. Probes still in them, and any later ones, run on this thread. */
  close(): Promise<void>;
  stats(): ProbePoolStats;
  /** For tests: ends worker `index` abruptly, as a crash would; resolves once it is gone. */
  crashWorker(index: number): Promise<void>;
};

export interface ProbePoolDeps {
  threads: number;
  options: ProbeOptions;
  logger: Logger;
  /** Runs probes on this thread when no worker can; default: built from `options` on first need. */
  local?: HttpProbe;
  /**
   * Ends a worker once it has had no probe for this long (ms), and starts it again on the next
   * probe; default: never. Each worker is a V8 isolate of its own, 10-25 MB of RSS while it lives.
   */
  idleMs?: number;
}

interface Pending {
  target: ProbeTarget;
  resolve(result: ProbeResult): void;
  /** performance.now() after which the worker counts as stuck. */
  stallAt: number;
}

interface Live {
  worker: Worker;
  pending: Map<number, Pending>;
  ended: boolean;
  /** performance.now() when its last probe was answered (or when it started). */
  idleSince: number;
}

interface Slot {
  index: number;
  live: Live | null;
  crashesInARow: number;
  restart: NodeJS.Timeout | null;
}

/** Where the worker entry is: beside the bundle (dist/probe.worker.js), or the source under tsx. */
function workerEntry(): { url: URL; fromSource: boolean } {
  const fromSource = import.meta.url.endsWith('.ts');
  return { url: new URL(fromSource ? './probe.worker.ts' : './probe.worker.js', import.meta.url), fromSource };
}

function spawnWorker(options: ProbeOptions): Worker {
  const { url, fromSource } = workerEntry();
  if (!fromSource) return new Worker(url, { workerData: options });
  // Node 20 applies neither the parent's loader hooks nor `--import tsx` in execArgv to a worker's
  // entry, so a bootstrap registers tsx inside the worker before importing the entry.
  const bootstrap = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(url.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), { workerData: options });
}

/**
 * Probes on `threads` worker threads, each with its own resolver, target policy and probe built
 * from `options`. Dispatches each probe to the worker with the fewest in flight. Workers start on
 * the first probe and keep the process alive only while they have probes in flight. A probe never
 * rejects and is never lost: when a worker dies (or stalls) its probes are re-run on this thread
 * and the worker is restarted after a back-off (100 ms doubling to 30 s while it keeps dying).
 * With `idleMs`, a worker without a probe for that long is ended, and started again when needed.
 */
export function createProbePool(deps: ProbePoolDeps): ProbePool {
  const slots: Slot[] = Array.from({ length: deps.threads }, (_, index) => ({ index, live: null, crashesInARow: 0, restart: null }));
  const counts = { answered: 0, ranLocally: 0, crashes: 0, retired: 0 };
  const idleMs = deps.idleMs ?? Infinity;
  let local = deps.local;
  const runLocally = (target: ProbeTarget) => {
    counts.ranLocally++;
    local ??= createProbeFromOptions(deps.options);
    return local(target);
  };
  let started = false;
  let closed = false;
  let nextId = 1;
  let watchdog: NodeJS.Timeout | null = null;

  const start = (slot: Slot) => {
    slot.restart = null;
    let worker: Worker;
    try {
      worker = spawnWorker(deps.options);
    } catch (error) {
      deps.logger.error('probe worker did not start', { worker: slot.index, error: String(error) });
      return scheduleRestart(slot);
    }
    const live: Live = { worker, pending: new Map(), ended: false, idleSince: performance.now() };
    slot.live = live;
    worker.unref();
    worker.on('message', (reply: ProbeReply) => {
      const pending = live.pending.get(reply.id);
      if (!pending || live.ended) return;
      live.pending.delete(reply.id);
      if (live.pending.size === 0) {
        worker.unref();
        live.idleSince = performance.now();
      }
      slot.crashesInARow = 0;
      counts.answered++;
      pending.resolve(reply.result);
    });
    worker.on('error', (error) => deps.logger.error('probe worker failed', { worker: slot.index, error: String(error) }));
    worker.on('exit', (code) => {
      if (closed || live.ended) return;
      deps.logger.warn('probe worker exited; its probes run on the main thread', { worker: slot.index, code, inFlight: live.pending.size });
      end(slot, live);
    });
  };

  const scheduleRestart = (slot: Slot) => {
    if (closed) return;
    counts.crashes++;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** slot.crashesInARow);
    slot.crashesInARow++;
    slot.restart = setTimeout(() => start(slot), delay);
    slot.restart.unref();
  };

  /** Takes `live` out of service: its probes re-run here, and the slot restarts unless the pool is closed. */
  const end = (slot: Slot, live: Live) => {
    if (live.ended) return;
    live.ended = true;
    if (slot.live === live) slot.live = null;
    for (const { target, resolve } of live.pending.values()) void runLocally(target).then(resolve);
    live.pending.clear();
    scheduleRestart(slot);
  };

  /** Ends an idle worker for good (no restart); the next probe starts the pool again. */
  const retire = (slot: Slot, live: Live) => {
    live.ended = true;
    slot.live = null;
    counts.retired++;
    void live.worker.terminate();
  };

  /** Every second while workers run: ends stuck workers, retires idle ones, and stops itself once none is left. */
  const watch = () => {
    const now = performance.now();
    for (const slot of slots) {
      const live = slot.live;
      if (!live) continue;
      if (live.pending.size === 0 && now - live.idleSince >= idleMs) {
        retire(slot, live);
        continue;
      }
      for (const pending of live.pending.values()) {
        if (now < pending.stallAt) continue;
        deps.logger.error('probe worker stalled; ending it', { worker: slot.index, inFlight: live.pending.size });
        end(slot, live);
        void live.worker.terminate();
        break;
      }
    }
    if (slots.every((slot) => !slot.live && !slot.restart)) {
      // All retired: nothing to watch until a probe starts them again.
      started = false;
      if (watchdog) clearInterval(watchdog);
      watchdog = null;
    }
  };

  const leastBusy = (): Live | null => {
    let best: Live | null = null;
    for (const slot of slots) {
      if (slot.live && (!best || slot.live.pending.size < best.pending.size)) best = slot.live;
    }
    return best;
  };

  const probe = (target: ProbeTarget): Promise<ProbeResult> => {
    if (!started && !closed) {
      started = true;
      slots.forEach(start);
      watchdog = setInterval(watch, WATCHDOG_EVERY_MS);
      watchdog.unref();
    }
    const live = closed ? null : leastBusy();
    if (!live) return runLocally(target);
    const id = nextId++;
    return new Promise<ProbeResult>((resolve) => {
      live.pending.set(id, { target, resolve, stallAt: performance.now() + target.timeoutMs + STALL_GRACE_MS });
      if (live.pending.size === 1) live.worker.ref();
      live.worker.postMessage({ id, target } satisfies ProbeRequest);
    });
  };

  return Object.assign(probe, {
    async close() {
      if (closed) return;
      closed = true;
      if (watchdog) clearInterval(watchdog);
      const workers: Worker[] = [];
      for (const slot of slots) {
        if (slot.restart) clearTimeout(slot.restart);
        if (slot.live) {
          workers.push(slot.live.worker);
          end(slot, slot.live);
        }
      }
      await Promise.all(workers.map((w) => w.terminate()));
    },
    stats(): ProbePoolStats {
      let live = 0;
      let inFlight = 0;
      for (const slot of slots) {
        if (!slot.live) continue;
        live++;
        inFlight += slot.live.pending.size;
      }
      return { threads: deps.threads, live, inFlight, ...counts };
    },
    async crashWorker(index: number) {
      const live = slots[index]?.live;
      if (!live) throw new Error(`probe worker ${index} is not running`);
      const gone = new Promise((resolve) => live.worker.once('exit', resolve));
      await live.worker.terminate();
      await gone;
    },
  });
}

/**
 * `PROBE_THREADS=auto`: probes run on the main thread up to this many per second (a one-second
 * bucket); the pool takes the excess. Measured on the 2-core bench machine: the main thread
 * spends about 1 ms per check in all (0.3-0.6 ms of it the probe) and saturates near 1,000
 * checks/s; through a worker a probe costs the main thread 0.03 ms, but each worker adds
 * 17-30 MB of RSS and, at a low rate, more CPU in all than it saves (2,000 sites: 2.0 against
 * 1.5 ms per check with 2 workers). So workers start only at half the knee, where the main thread
 * is about half busy, and 10,000 sites at 60 s (333/s) keep a 1.5x margin below it.
 */
export const MAIN_THREAD_PROBES_PER_SECOND = 500;

/**
 * `PROBE_THREADS=auto`: the pool's workers end after this long without a probe over the budget.
 * A burst (the rounds due during a stall of the loop, a bulk import's first rounds) otherwise
 * started workers that stayed for good: at 10,000 sites @ 60 s the two of them held about
 * 30 MB of RSS while probing nothing. Starting one again costs a few tens of ms of CPU.
 */
export const POOL_IDLE_MS = 30_000;

/** Tokens for main-thread probes: refilled at the rate, capped at one second's worth. */
export interface MainThreadBudget {
  tokens: number;
  at: number;
}

export const fullBudget = (perSecond: number): MainThreadBudget => ({ tokens: perSecond, at: -Infinity });

/** Where the probe starting at `now` runs, and the budget after it. Pure. */
export function routeProbe(
  budget: MainThreadBudget,
  now: number,
  perSecond: number = MAIN_THREAD_PROBES_PER_SECOND,
): { route: 'main' | 'pool'; budget: MainThreadBudget } {
  // A clock that steps back refills nothing until it is past the last probe again.
  const at = Math.max(budget.at, now);
  const tokens = Math.min(perSecond, budget.tokens + ((at - budget.at) * perSecond) / 1000);
  if (tokens >= 1) return { route: 'main', budget: { tokens: tokens - 1, at } };
  return { route: 'pool', budget: { tokens, at } };
}

export type ProbeThreads = 'auto' | number;

export interface ProbeRunnerStats {
  threads: ProbeThreads;
  /** Probes run on the main thread by choice (not counting re-runs after a worker died). */
  onMainThread: number;
  /** The pool's figures; null until it started. */
  pool: ProbePoolStats | null;
}

/** The service's probe for `PROBE_THREADS`, with what to close on stop. */
export interface ProbeRunner {
  probe: HttpProbe;
  close(): Promise<void>;
  stats(): ProbeRunnerStats;
}

export interface ProbeRunnerDeps {
  threads: ProbeThreads;
  options: ProbeOptions;
  logger: Logger;
  clock?: Clock;
  /** auto: main-thread probes per second before the pool takes the excess. */
  mainThreadPerSecond?: number;
  /** auto: the pool, created on the first probe over the budget. Default: one worker per CPU. */
  createPool?: () => ProbePool;
  /** The main thread's probe; default: built from `options`. */
  local?: HttpProbe;
}

/**
 * `0`: every probe on the main thread. `N`: every probe on a pool of N workers. `auto`: the main
 * thread up to `mainThreadPerSecond`, the excess on a pool of one worker per CPU, created on the
 * first probe over the budget and kept afterwards; its workers end after POOL_IDLE_MS without a
 * probe and start again with the next excess.
 */
export function createProbeRunner(deps: ProbeRunnerDeps): ProbeRunner {
  const local = deps.local ?? createProbeFromOptions(deps.options);
  const newPool = (threads: number, idleMs?: number) => createProbePool({ threads, options: deps.options, logger: deps.logger, local, idleMs });
  let onMainThread = 0;
  let pool: ProbePool | null = null;
  const runner = (probe: HttpProbe): ProbeRunner => ({
    probe,
    close: async () => pool?.close(),
    stats: () => ({ threads: deps.threads, onMainThread, pool: pool?.stats() ?? null }),
  });

  if (deps.threads === 0) {
    return runner((target) => {
      onMainThread++;
      return local(target);
    });
  }
  if (deps.threads !== 'auto') {
    const fixed = newPool(deps.threads);
    pool = fixed;
    return runner(fixed);
  }

  const clock = deps.clock ?? systemClock;
  const perSecond = deps.mainThreadPerSecond ?? MAIN_THREAD_PROBES_PER_SECOND;
  const createPool = deps.createPool ?? (() => newPool(availableParallelism(), POOL_IDLE_MS));
  let budget = fullBudget(perSecond);
  return runner((target) => {
    const next = routeProbe(budget, clock.now(), perSecond);
    budget = next.budget;
    if (next.route === 'main') {
      onMainThread++;
      return local(target);
    }
    if (!pool) {
      pool = createPool();
      deps.logger.info('probe rate over the main thread budget; probing on worker threads too', { perSecond, workers: pool.stats().threads });
    }
    return pool(target);
  });
}
