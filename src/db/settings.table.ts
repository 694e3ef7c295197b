import { sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Small key/value facts of the installation (e.g. the API token's hash). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});
