import { setImmediate as nextTurn } from 'node:timers/promises';
import cron, { type ScheduledTask } from 'node-cron';
import { performance } from 'node:perf_hooks';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import { createRollupsRepository } from '../checks/rollups.repository.js';
import { createWebhooksRepository } from '../alerts/webhooks.repository.js';
import { createCertNoticesPruner } from '../certs/certs.retention.js';
import { settings } from '../db/settings.table.js';
import { DAY_WATERMARK_KEY, HOUR_WATERMARK_KEY } from '../status/status.service.js';
import { SNAPSHOT_FLUSH_EVERY_MS, type StatusSnapshot } from '../status/status.snapshot.js';
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
/** Hour rollups read at a time while folding a day. */
const FOLD_READ_ROWS = 2000;
/** Target keys and alerts looked at per run for a deleted site's leftovers (a full pass every few minutes at 20,000 targets). */
const KEYS_PER_RUN = 2000;
/** Rollup rows of a deleted site's target removed per slice (one lookup each). */
const REMOVE_BUCKETS = 2000;
/** Sent, given-up and cancelled webhook deliveries are kept this long (a deleted site's go at once). */
const DELIVERY_RETENTION_MS = 30 * DAY;

class Stopped extends Error {}

export interface HousekeepingDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  outbox: { enqueueReminders(site: (id: number) => { id: number; name: string; url: string; alertEmails: string[]; maintenance: { from: number; to: number }[] } | undefined): number };
  sites: SitesRepository;
  /** The checks repository (shared: it holds the open chunks in memory). */
  checks: ChecksRepository;
  /** The status snapshot (in memory, shared): housekeeping moves it over finished hours and writes it to its table. */
  snapshot: StatusSnapshot;
  retentionRawHours: number;
  /** Hour rollups are kept this many days (RETENTION_HOURLY_DAYS, 90 by default). */
  retentionHourlyDays?: number;
  /** Day rollups are kept this many days (RETENTION_DAILY_DAYS, 730 by default). */
  retentionDailyDays?: number;
}

/**
 * Minute jobs driven by node-cron: reminders for open incidents; the status snapshot moved
 * forward over finished hours (whose rollups the recorder wrote); day rollups of finished days;
 * pruning of raw checks and old rollups, and removal of a deleted site's rollups. All of it in
 * slices of about SLICE_MS that yield to the scheduler in between.
 */
export function createHousekeeping(deps: HousekeepingDeps) {
  const { db } = deps;
  const sqlite = db.$client;
  const { checks } = deps;
  const rollups = createRollupsRepository(db, checks);
  const { snapshot } = deps;
  const webhooks = createWebhooksRepository(db);
  const pruneCertNotices = createCertNoticesPruner(db);
  const hourlyDays = deps.retentionHourlyDays ?? 90;
  const dailyDays = deps.retentionDailyDays ?? 730;
  // A deleted site's alerts go once sent or cancelled (a closing notice still pending stays until
  // it is), looked for KEYS_PER_RUN rows at a time from a cursor that wraps around.
  const alertsAfter = sqlite.prepare<[number, number], { id: number; gone: number }>(
    `SELECT id, state != 'pending' AND NOT EXISTS (SELECT 1 FROM sites WHERE sites.id = alerts.site_id) AS gone
     FROM alerts WHERE id > ? ORDER BY id LIMIT ?`,
  );
  const deleteAlert = sqlite.prepare('DELETE FROM alerts WHERE id = ?');
  let keyCursor = 0;
  let alertCursor = 0;
  const allKeys = sqlite.prepare<[], { id: number; site_id: number; target: string }>('SELECT id, site_id, target FROM rollup_targets');
  let task: ScheduledTask | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
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

  const readMark = (key: string) => {
    const row = db.select().from(settings).where(eq(settings.key, key)).get();
    return row ? Number(row.value) : 0;
  };

  const writeMark = (key: string, value: number) =>
    db
      .insert(settings)
      .values({ key, value: String(value) })
      .onConflictDoUpdate({ target: settings.key, set: { value: String(value) } })
      .run();

  /** Moves the status snapshot of every target of every site over the hour starting at `hour`. Re-running an hour is harmless. */
  const foldHour = async (hour: number) => {
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
              snapshot.rebase(siteId, target, hour, {
                hour: (bucket) => rollups.hour(siteId, target, bucket),
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
   * Moves the snapshot over every finished hour since the watermark, oldest first, and moves the
   * watermark. Hours without any rollup are skipped (the snapshot sums the hour rollups again
   * across a gap), so a long pause costs one pass, not one per hour.
   */
  const rollHours = async () => {
    const now = deps.clock.now();
    let mark = readMark(HOUR_WATERMARK_KEY);
    if (mark === 0) {
      const first = rollups.firstHour();
      if (first === null) return;
      mark = first;
    }
    const lastFinished = Math.floor((now - FOLD_DELAY_MS) / HOUR) * HOUR;
    while (mark < lastFinished) {
      const next = rollups.firstHour(mark);
      const withData = next === null ? lastFinished : next;
      const hour = Math.max(mark, Math.min(withData, lastFinished - HOUR));
      const t0 = performance.now();
      await foldHour(hour);
      mark = hour + HOUR;
      writeMark(HOUR_WATERMARK_KEY, mark);
      deps.logger.debug('hour rolled up', { hour: new Date(hour).toISOString(), ms: Math.round(performance.now() - t0) });
    }
  };

  /**
   * Writes the day rollups of every day whose hours have all been rolled up, oldest first, with
   * each site's worst incident of the day; days without any hour rollup are skipped.
   */
  const rollDays = async () => {
    const hourMark = readMark(HOUR_WATERMARK_KEY);
    let mark = readMark(DAY_WATERMARK_KEY);
    if (mark === 0) {
      const first = rollups.firstHour();
      if (first === null) return;
      mark = Math.floor(first / DAY) * DAY;
    }
    while (mark + DAY <= hourMark) {
      const next = rollups.firstHour(mark);
      if (next === null || next >= hourMark) {
        mark = Math.floor(hourMark / DAY) * DAY;
        writeMark(DAY_WATERMARK_KEY, mark);
        return;
      }
      const day = Math.floor(next / DAY) * DAY;
      if (day + DAY > hourMark) break;
      const folded = await rollups.foldDay(day, FOLD_READ_ROWS, yieldToLoop);
      const worst = rollups.worstIncidents(day, day + DAY);
      const targets = new Map(allKeys.all().map((r) => [r.id, r]));
      const rows = [...folded].map(([key, f]) => {
        const t = targets.get(key);
        return { key, f, worst: t && t.target === 'site' ? (worst.get(t.site_id) ?? null) : null };
      });
      for (let i = 0; i < rows.length; ) {
        const slice = rows.slice(i, i + 1000);
        db.transaction(() => rollups.writeDays(day, slice));
        i += slice.length;
        await yieldToLoop();
      }
      mark = day + DAY;
      writeMark(DAY_WATERMARK_KEY, mark);
      deps.logger.debug('day rolled up', { day: new Date(day).toISOString(), targets: rows.length });
    }
    if (mark > readMark(DAY_WATERMARK_KEY)) writeMark(DAY_WATERMARK_KEY, mark);
  };

  /** Removes the rollups of deleted sites' targets (one lookup per stored bucket), in slices. */
  const removeDeleted = async () => {
    const now = deps.clock.now();
    const { gone, next } = rollups.orphanKeys(keyCursor, KEYS_PER_RUN);
    keyCursor = next;
    for (const key of gone) {
      db.transaction(() => checks.removeKey(key));
      let cursor: { hour: number | null; day: number | null } | null = { hour: null, day: null };
      while (cursor) {
        const c: { hour: number | null; day: number | null } = cursor;
        cursor = db.transaction(() => rollups.removeKey(key, now, c, REMOVE_BUCKETS));
        await yieldToLoop();
      }
    }
  };

  const prune = async () => {
    const now = deps.clock.now();
    const rawBefore = now - deps.retentionRawHours * HOUR;
    const raw = await pruneBatches((limit) => checks.prune(rawBefore, limit));
    const hours = await pruneBatches((limit) => rollups.pruneHours(now - hourlyDays * DAY, limit));
    const days = await pruneBatches((limit) => rollups.pruneDays(now - dailyDays * DAY, limit));
    const seen = alertsAfter.all(alertCursor, KEYS_PER_RUN);
    alertCursor = seen.length < KEYS_PER_RUN ? 0 : seen[seen.length - 1].id;
    const orphans = seen.filter((r) => r.gone);
    if (orphans.length) db.transaction(() => orphans.forEach((r) => deleteAlert.run(r.id)));
    const alerts = orphans.length;
    const deliveries = await pruneBatches((limit) => webhooks.pruneFinished(now - DELIVERY_RETENTION_MS, limit));
    const certNotices = await pruneBatches((limit) => pruneCertNotices(now, limit));
    await removeDeleted();
    if (raw + hours + days + alerts + deliveries + certNotices > 0) deps.logger.debug('pruned', { raw, hours, days, alerts, deliveries, certNotices });
  };

  const runOnce = async () => {
    if (busy) return;
    busy = true;
    try {
      db.transaction(() => deps.outbox.enqueueReminders((id) => deps.sites.get(id)));
      await rollHours();
      await rollDays();
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
      flushTimer = setInterval(() => {
        snapshot.flush(() => nextTurn()).catch((error: unknown) =>
          deps.logger.error('status snapshot flush failed', { error: String(error) }),
        );
      }, SNAPSHOT_FLUSH_EVERY_MS);
      flushTimer.unref();
    },
    /** Stops the jobs and writes the whole status snapshot (call it once no round is recorded any more). */
    async stop(): Promise<void> {
      stopped = true;
      void task?.stop();
      task = null;
      if (flushTimer) clearInterval(flushTimer);
      flushTimer = null;
      await snapshot.flush();
    },
    runOnce,
  };
}
