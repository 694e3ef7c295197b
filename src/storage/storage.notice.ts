import { createMailer, describeMailError, type Mailer, type MailerTls } from '../alerts/alerts.mailer.js';
import { formatDuration } from '../diagnosis/format.js';
import type { Logger } from '../shared/logger.js';
import type { StorageEvents, StorageFailure } from './storage.health.js';

export interface StorageNoticeOptions {
  /** SMTP_URL; without it (or without recipients) the log is all there is. */
  smtpUrl?: string;
  /** ALERT_FROM / ALERT_TO: a full disk is the operator's business, not a site owner's. */
  from: string;
  to: string[];
  logger: Logger;
  tls?: MailerTls;
  /** How long after a failed send the next try is (default 30 s). */
  retryMs?: number;
}

interface Notice {
  subject: string;
  text: string;
  messageId: string;
  inReplyTo?: string;
}

const iso = (at: number) => `${new Date(at).toISOString().slice(0, 19)}Z`;
const domainOf = (from: string) => (/@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'gatewatch.local').toLowerCase();

/**
 * Tells ALERT_TO that checks are not being stored, and when they are again. Not through the
 * outbox: the outbox is a table of the database that takes no writes. The notices wait in memory
 * and are sent straight to SMTP, retried until they go; a restart while the disk is still full
 * loses a waiting notice, but the first failing write after the restart starts a new episode and
 * a new notice. Both notices of an episode form one thread.
 */
export function createStorageNotice(options: StorageNoticeOptions): StorageEvents & { stop(): void } {
  const { logger } = options;
  const retryMs = options.retryMs ?? 30_000;
  const mailer: Mailer | null = options.smtpUrl && options.to.length ? createMailer({ smtpUrl: options.smtpUrl, tls: options.tls }) : null;
  const domain = domainOf(options.from);
  const queue: Notice[] = [];
  let timer: NodeJS.Timeout | null = null;
  let sending = false;
  let stopped = false;

  const flush = async () => {
    if (sending || !mailer || stopped) return;
    sending = true;
    try {
      while (queue.length) {
        const notice = queue[0];
        try {
          await mailer.send({
            from: options.from,
            to: options.to,
            subject: notice.subject,
            text: notice.text,
            html: `<!doctype html>\n<html><head><meta charset="utf-8"></head><body><pre>${notice.text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!)}</pre></body></html>\n`,
            messageId: notice.messageId,
            date: new Date(),
            headers: {
              'Auto-Submitted': 'auto-generated',
              ...(notice.inReplyTo ? { 'In-Reply-To': notice.inReplyTo, References: notice.inReplyTo } : {}),
            },
          });
          queue.shift();
          logger.info('storage notice sent', { subject: notice.subject, recipients: options.to.length });
        } catch (error) {
          logger.warn('storage notice could not be sent; will retry', { error: describeMailError(error), retryInMs: retryMs });
          if (!timer && !stopped) {
            timer = setTimeout(() => {
              timer = null;
              void flush();
            }, retryMs);
            timer.unref();
          }
          return;
        }
      }
    } finally {
      sending = false;
    }
  };

  const idFor = (failure: StorageFailure, what: string) => `<gatewatch.storage.${failure.since}.${what}@${domain}>`;

  return {
    failing(failure) {
      if (!mailer) return;
      queue.push({
        subject: '[Gatewatch] checks are not being stored: the database takes no writes',
        messageId: idFor(failure, 'failing'),
        text: [
          `Since ${iso(failure.since)} the database refuses writes: ${failure.reason}.`,
          '',
          'Until it takes writes again, the checks of every site are dropped (not stored), incidents',
          'are neither opened nor resolved and their alerts are not written; the API answers',
          '507 storage.full to writes and /healthz answers 503.',
          '',
          'Free space on the filesystem that holds DATABASE_PATH (or grow it). Gatewatch notices by',
          'itself when writes work again, resumes, and sends a second email.',
        ].join('\n'),
      });
      void flush();
    },
    recovered(failure, at) {
      if (!mailer) return;
      queue.push({
        subject: `[Gatewatch] checks are stored again after ${formatDuration(at - failure.since)}`,
        messageId: idFor(failure, 'recovered'),
        inReplyTo: idFor(failure, 'failing'),
        text: [
          `The database takes writes again since ${iso(at)}, after ${formatDuration(at - failure.since)} (from ${iso(failure.since)}).`,
          '',
          `Not stored meanwhile: ${failure.checksNotStored} checks of ${failure.roundsNotStored} rounds; ${failure.requestsRefused} API writes were refused.`,
          'Uptime over that time is computed from the checks that were stored.',
        ].join('\n'),
      });
      void flush();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      mailer?.close();
    },
  };
}
