import { isIP } from 'node:net';
import type { TargetPolicy } from '../probes/target-policy.js';
import { validationFailed } from '../shared/errors.js';
import type { SiteWebhook } from './sites.table.js';

/** A webhook as the API accepts it (see sites.schemas.ts). */
export interface WebhookInput {
  url: string;
  format: 'json' | 'slack';
  secret?: string;
  hasSecret?: boolean;
}

/** A webhook as the API shows it: never the secret, only whether one is set. */
export interface WebhookView {
  url: string;
  format: 'json' | 'slack';
  hasSecret: boolean;
}

/**
 * What is stored for the webhooks given: a new `secret` wins; `hasSecret: true` without one keeps
 * the secret stored for the same URL (what GET showed, sent back); otherwise none.
 */
export function webhooksToStore(input: WebhookInput[], existing: SiteWebhook[] = []): SiteWebhook[] {
  const byUrl = new Map(existing.map((w) => [w.url, w]));
  return input.map(({ url, format, secret, hasSecret }) => {
    const kept = secret ?? (hasSecret ? byUrl.get(url)?.secret : undefined);
    return kept ? { url, format, secret: kept } : { url, format };
  });
}

export const webhookViews = (list: SiteWebhook[]): WebhookView[] =>
  list.map((w) => ({ url: w.url, format: w.format, hasSecret: Boolean(w.secret) }));

/** Any object with webhooks, with them shown as the API shows them. */
export const withWebhookViews = <T extends { webhooks: SiteWebhook[] }>(site: T): Omit<T, 'webhooks'> & { webhooks: WebhookView[] } => ({
  ...site,
  webhooks: webhookViews(site.webhooks),
});

/**
 * The target policy at creation: a webhook URL naming an IP literal in a denied range is a 400
 * (a name is resolved and judged again at every delivery).
 */
export function assertWebhooksAllowed(policy: TargetPolicy | undefined, list: { url: string }[] | undefined): void {
  if (!policy || !list) return;
  list.forEach((w, i) => {
    const host = new URL(w.url).hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) return;
    const decision = policy.check(host);
    if (!decision.allowed) {
      const message = `webhooks.${i}.url: blocked by the target policy: ${decision.reason}`;
      throw validationFailed(`invalid body: ${message}`, [{ field: `webhooks.${i}.url`, message: `blocked by the target policy: ${decision.reason}` }]);
    }
  });
}
