import { and, eq } from 'drizzle-orm';
import type { AlertRow } from '../alerts/alerts.table.js';
import { createAlertsRepository } from '../alerts/alerts.repository.js';
import { CANCEL_REASONS } from '../alerts/alerts.outbox.js';
import type { AlertPayload, CertAlertPayload } from '../alerts/alerts.types.js';
import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';
import type { Clock } from '../shared/clock.js';
import type { SiteView } from '../sites/sites.repository.js';
import type { SiteWebhook } from '../sites/sites.table.js';
import { certNotices } from './certs.table.js';

const DAY = 86_400_000;
/** While the same certificate stays within the warning window, owners hear of it again each week. */
export const CERT_REMINDER_MS = 7 * DAY;

export interface CertWatchDeps {
  db: Db;
  clock: Clock;
  /** CERT_WARN_DAYS */
  warnDays: number;
  /** ALERT_TO: for sites without their own alertEmails. */
  alertTo: string[];
  sites: { get(id: number): SiteView | undefined };
  webhooks?: { addFor(alert: AlertRow, webhooks: SiteWebhook[]): void };
}

const normalize = (list: string[]) => {
  const seen = new Set<string>();
  return list.map((a) => a.trim()).filter((a) => a && !seen.has(a.toLowerCase()) && seen.add(a.toLowerCase()));
};

/**
 * Watches the certificates that checks record: when one expires within CERT_WARN_DAYS, writes a
 * `cert_expiring` alert to the outbox (email and webhooks, with their retries), once per target
 * and certificate, then weekly while that certificate is still served. Notice and alert are
 * written in one transaction, so a crash neither loses nor repeats one.
 */
export function createCertWatch(deps: CertWatchDeps) {
  const { db } = deps;
  const alerts = createAlertsRepository(db);
  const warnMs = deps.warnDays * DAY;

  const enqueue = (site: SiteView, row: CheckRow, now: number, reminder: boolean) => {
    const upstream = row.target === 'site' ? undefined : site.upstreams.find((u) => String(u.id) === row.target);
    const payload: CertAlertPayload = {
      site: { id: site.id, name: site.name, url: site.url },
      certificate: {
        target: row.target,
        targetName: upstream?.name ?? (row.target === 'site' ? site.name : row.targetName),
        url: upstream?.url ?? site.url,
        expiresAt: row.certExpiresAt!,
        issuer: row.certIssuer,
      },
      at: now,
      reminder,
    };
    const recipients = normalize(site.alertEmails.length ? site.alertEmails : deps.alertTo);
    const written = alerts.insert({
      siteId: site.id,
      incidentId: 0,
      kind: 'cert_expiring',
      recipients,
      payload: payload as unknown as AlertPayload,
      state: recipients.length ? 'pending' : 'cancelled',
      ...(recipients.length ? {} : { cancelReason: CANCEL_REASONS.noRecipients }),
      createdAt: now,
      dueAt: now,
    });
    if (site.webhooks.length) deps.webhooks?.addFor(written, site.webhooks);
  };

  /**
   * The stored notice of each target's certificate (by site and target), as last read or written:
   * a certificate already noticed is then passed over without a read per check until its reminder
   * is due. Site ids are never reused, so an entry cannot outlive its notice to mislead.
   */
  const noticed = new Map<string, { expiresAt: number; lastNotifiedAt: number }>();

  /** Notices the row's certificate when due; returns the stored notice's time (null: none stored) and whether an alert was written. */
  const consider = (row: CheckRow, expiresAt: number, now: number) =>
    db.transaction((): { lastNotifiedAt: number | null; wrote: boolean } => {
      const key = and(eq(certNotices.siteId, row.siteId), eq(certNotices.target, row.target), eq(certNotices.expiresAt, expiresAt));
      const notice = db.select().from(certNotices).where(key).get();
      if (notice && now - notice.lastNotifiedAt < CERT_REMINDER_MS) return { lastNotifiedAt: notice.lastNotifiedAt, wrote: false };
      const site = deps.sites.get(row.siteId);
      if (!site || site.paused) return { lastNotifiedAt: notice?.lastNotifiedAt ?? null, wrote: false };
      if (notice) db.update(certNotices).set({ lastNotifiedAt: now }).where(key).run();
      else
        db.insert(certNotices)
          .values({ siteId: row.siteId, target: row.target, expiresAt, issuer: row.certIssuer, firstNotifiedAt: now, lastNotifiedAt: now })
          .run();
      enqueue(site, row, now, notice !== undefined);
      return { lastNotifiedAt: now, wrote: true };
    });

  return {
    /** Takes stored checks (after each recorded batch); returns how many alerts it wrote. */
    observe(rows: Iterable<CheckRow>): number {
      const now = deps.clock.now();
      let written = 0;
      for (const row of rows) {
        const expiresAt = row.certExpiresAt;
        if (expiresAt === null || expiresAt - now > warnMs) continue;
        const target = `${row.siteId}\n${row.target}`;
        const known = noticed.get(target);
        if (known && known.expiresAt === expiresAt && now - known.lastNotifiedAt < CERT_REMINDER_MS) continue;
        const { lastNotifiedAt, wrote } = consider(row, expiresAt, now);
        if (lastNotifiedAt !== null) noticed.set(target, { expiresAt, lastNotifiedAt });
        if (wrote) written++;
      }
      return written;
    },
  };
}

export type CertWatch = ReturnType<typeof createCertWatch>;
