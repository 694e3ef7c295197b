import { createHash } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { createMailer, describeMailError, type Delivery, type Mailer, type MailerTls } from './alerts.mailer.js';
import { headerSafe, renderAlertEmail } from './alerts.render.js';
import { createAlertsRepository } from './alerts.repository.js';
import type { AlertRow } from './alerts.table.js';
import { certPayloadOf, renderCertEmail } from '../certs/certs.render.js';
import { createPoller } from '../shared/poller.js';

export interface AlertSenderOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** SMTP_URL; without it alerts wait in the outbox. */
  smtpUrl?: string;
  /** ALERT_FROM */
  from: string;
  /** PUBLIC_URL: emails link to the incident's page under it. */
  publicUrl?: string;
  tls?: MailerTls;
  /** How often due alerts are looked for (default 1 s). */
  pollMs?: number;
  /** First retry delay after a failure, doubled per attempt (default 5 s) up to `maxRetryMs` (default 5 min). */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /** How long stop() waits for a send in flight (default 10 s). */
  stopTimeoutMs?: number;
}

export interface SendResult {
  /** Emails the server accepted. */
  sent: number;
  /** Emails that failed and were rescheduled. */
  failed: number;
}

/** Due alerts read per run, and alerts per email (a huge outage becomes several long emails, not one giant one). */
const BATCH = 1000;
const MAX_ALERTS_PER_EMAIL = 100;

const recipientKey = (recipients: string[]) => [...new Set(recipients.map((r) => r.toLowerCase()))].sort().join(',');
/** Certificate notices go in emails of their own, apart from incident news. */
const groupKey = (row: AlertRow) => `${row.kind === 'cert_expiring' ? 'cert:' : ''}${recipientKey(row.recipients)}`;

/** Due rows grouped by recipient list, in the order they came due, split to at most `size` per email. */
function groupByRecipients(rows: AlertRow[], size: number): AlertRow[][] {
  const groups = new Map<string, AlertRow[]>();
  for (const row of rows) {
    const key = groupKey(row);
    const list = groups.get(key) ?? [];
    list.push(row);
    groups.set(key, list);
  }
  const out: AlertRow[][] = [];
  for (const list of groups.values()) {
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  }
  return out;
}

/** The part of ALERT_FROM after '@', reduced to what a Message-ID may hold. */
const domainOf = (from: string) => (/@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'gatewatch.local').toLowerCase();

/**
 * Sends due alerts from the outbox: one email per recipient list, marked sent as soon as the
 * server accepts it; failures are retried with exponential back-off for as long as the alert
 * stays pending (the outbox cancels news a later alert makes stale).
 */
export function createAlertSender(options: AlertSenderOptions) {
  const { clock, logger } = options;
  const repo = createAlertsRepository(options.db);
  const pollMs = options.pollMs ?? 1000;
  const retryBaseMs = options.retryBaseMs ?? 5000;
  const maxRetryMs = options.maxRetryMs ?? 5 * 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  const mailer: Mailer | null = options.smtpUrl ? createMailer({ smtpUrl: options.smtpUrl, tls: options.tls }) : null;
  const from = headerSafe(options.from, 254);
  const domain = domainOf(from);

  let warnedNoSmtp = false;

  const retryDelay = (attempts: number) => Math.min(maxRetryMs, retryBaseMs * 2 ** Math.min(attempts - 1, 30));

  /** Same alerts, same id: if a crash ever re-sends an accepted message, mail clients can drop the copy. */
  const messageIdFor = (ids: number[]) =>
    `<gatewatch.${ids[0]}.${createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16)}@${domain}>`;

  /**
   * The emails of one incident form one thread: each replies to the last one sent about it and
   * references them all. An email about several incidents starts no thread of its own.
   */
  const threadHeaders = (rows: AlertRow[]): Record<string, string> => {
    const incidentIds = new Set(rows.map((r) => r.incidentId));
    if (incidentIds.size !== 1) return {};
    const earlier = repo.threadOf(rows[0].incidentId).map((id) => headerSafe(id, 998));
    if (earlier.length === 0) return {};
    // The first (the thread's root) and the latest ones: a header of bounded length.
    const references = earlier.length > 20 ? [earlier[0], ...earlier.slice(-19)] : earlier;
    return { 'In-Reply-To': earlier[earlier.length - 1], References: references.join(' ') };
  };

  const sendGroup = async (group: AlertRow[]): Promise<boolean> => {
    // Re-read: between the query and this group, a resolve may have folded some of these rows.
    const rows = repo.stillPending(group.map((r) => r.id));
    if (rows.length === 0) return true;
    const ids = rows.map((r) => r.id);
    const to = rows[0].recipients;
    let subject: string;
    let delivery: Delivery;
    try {
      const footer = `Sent to ${to.join(', ')}.`;
      const email =
        rows[0].kind === 'cert_expiring'
          ? renderCertEmail(rows.map((r) => ({ id: r.id, payload: certPayloadOf(r) })), footer)
          : renderAlertEmail(
              rows.flatMap((r) => (r.kind === 'cert_expiring' ? [] : [{ id: r.id, kind: r.kind, payload: r.payload }])),
              footer,
              { publicUrl: options.publicUrl?.replace(/\/+$/, '') },
            );
      subject = email.subject;
      delivery = await mailer!.send({
        from,
        to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: messageIdFor(ids),
        date: new Date(clock.now()),
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Gatewatch-Alert-Ids': ids.join(','), ...threadHeaders(rows) },
      });
    } catch (err) {
      const now = clock.now();
      const error = describeMailError(err);
      repo.markFailed(rows, now, error, (attempts) => now + retryDelay(attempts));
      logger.warn('alert email failed; will retry', {
        alertIds: ids,
        error,
        attempts: Math.max(...rows.map((r) => r.attempts + 1)),
        retryInMs: retryDelay(rows[0].attempts + 1),
      });
      return false;
    }
    const note = delivery.rejected.length
      ? `accepted for ${delivery.accepted.join(', ')}; rejected: ${delivery.rejectedReplies.join('; ') || delivery.rejected.join(', ')}`
      : null;
    // Recorded the moment the server accepted, so that a restart never sends it again. (Outside
    // the catch above: a failure to record must never turn into a retry of an accepted message.)
    repo.markSent(ids, clock.now(), delivery.messageId, note);
    if (note) logger.warn('alert email partly rejected', { alertIds: ids, note });
    else logger.info('alert email sent', { alertIds: ids, recipients: to.length, subject });
    return true;
  };

  const run = async (): Promise<SendResult> => {
    if (!mailer) {
      if (!warnedNoSmtp) {
        warnedNoSmtp = true;
        const n = repo.countPending();
        logger.warn(`SMTP_URL is not set; ${n} alerts wait in the outbox`, { pending: n });
      }
      return { sent: 0, failed: 0 };
    }
    const result: SendResult = { sent: 0, failed: 0 };
    const due = repo.due(clock.now(), BATCH);
    for (const group of groupByRecipients(due, MAX_ALERTS_PER_EMAIL)) {
      if (await sendGroup(group)) result.sent++;
      else result.failed++;
    }
    return result;
  };

  const poller = createPoller({ name: 'alert sender', run, pollMs, logger, active: () => Boolean(mailer) });

  return {
    /** Sends what is due now and then every `pollMs`; without SMTP_URL it only warns, once. */
    start: poller.start,

    /** Stops polling and waits (bounded) for a send in flight, so its result is recorded. */
    async stop(): Promise<void> {
      if (await poller.stop(stopTimeoutMs)) logger.warn('alert sender stopped with a send still in flight', { waitedMs: stopTimeoutMs });
      mailer?.close();
    },

    /** One pass over the due alerts; never overlaps another pass. */
    runOnce: poller.runOnce,
  };
}

export type AlertSender = ReturnType<typeof createAlertSender>;
