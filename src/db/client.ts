import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packageRoot } from '../shared/paths.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export const MIGRATIONS_DIR = resolve(packageRoot(), 'migrations');

/**
 * Opens the database (WAL, busy timeout, foreign keys) and applies the committed migrations.
 * `path` may be ':memory:'.
 */
export function openDatabase(path: string): Db {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // WAL with synchronous=NORMAL survives a process crash (kill -9) without losing a commit;
  // only a power loss could drop the last transactions.
  sqlite.pragma('synchronous = NORMAL');
  // Checkpoint at 4,000 WAL pages (16 MB) instead of 1,000: a page dirtied by several commits
  // between checkpoints is copied back once; 11 % fewer bytes written per check (bench/storage.ts).
  sqlite.pragma('wal_autocheckpoint = 4000');
  // A 4 MB page cache, not better-sqlite3's 16 MB: the pages written each minute (the raw checks'
  // last pages, the open hour's rollup rows) fit many times over, and the rest comes from the OS's
  // file cache. The cache is malloc'd page by page and never given back, so a 16 MB one held
  // 12-25 MB more RSS once a first status list had read every site (bench: glibc heap 32-39 MB
  // against 14 MB).
  sqlite.pragma('cache_size = -4000');
  // Temporary tables (the status cache's change marks) stay in memory.
  sqlite.pragma('temp_store = MEMORY');
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return db;
}

export function closeDatabase(db: Db): void {
  if (db.$client.open) db.$client.close();
}
