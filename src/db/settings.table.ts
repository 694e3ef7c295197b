import type Database from 'better-sqlite3';
import { sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Small key/value facts of the installation (e.g. the API token's hash). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/**
 * One setting read or written by key, with statements prepared once: for the marks that hot paths
 * keep beside the rows they describe (how far chunks or the status snapshot are stored), written
 * inside their own transactions.
 */
export function settingsStore(sqlite: Database.Database) {
  const read = sqlite.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?');
  const write = sqlite.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  return {
    get: (key: string): string | undefined => read.get(key)?.value,
    set: (key: string, value: string | number): void => void write.run(key, String(value)),
  };
}
