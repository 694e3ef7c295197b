import cron, { type ScheduledTask } from 'node-cron';
import { and, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { checks, rollupsHour, rollupsMinute } from '../checks/checks.table.js';
import { mergeHist } from '../checks/rollups.js';
import { settings } from '../db/settings.table.js';
import { HOUR_WATERMARK_KEY } from '../status/status.service.js';
import type { SitesRepository } from '../sites/sites.repository.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Outcome } from '../probes/probes.types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Rows deleted per statement: small enough that no batch holds the write lock for long. */
const PRUNE_BATCH = 2000;

export interface HousekeepingDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  outbox: { enqueueReminders(site: (id: number) => { id: number; name: string; url: string; alertEmails: string[]; maintenance: { from: number; to: number }[] } | undefined): number };
  sites: SitesRepository;
  retentionRawHours: number;
}

/**
 * Minute jobs driven by node-cron: reminders for open incidents, hour rollups of finished hours,
 * and pruning of raw checks and old rollups in small batches that yield to the scheduler.
 */
export function createHousekeeping(deps: HousekeepingDeps) {
  const { db } = deps;
  let task: ScheduledTask | null = null;
  let busy = false;

  const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

  /** Deletes in batches by rowid until nothing matches; yields between batches. */
  const pruneBatches = async (deleteBatch: () => number) => {
    let total = 0;
    for (;;) {
      const n = deleteBatch();
      total += n;
      if (n < PRUNE_BATCH) return total;
      await yieldToLoop();
    }
  };

  /** Folds the minute rollups of every finished hour since the watermark into hour rollups. */
  const rollHours = async () => {
    const now = deps.clock.now();
    const row = db.select().from(settings).where(eq(settings.key, HOUR_WATERMARK_KEY)).get();
    let mark = row ? Number(row.value) : 0;
    if (mark === 0) {
      const first = db.select({ b: sql<number | null>`MIN(${rollupsMinute.bucket})` }).from(rollupsMinute).get();
      if (!first?.b) return;
      mark = Math.floor(first.b / HOUR) * HOUR;
    }
    const lastFinished = Math.floor(now / HOUR) * HOUR;
    while (mark < lastFinished) {
      const hour = mark;
      db.transaction(() => {
        const rows = db
          .select()
          .from(rollupsMinute)
          .where(and(gte(rollupsMinute.bucket, hour), lt(rollupsMinute.bucket, hour + HOUR)))
          .all();
        const merged = new Map<string, (typeof rows)[number]>();
        for (const r of rows) {
          const key = `${r.siteId}|${r.target}`;
          const m = merged.get(key);
          if (!m) merged.set(key, { ...r, bucket: hour });
          else {
            m.count += r.count;
            m.okCount += r.okCount;
            m.latencySumMs += r.latencySumMs;
            m.latencyHist = mergeHist(m.latencyHist, r.latencyHist);
            const f = { ...m.failures };
            for (const [k, v] of Object.entries(r.failures) as [Outcome, number][]) f[k] = (f[k] ?? 0) + v;
            m.failures = f;
          }
        }
        for (const m of merged.values()) db.insert(rollupsHour).values(m).onConflictDoNothing().run();
        db.insert(settings)
          .values({ key: HOUR_WATERMARK_KEY, value: String(hour + HOUR) })
          .onConflictDoUpdate({ target: settings.key, set: { value: String(hour + HOUR) } })
          .run();
      });
      mark = hour + HOUR;
      await yieldToLoop();
    }
  };

  const prune = async () => {
    const now = deps.clock.now();
    const rawBefore = now - deps.retentionRawHours * HOUR;
    const raw = await pruneBatches(
      () =>
        db.run(
          sql`DELETE FROM ${checks} WHERE rowid IN (SELECT rowid FROM ${checks} WHERE ${checks.startedAt} < ${rawBefore} AND ${checks.incidentId} IS NULL LIMIT ${PRUNE_BATCH})`,
        ).changes,
    );
    const minutes = await pruneBatches(
      () =>
        db.run(sql`DELETE FROM ${rollupsMinute} WHERE rowid IN (SELECT rowid FROM ${rollupsMinute} WHERE ${rollupsMinute.bucket} < ${now - 7 * DAY} LIMIT ${PRUNE_BATCH})`)
          .changes,
    );
    const hours = await pruneBatches(
      () =>
        db.run(sql`DELETE FROM ${rollupsHour} WHERE rowid IN (SELECT rowid FROM ${rollupsHour} WHERE ${rollupsHour.bucket} < ${now - 400 * DAY} LIMIT ${PRUNE_BATCH})`)
          .changes,
    );
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
      deps.logger.error('housekeeping failed', { error: String(error) });
    } finally {
      busy = false;
    }
  };

  return {
    start() {
      task = cron.schedule('* * * * *', runOnce, { name: 'gatewatch-housekeeping' });
    },
    stop() {
      void task?.stop();
      task = null;
    },
    runOnce,
  };
}

