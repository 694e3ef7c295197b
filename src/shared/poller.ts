import type { Logger } from './logger.js';

/**
 * A background job run now and then every `pollMs`: runs never overlap (a scheduled one and a
 * `runOnce()` from outside are chained), a failed run is logged and the polling goes on, and
 * `stop()` waits for the run in flight so that its result is recorded.
 */
export function createPoller<T>(options: {
  /** Named in the log line of a failed run. */
  name: string;
  run: () => Promise<T>;
  pollMs: number;
  logger: Logger;
  /** Polling goes on only while this holds (e.g. a sender with nowhere to send stops after its first run). */
  active?: () => boolean;
}) {
  let timer: NodeJS.Timeout | null = null;
  let started = false;
  let stopped = false;
  let chain: Promise<unknown> = Promise.resolve();

  const runOnce = (): Promise<T> => {
    const next = chain.then(options.run);
    chain = next.catch(() => undefined);
    return next;
  };
  const loop = () => {
    runOnce()
      .catch((err) => options.logger.error(`${options.name} run failed`, { error: String(err) }))
      .finally(schedule);
  };
  const schedule = () => {
    if (stopped || !(options.active?.() ?? true)) return;
    timer = setTimeout(() => {
      timer = null;
      loop();
    }, options.pollMs);
    timer.unref();
  };

  return {
    runOnce,
    start(): void {
      if (started) return;
      started = true;
      stopped = false;
      loop();
    },
    /** Stops polling and waits for the run in flight; with `boundMs`, at most that long (resolves true if it gave up). */
    async stop(boundMs?: number): Promise<boolean> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (boundMs === undefined) {
        await chain;
        return false;
      }
      let bound: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        chain.then(() => false),
        new Promise<boolean>((resolve) => {
          bound = setTimeout(() => resolve(true), boundMs);
          bound.unref();
        }),
      ]);
      clearTimeout(bound);
      return timedOut;
    },
  };
}
