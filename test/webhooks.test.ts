import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import { buildService, type Service } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { waitFor } from './support/wait.js';

const FAST = { pollMs: 50, retryBaseMs: 100, maxRetryMs: 400, timeoutMs: 2000 };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn();
  cleanups.length = 0;
});

/** A gateway that answers 502 from the first request. */
async function brokenGateway(): Promise<TestServer> {
  const server = await listen(
    http.createServer((_req, res) => {
      res.writeHead(502, { server: 'nginx/1.22.1' });
      res.end('<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>');
    }),
  );
  cleanups.push(() => server.close());
  return server;
}

const receiver = async (...args: Parameters<typeof startWebhookReceiver>) => {
  const r = await startWebhookReceiver(...args);
  cleanups.push(() => r.close());
  return r;
};

const service = (env: Record<string, string> = {}): TestService => {
  const t = createTestService({ ALERT_GROUP_SECONDS: '0', ...env }, { webhooks: FAST });
  cleanups.push(() => t.close());
  return t;
};

/** A port that refuses connections now (a receiver that is down) and can be listened on later. */
async function freedPort(): Promise<number> {
  const s = await listen(http.createServer());
  await s.close();
  return s.port;
}

const events = (r: WebhookReceiver, event: string) => r.distinct().filter((h) => h.headers['x-gatewatch-event'] === event);

describe('webhooks', () => {
  it('posts signed JSON and a Slack message for an incident, and never shows the secret', async () => {
    const gateway = await brokenGateway();
    const json = await receiver({ secret: 's3cret-hmac-key' });
    const slack = await receiver();
    // By name: resolved at delivery, each address judged by the target policy, then connected to.
    const slackUrl = slack.url.replace('127.0.0.1', 'localhost');
    const t = service({ PUBLIC_URL: 'https://status.example.com/' });
    const created = await t.call('POST', '/api/sites', {
      name: 'shop',
      url: gateway.url,
      intervalSeconds: 1,
      failureThreshold: 1,
      webhooks: [
        { url: json.url, secret: 's3cret-hmac-key' },
        { url: slackUrl, format: 'slack' },
      ],
    });
    expect(created.status).toBe(201);
    expect(created.body.webhooks).toEqual([
      { url: json.url, format: 'json', hasSecret: true },
      { url: slackUrl, format: 'slack', hasSecret: false },
    ]);
    for (const path of [`/api/sites/${created.body.id}`, '/api/sites']) {
      expect(JSON.stringify((await t.call('GET', path)).body)).not.toContain('s3cret-hmac-key');
    }
    t.svc.scheduler.start();
    t.svc.webhooks.start();

    const hook = await waitFor(() => events(json, 'opened')[0], { timeoutMs: 20_000, message: 'the opened webhook' });
    expect(hook.signatureValid).toBe(true);
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['idempotency-key']).toMatch(/^gatewatch-delivery-\d+$/);
    expect(hook.json).toMatchObject({ event: 'opened', site: { id: created.body.id, name: 'shop', url: gateway.url } });
    expect(hook.json.incident.state).toBe('open');
    expect(hook.json.incident.kind).toBe('bad_gateway');
    expect(hook.json.incident.causes.length).toBeGreaterThan(0);
    expect(hook.json.incident.url).toBe(`https://status.example.com/incidents/${hook.json.incident.id}`);
    expect(hook.json.summary).toContain('shop');

    const message = await waitFor(() => events(slack, 'opened')[0], { timeoutMs: 10_000, message: 'the Slack message' });
    expect(message.signatureValid).toBeNull();
    expect(message.headers['x-gatewatch-signature']).toBeUndefined();
    expect(typeof message.json.text).toBe('string');
    expect(message.json.text).toContain('shop');
    expect(Array.isArray(message.json.blocks)).toBe(true);
    expect(message.json.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(message.json.blocks.at(-1)).toMatchObject({ type: 'context' });
    expect(JSON.stringify(message.json)).toContain(`https://status.example.com/incidents/${hook.json.incident.id}`);

    // Under another key the same body does not verify: the signature covers the body with this secret.
    const { createHmac } = await import('node:crypto');
    expect(hook.headers['x-gatewatch-signature']).toBe(`sha256=${createHmac('sha256', 's3cret-hmac-key').update(hook.body).digest('hex')}`);
    expect(hook.headers['x-gatewatch-signature']).not.toBe(`sha256=${createHmac('sha256', 'another-key').update(hook.body).digest('hex')}`);
    // `hasSecret: true` keeps only the secret stored for the same URL: a new URL gets none.
    await t.call('PATCH', `/api/sites/${created.body.id}`, { webhooks: [{ url: `${json.url}other`, hasSecret: true }] });
    expect((await t.call('GET', `/api/sites/${created.body.id}`)).body.webhooks).toEqual([{ url: `${json.url}other`, format: 'json', hasSecret: false }]);
  }, 60_000);

  it('keeps the stored secret when GET output is sent back, and a new secret replaces it', async () => {
    const t = service();
    const site = (await t.call('POST', '/api/sites', { name: 'a', url: 'http://127.0.0.1:9/', webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: 'first' }] })).body;
    const again = await t.call('PATCH', `/api/sites/${site.id}`, { webhooks: site.webhooks });
    expect(again.status).toBe(200);
    expect(t.svc.sites.get(site.id)!.webhooks).toEqual([{ url: 'http://127.0.0.1:9/hook', format: 'json', secret: 'first' }]);
    await t.call('PATCH', `/api/sites/${site.id}`, { webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: 'second' }] });
    expect(t.svc.sites.get(site.id)!.webhooks[0].secret).toBe('second');
  });

  it('refuses webhook URLs the target policy denies: an IP literal at creation, a name at delivery', async () => {
    const t = service({ DENY_TARGETS: '127.0.0.2/32' });
    const metadata = await t.call('POST', '/api/sites', { name: 'x', url: 'http://127.0.0.1:9/', webhooks: [{ url: 'http://169.254.169.254/latest' }] });
    expect(metadata.status).toBe(400);
    expect(metadata.body.error.code).toBe('validation.failed');
    expect(metadata.body.error.message).toContain('webhooks.0.url');
    const denied = await t.call('POST', '/api/sites', { name: 'y', url: 'http://127.0.0.1:9/', webhooks: [{ url: 'http://127.0.0.2:8080/' }] });
    expect(denied.status).toBe(400);
    expect(denied.body.error.message).toMatch(/DENY_TARGETS/);
    const patched = await t.call('PATCH', '/api/sites/1', { webhooks: [{ url: 'http://[fe80::1]/' }] });
    expect([400, 404]).toContain(patched.status);

    // A name is judged when it is resolved, at delivery: localhost resolves to loopback, denied here.
    const gateway = await brokenGateway();
    const r = await receiver();
    const t2 = service({ DENY_TARGETS: '127.0.0.0/8,::1/128', ALLOW_TARGETS: '' });
    // The gateway itself is reached by IP literal; deny would block it too, so the site's checks
    // fail as `blocked` and still open an incident, whose alert is refused at delivery.
    const site = (await t2.call('POST', '/api/sites', { name: 'z', url: gateway.url.replace('127.0.0.1', 'localhost'), intervalSeconds: 1, failureThreshold: 1, webhooks: [{ url: r.url.replace('127.0.0.1', 'localhost') }] })).body;
    expect(site.id).toBeGreaterThan(0);
    t2.svc.scheduler.start();
    t2.svc.webhooks.start();
    const deliveries = await waitFor(
      () => {
        const rows = t2.svc.db.$client.prepare('SELECT * FROM webhook_deliveries').all() as { attempts: number; last_error: string | null }[];
        return rows.length > 0 && rows[0].attempts > 0 ? rows : null;
      },
      { timeoutMs: 20_000, message: 'a delivery attempt' },
    );
    expect(deliveries[0].last_error).toMatch(/blocked/);
    expect(r.received).toHaveLength(0);
  }, 60_000);

  it('delivers once to a receiver that is down, then up', async () => {
    const gateway = await brokenGateway();
    const port = await freedPort();
    const t = service();
    const site = (await t.call('POST', '/api/sites', { name: 'shop', url: gateway.url, intervalSeconds: 1, failureThreshold: 1, webhooks: [{ url: `http://127.0.0.1:${port}/hook`, secret: 'k' }] })).body;
    t.svc.scheduler.start();
    t.svc.webhooks.start();
    // Down: the delivery fails and is retried.
    await waitFor(
      () => (t.svc.db.$client.prepare('SELECT max(attempts) AS n FROM webhook_deliveries').get() as { n: number | null }).n! >= 2,
      { timeoutMs: 20_000, message: 'two failed attempts' },
    );
    const r = await receiver({ secret: 'k', port });
    const hook = await waitFor(() => events(r, 'opened')[0], { timeoutMs: 10_000, message: 'the opened webhook after the outage' });
    expect(hook.signatureValid).toBe(true);
    expect(hook.json.site.id).toBe(site.id);
    await waitFor(() => (t.svc.db.$client.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'sent'`).get() as { n: number }).n >= 1, {
      message: 'marked sent',
    });
    // More rounds run (the site still fails): no second opened alert, no repeat of the first.
    const checksNow = (t.svc.db.$client.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number }).n;
    await waitFor(() => (t.svc.db.$client.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number }).n >= checksNow + 2, { timeoutMs: 10_000 });
    expect(r.received.filter((h) => h.headers['x-gatewatch-event'] === 'opened')).toHaveLength(1);
  }, 60_000);

  it('sends the same Idempotency-Key again when the answer was lost, so the receiver can tell a retry', async () => {
    const gateway = await brokenGateway();
    let answered = 0;
    // The first attempt is received but never answered (as if Gatewatch crashed before recording it).
    const r = await receiver({ answer: (_h, res) => (answered++ === 0 ? undefined : res.end('ok')) });
    const t = createTestService({ ALERT_GROUP_SECONDS: '0' }, { webhooks: { ...FAST, timeoutMs: 300 } });
    cleanups.push(() => t.close());
    await t.call('POST', '/api/sites', { name: 'shop', url: gateway.url, intervalSeconds: 1, failureThreshold: 1, webhooks: [{ url: r.url }] });
    t.svc.scheduler.start();
    t.svc.webhooks.start();
    await waitFor(() => r.received.filter((h) => h.headers['x-gatewatch-event'] === 'opened').length >= 2, { timeoutMs: 20_000, message: 'a retry' });
    const opened = r.received.filter((h) => h.headers['x-gatewatch-event'] === 'opened');
    expect(new Set(opened.map((h) => h.headers['idempotency-key'])).size).toBe(1);
    expect(new Set(opened.map((h) => h.body)).size).toBe(1);
    expect(events(r, 'opened')).toHaveLength(1);
  }, 60_000);

  it('delivers once across a restart of the service during the outage', async () => {
    const gateway = await brokenGateway();
    const port = await freedPort();
    const dir = mkdtempSync(join(tmpdir(), 'gw-hooks-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', ALERT_GROUP_SECONDS: '0' });
    const stop = async (svc: Service) => {
      await svc.scheduler.stop();
      await svc.webhooks.stop();
      await svc.sender.stop();
      svc.housekeeping.stop();
      svc.status.stop();
      closeDatabase(svc.db);
    };

    const first = buildService(config, silentLogger, { webhooks: FAST });
    const res = await first.app.request('/api/sites', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shop', url: gateway.url, intervalSeconds: 1, failureThreshold: 1, webhooks: [{ url: `http://127.0.0.1:${port}/hook` }] }),
    });
    expect(res.status).toBe(201);
    first.scheduler.start();
    first.webhooks.start();
    await waitFor(
      () => (first.db.$client.prepare(`SELECT max(attempts) AS n FROM webhook_deliveries`).get() as { n: number | null }).n! >= 1,
      { timeoutMs: 20_000, message: 'a failed attempt before the restart' },
    );
    await stop(first);

    const r = await receiver({ port });
    const second = buildService(config, silentLogger, { webhooks: FAST });
    cleanups.push(() => stop(second));
    second.scheduler.start();
    second.webhooks.start();
    await waitFor(() => events(r, 'opened').length === 1, { timeoutMs: 20_000, message: 'the opened webhook after the restart' });
    await waitFor(() => (second.db.$client.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'sent'`).get() as { n: number }).n === 1, {
      message: 'marked sent',
    });
    const checksNow = (second.db.$client.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number }).n;
    await waitFor(() => (second.db.$client.prepare('SELECT count(*) AS n FROM raw_checks').get() as { n: number }).n >= checksNow + 2, { timeoutMs: 10_000 });
    expect(r.received.filter((h) => h.headers['x-gatewatch-event'] === 'opened')).toHaveLength(1);
  }, 60_000);
});
