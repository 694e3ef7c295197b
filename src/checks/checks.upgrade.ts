import { asc, gt, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { ChecksRepository } from './checks.repository.js';
import { checks } from './checks.table.js';

/**
 * The data step of the upgrade from 0.2 (checks) to the compact layout (raw_checks,
 * check_details, check_chunks): moves the rows in id order, keeping their ids and incident
 * marks, one transaction per `batch` rows that deletes what it moved, so a stop halfway resumes
 * where it was (a crash loses no chunk: `repo` rebuilds them). Re-running it on an upgraded
 * database does nothing.
 */
export function upgradeChecks(db: Db, repo: ChecksRepository, opts: { batch?: number; afterBatch?: () => void } = {}): { rows: number; batches: number } {
  const batch = opts.batch ?? 5000;
  const report = { rows: 0, batches: 0 };
  let after = 0;
  for (;;) {
    const rows = db.select().from(checks).where(gt(checks.id, after)).orderBy(asc(checks.id)).limit(batch).all();
    if (rows.length === 0) {
      if (report.rows > 0) repo.writeOpenChunks();
      return report;
    }
    db.transaction(() => {
      repo.insertMany(rows);
      db.delete(checks)
        .where(inArray(checks.id, rows.map((r) => r.id)))
        .run();
    });
    repo.writeClosedChunks();
    after = rows[rows.length - 1].id;
    report.rows += rows.length;
    report.batches++;
    opts.afterBatch?.();
  }
}
