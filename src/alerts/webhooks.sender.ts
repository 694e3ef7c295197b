import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import type { Db } from '../db/client.js';
import type { TargetPolicy } from '../probes/target-policy.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { CANCEL_REASONS } from './alerts.outbox.js';
import { renderWebhook } from './webhooks.render.js';
import { createWebhooksRepository } from './webhooks.repository.js';
import type { WebhookDeliveryRow } from './webhooks.table.js';
import { createPoller } from '../shared/poller.js';

export interface WebhookSenderOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** The target policy (ALLOW_TARGETS / DENY_TARGETS): a URL whose name resolves into a denied range is not called. */
  policy: TargetPolicy;
  /** PUBLIC_URL: bodies link to the incident's page. */
  publicUrl?: string;
  /** How often due deliveries are looked for (default 1 s). */
  pollMs?: number;
  /** First retry delay, doubled per attempt (default 5 s) up to `maxRetryMs` (default 5 min). */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /** Per request: connect, send and the receiver's answer (default 10 s). */
  timeoutMs?: number;
  /** Extra CA certificates to trust for https receivers (tests). */
  ca?: string | string[];
}

const BATCH = 200;
const USER_AGENT = 'Gatewatch-Webhook/1';

/** Answers that will not change on a retry: the receiver refuses this request as such. */
const permanent = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429;

class Blocked extends Error {}

/**
 * Delivers webhook_deliveries: POSTs each due delivery's body with `Idempotency-Key` (the same on
 * every attempt, so a receiver that got it before a crash can drop the copy), `X-Gatewatch-Event`
 * and, with a secret, `X-Gatewatch-Signature: sha256=<hex HMAC-SHA256 of the body>`. A 2xx
 * marks it sent; a network error, a time-out, 408, 429 or 5xx retries it with capped exponential
 * back-off for as long as it stays pending; another 4xx gives up (state `failed`). A delivery whose alert the
 * outbox cancelled (resolved within the grouping window, maintenance, folded into a later alert)
 * is cancelled with it. Names are resolved here and judged by the target policy, as for probes.
 */
export function createWebhookSender(options: WebhookSenderOptions) {
  const { clock, logger, policy } = options;
  const repo = createWebhooksRepository(options.db);
  const pollMs = options.pollMs ?? 1000;
  const retryBaseMs = options.retryBaseMs ?? 5000;
  const maxRetryMs = options.maxRetryMs ?? 5 * 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retryDelay = (attempts: number) => Math.min(maxRetryMs, retryBaseMs * 2 ** Math.min(attempts - 1, 30));

  /** dns.lookup, then the target policy on every address; a denied one fails the request before connecting. */
  const guardedLookup: LookupFunction = (hostname, opts, callback) => {
    dnsLookup(hostname, { ...opts, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const denied = addresses.map((a) => policy.check(a.address)).find((d) => !d.allowed);
      if (denied && !denied.allowed) return callback(new Blocked(`${hostname} resolves to a blocked address: ${denied.reason}`), '', 4);
      if ((opts as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };

  const post = (row: WebhookDeliveryRow, body: string, event: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const url = new URL(row.url);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) {
        const decision = policy.check(host);
        if (!decision.allowed) return reject(new Blocked(`blocked by the target policy: ${decision.reason}`));
      }
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': USER_AGENT,
        'idempotency-key': `gatewatch-delivery-${row.id}`,
        'x-gatewatch-delivery': String(row.id),
        'x-gatewatch-alert': String(row.alertId),
        'x-gatewatch-event': event,
      };
      if (row.secret) headers['x-gatewatch-signature'] = `sha256=${createHmac('sha256', row.secret).update(body).digest('hex')}`;
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request(
        url,
        { method: 'POST', headers, agent: false, lookup: guardedLookup, timeout: timeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });

  const deliver = async (row: WebhookDeliveryRow, alert: Parameters<typeof renderWebhook>[0]): Promise<boolean> => {
    const { body, event } = renderWebhook(alert, row.format, options.publicUrl);
    let status: number;
    try {
      status = await post(row, body, event);
    } catch (err) {
      const now = clock.now();
      const blocked = err instanceof Blocked;
      const error = (err as Error).message || String(err);
      // A blocked address stays blocked until the policy or the URL changes: retry at the cap.
      repo.markFailed(row, now, error, null, now + (blocked ? maxRetryMs : retryDelay(row.attempts + 1)));
      logger.warn(blocked ? 'webhook blocked by the target policy; will retry' : 'webhook delivery failed; will retry', {
        deliveryId: row.id,
        alertId: row.alertId,
        url: row.url,
        error,
      });
      return false;
    }
    const now = clock.now();
    if (status >= 200 && status < 300) {
      repo.markSent(row.id, now, status);
      logger.info('webhook delivered', { deliveryId: row.id, alertId: row.alertId, status });
      return true;
    }
    const giveUp = permanent(status);
    repo.markFailed(row, now, `the receiver answered ${status}`, status, giveUp ? null : now + retryDelay(row.attempts + 1));
    logger.warn(giveUp ? 'webhook refused; not retried' : 'webhook delivery failed; will retry', { deliveryId: row.id, url: row.url, status });
    return false;
  };

  const run = async (): Promise<{ sent: number; failed: number }> => {
    const result = { sent: 0, failed: 0 };
    /** After a failure, later deliveries to the same URL wait for the next pass (their order is kept). */
    const failedUrls = new Set<string>();
    for (const { delivery, alert } of repo.due(clock.now(), BATCH)) {
      if (!alert) {
        repo.cancel(delivery.id, 'alert not found');
        continue;
      }
      if (alert.state === 'cancelled' && alert.cancelReason !== CANCEL_REASONS.noRecipients) {
        repo.cancel(delivery.id, alert.cancelReason ?? 'alert cancelled');
        continue;
      }
      if (failedUrls.has(delivery.url)) continue;
      if (await deliver(delivery, alert)) result.sent++;
      else {
        result.failed++;
        failedUrls.add(delivery.url);
      }
    }
    return result;
  };

  const poller = createPoller({ name: 'webhook sender', run, pollMs, logger });

  return {
    start: poller.start,
    /** Stops polling and waits for a delivery in flight (bounded by its time-out), so its result is recorded. */
    async stop(): Promise<void> {
      await poller.stop();
    },
    runOnce: poller.runOnce,
    countPending: () => repo.countPending(),
  };
}

export type WebhookSender = ReturnType<typeof createWebhookSender>;
