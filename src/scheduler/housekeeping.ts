import cron, { type ScheduledTask } from 'node-cron';
import { performance } from 'node:perf_hooks';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createRollupsRepository } from '../checks/rollups.repository.js';
import { settings } from '../db/settings.table.js';
import { HOUR_WATERMARK_KEY } from '../status/status.service.js';
import { createStatusSnapshot } from '../status/status.snapshot.js';
import type { SitesRepository } from '../sites/sites.repository.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/**
 * The longest a piece of housekeeping holds the event loop (and the write lock) before it
 * yields: the scheduler's timers and the recorder's batches get in between.
 */
const SLICE_MS = 10;
/** An hour is folded only once its last rounds (a probe may take up to 120 s) are recorded. */
const FOLD_DELAY_MS = 3 * 60_000;
/** Sites read at a time while folding an hour. */
const SITES_PER_READ = 200;
/** Minute rollups read at a time while folding an hour. */
const FOLD_READ_ROWS = 2000;

class Stopped extends Error {}

export interface HousekeepingDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  outbox: { enqueueReminders(site: (id: number) => { id: number; name: string; url: string; alertEmails: string[]; maintenance: { from: number; to: number }[] } | undefined): number };
  sites: SitesRepository;
  retentionRawHours: number;
}

/**
 * Minute jobs driven by node-cron: reminders for open incidents; hour rollups of finished hours,
 * with the status snapshot moved forward to them; pruning of raw checks and old rollups. All of
 * it in slices of about SLICE_MS that yield to the scheduler in between.
 */
export function createHousekeeping(deps: HousekeepingDeps) {
  const { db } = deps;
  const sqlite = db.$client;
  const rollups = createRollupsRepository(db);
  const snapshot = createStatusSnapshot(db);
  const pruneChecks = sqlite.prepare(
    'DELETE FROM checks WHERE rowid IN (SELECT rowid FROM checks WHERE started_at < ? AND incident_id IS NULL LIMIT ?)',
  );
  // Minute rollups are keyed time first: the oldest rows come first in their key.
  const pruneMinutes = sqlite.prepare('DELETE FROM rollups_minute WHERE rowid IN (SELECT rowid FROM rollups_minute WHERE bucket < ? LIMIT ?)');
  const pruneHours = sqlite.prepare('DELETE FROM rollups_hour WHERE rowid IN (SELECT rowid FROM rollups_hour WHERE bucket < ? LIMIT ?)');
  let task: ScheduledTask | null = null;
  let busy = false;
  let stopped = false;

  /** Lets the scheduler in; a stop() meanwhile ends the run (the database may be closing). */
  const yieldToLoop = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    if (stopped) throw new Stopped();
  };

  /**
   * Deletes in batches until nothing matches, yielding between batches; the batch size adapts
   * so that one batch takes about SLICE_MS.
   */
  const pruneBatches = async (deleteBatch: (limit: number) => number) => {
    let total = 0;
    let limit = 500;
    for (;;) {
      const t0 = performance.now();
      const n = deleteBatch(limit);
      const ms = performance.now() - t0;
      total += n;
      if (n < limit) return total;
      if (ms < SLICE_MS / 2) limit = Math.min(limit * 2, 20_000);
      else if (ms > SLICE_MS) limit = Math.max(50, Math.floor(limit / 2));
      await yieldToLoop();
    }
  };

  const readWatermark = () => {
    const row = db.select().from(settings).where(eq(settings.key, HOUR_WATERMARK_KEY)).get();
    return row ? Number(row.value) : 0;
  };

  const writeWatermark = (value: number) =>
    db
      .insert(settings)
      .values({ key: HOUR_WATERMARK_KEY, value: String(value) })
      .onConflictDoUpdate({ target: settings.key, set: { value: String(value) } })
      .run();

  /**
   * Folds the hour starting at `hour` for every target of every site: its minute rollups into an
   * hour rollup, then its status snapshot moved to cover it. Re-running an hour is harmless.
   */
  const foldHour = async (hour: number) => {
    const folded = await rollups.foldMinutes(hour, hour + HOUR, FOLD_READ_ROWS, yieldToLoop);
    let after = 0;
    for (;;) {
      const page = deps.sites.targetsAfter(after, SITES_PER_READ);
      if (page.length === 0) return;
      // Read and compared in the same tick: an upstream added meanwhile cannot be taken for stale.
      const current = new Set(page.flatMap((p) => p.targets.map((t) => `${p.siteId}|${t}`)));
      snapshot.dropStale(page[0].siteId, page[page.length - 1].siteId, (siteId, target) => current.has(`${siteId}|${target}`));
      let i = 0;
      while (i < page.length) {
        const t0 = performance.now();
        db.transaction(() => {
          do {
            const { siteId, targets } = page[i++];
            for (const target of targets) {
              const sums = folded.get(`${siteId}|${target}`);
              const hourRow = sums ? rollups.writeHour(siteId, target, hour, sums) : rollups.hour(siteId, target, hour);
              snapshot.rebase(siteId, target, hour, {
                hour: (bucket) => (bucket === hour ? hourRow : rollups.hour(siteId, target, bucket)),
                hours: (from, to, histFrom) => rollups.hours(siteId, target, from, to, histFrom),
              });
            }
          } while (i < page.length && performance.now() - t0 < SLICE_MS);
        });
        await yieldToLoop();
      }
      after = page[page.length - 1].siteId;
    }
  };

  /**
   * Folds every finished hour since the watermark, oldest first, and moves the watermark. Hours
   * without any minute rollup are skipped (the snapshot sums the hour rollups again across a gap),
   * so a long pause costs one pass, not one per hour.
   */
  const rollHours = async () => {
    const now = deps.clock.now();
    let mark = readWatermark();
    if (mark === 0) {
      const first = rollups.firstMinute();
      if (first === null) return;
      mark = Math.floor(first / HOUR) * HOUR;
    }
    const lastFinished = Math.floor((now - FOLD_DELAY_MS) / HOUR) * HOUR;
    while (mark < lastFinished) {
      const next = rollups.firstMinute(mark);
      const withData = next === null ? lastFinished : Math.floor(next / HOUR) * HOUR;
      const hour = Math.max(mark, Math.min(withData, lastFinished - HOUR));
      const t0 = performance.now();
      await foldHour(hour);
      mark = hour + HOUR;
      writeWatermark(mark);
      deps.logger.debug('hour rolled up', { hour: new Date(hour).toISOString(), ms: Math.round(performance.now() - t0) });
    }
  };

  const prune = async () => {
    const now = deps.clock.now();
    const rawBefore = now - deps.retentionRawHours * HOUR;
    const raw = await pruneBatches((limit) => pruneChecks.run(rawBefore, limit).changes);
    const minutes = await pruneBatches((limit) => pruneMinutes.run(now - 7 * DAY, limit).changes);
    const hours = await pruneBatches((limit) => pruneHours.run(now - 400 * DAY, limit).changes);
    if (raw + minutes + hours > 0) deps.logger.debug('pruned', { raw, minutes, hours });
  };

  const runOnce = async () => {
    if (busy) return;
    busy = true;
    try {
      db.transaction(() => deps.outbox.enqueueReminders((id) => deps.sites.get(id)));
      await rollHours();
      await prune();
    } catch (error) {
      if (!(error instanceof Stopped)) deps.logger.error('housekeeping failed', { error: String(error) });
    } finally {
      busy = false;
    }
  };

  return {
    start() {
      stopped = false;
      task = cron.schedule('* * * * *', runOnce, { name: 'gatewatch-housekeeping' });
    },
    stop() {
      stopped = true;
      void task?.stop();
      task = null;
    },
    runOnce,
  };
}
