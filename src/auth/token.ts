import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { settings } from '../db/settings.table.js';

const KEY = 'api_token_sha256';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Where a generated token is written for its owner to read: beside the database, mode 0600. */
export const tokenFilePath = (databasePath: string) =>
  databasePath === ':memory:' ? null : join(dirname(resolve(databasePath)), 'api-token');

export interface TokenStore {
  /** Constant-time check of a presented token. */
  verify(presented: string): boolean;
}

/**
 * The token from the environment wins; otherwise the database keeps only its SHA-256, and a
 * generated token is handed to the owner once, in a file beside the database.
 */
export function createTokenStore(db: Db, envToken: string | undefined): TokenStore {
  const fixed = envToken ? sha256(envToken) : null;
  return {
    verify(presented) {
      const expected =
        fixed ?? (() => {
          const row = db.select().from(settings).where(eq(settings.key, KEY)).get();
          return row ? Buffer.from(row.value, 'hex') : null;
        })();
      if (!expected) return false;
      return timingSafeEqual(sha256(presented), expected);
    },
  };
}

/** Issues a new token, stores its hash and writes the token to `file`; the old one stops working. */
export function issueToken(db: Db, file: string | null): string {
  const token = `gw_${randomBytes(24).toString('base64url')}`;
  const value = sha256(token).toString('hex');
  const store = () =>
    db.insert(settings).values({ key: KEY, value }).onConflictDoUpdate({ target: settings.key, set: { value } }).run();
  if (!file) {
    store();
    return token;
  }
  // A new file, created 0600, renamed over the old one: the token is never readable by others,
  // not even for a moment, never half written, and never written through a symlink or a hard
  // link planted at the old path.
  const fresh = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(fresh, token + '\n', { mode: 0o600, flag: 'wx' });
  try {
    store();
    renameSync(fresh, file);
  } catch (error) {
    rmSync(fresh, { force: true });
    throw error;
  }
  return token;
}

/** True when a token hash is already stored (so start-up need not generate one). */
export function hasStoredToken(db: Db): boolean {
  return db.select().from(settings).where(eq(settings.key, KEY)).get() !== undefined;
}
