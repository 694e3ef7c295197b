import type { Db } from '../db/client.js';
import { CERT_REMINDER_MS } from './certs.watch.js';

/**
 * A certificate still served is reminded about every CERT_REMINDER_MS (expired or not), so a
 * notice not renewed for this long is of a certificate no longer seen (renewed or gone). A paused
 * site's notices stay: its probes are not looking.
 */
export const CERT_NOTICE_UNSEEN_MS = 4 * CERT_REMINDER_MS;

/** Deletes up to `limit` notices of certificates unseen since before `now - CERT_NOTICE_UNSEEN_MS`; returns how many. */
export function createCertNoticesPruner(db: Db) {
  const stmt = db.$client.prepare(
    `DELETE FROM cert_notices WHERE rowid IN (
       SELECT cert_notices.rowid FROM cert_notices JOIN sites ON sites.id = cert_notices.site_id
       WHERE cert_notices.last_notified_at < ? AND sites.paused = 0
       LIMIT ?)`,
  );
  return (now: number, limit: number): number => stmt.run(now - CERT_NOTICE_UNSEEN_MS, limit).changes;
}
