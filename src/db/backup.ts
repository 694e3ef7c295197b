import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
}

/**
 * A consistent copy of the database at `source` into `dest`, taken with SQLite's online backup
 * (better-sqlite3 `db.backup()`) from a connection of its own. After a first small step it copies
 * every remaining page in one step, that is in one read transaction: in WAL mode the running
 * instance keeps probing and committing meanwhile (its checkpoints wait for the copy), and the
 * copy is the one committed state that transaction saw. Small steps would let each of the
 * instance's commits (several a second) restart the copy, which would then never end. Written to `dest.partial` and renamed, so `dest` is
 * never half a database. The copy is checked (`PRAGMA quick_check`) before the rename.
 */
export async function backupDatabase(source: string, dest: string, opts: { pagesPerStep?: number } = {}): Promise<BackupResult> {
  const target = resolve(dest);
  if (resolve(source) === target) throw new Error('the backup file is the database itself');
  if (!existsSync(source)) throw new Error(`no database at ${source}`);
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const pages = opts.pagesPerStep ?? 1_000_000_000;
    const result = await db.backup(partial, { progress: () => pages });
    const copy = new Database(partial);
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed its check: ${String(check)}`);
      // A single file: the copy needs no -wal beside it to be restored.
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    renameSync(partial, target);
    return { file: target, bytes: statSync(target).size, pages: result.totalPages };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
}
