import http from 'node:http';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhooksRepository } from '../src/alerts/webhooks.repository.js';
import type { CheckRow } from '../src/checks/checks.table.js';
import { createCertWatch, CERT_REMINDER_MS } from '../src/certs/certs.watch.js';
import { certPayloadOf } from '../src/certs/certs.render.js';
import { createResolver } from '../src/probes/dns.resolver.js';
import { createHttpProbe } from '../src/probes/http.probe.js';
import { createTargetPolicy } from '../src/probes/target-policy.js';
import { listen } from './support/http-servers.js';
import { createTestService } from './support/service.js';
import { startSmtpServer } from './support/smtp.js';
import { startTlsServer, type TestCert } from './support/tls.js';
import { startWebhookReceiver } from './support/webhook-receiver.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn();
  cleanups.length = 0;
});

/** A self-signed certificate for localhost / 127.0.0.1 that expires `days` from now, issued by "Test CA". */
async function certExpiringIn(days: number): Promise<TestCert & { notAfter: Date }> {
  const notAfter = new Date(Date.now() + days * DAY);
  const pems = await generate(
    [
      { name: 'commonName', value: 'localhost' },
      { name: 'organizationName', value: 'Test CA' },
    ],
    {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - DAY),
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private, notAfter };
}

describe('certificate expiry', () => {
  it('records the certificate on every https check and sends exactly one cert_expiring alert by email and webhook', async () => {
    const cert = await certExpiringIn(3);
    const tls = await startTlsServer(cert);
    const api = await listen(http.createServer((_req, res) => res.end('ok')));
    const smtp = await startSmtpServer();
    const hooks = await startWebhookReceiver({ secret: 'cert-key' });
    cleanups.push(() => tls.close(), () => api.close(), () => smtp.close(), () => hooks.close());
    const probe = createHttpProbe({ resolver: createResolver(), policy: createTargetPolicy(), extraCa: cert.cert });
    const t = createTestService(
      { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_TO: 'ops@example.com', ALERT_GROUP_SECONDS: '0', CERT_WARN_DAYS: '14' },
      { probe, webhooks: { pollMs: 50, retryBaseMs: 100, maxRetryMs: 400 } },
    );
    cleanups.push(() => t.close());
    const site = (
      await t.call('POST', '/api/sites', {
        name: 'shop',
        url: tls.url,
        intervalSeconds: 1,
        upstreams: [{ name: 'api-1', url: api.url }],
        webhooks: [{ url: hooks.url, secret: 'cert-key' }],
      })
    ).body;
    t.svc.scheduler.start();
    t.svc.sender.start();
    t.svc.webhooks.start();

    const siteChecks = async () =>
      ((await t.call('GET', `/api/sites/${site.id}/checks?target=site&limit=100`)).body.checks as CheckRow[]).filter((c) => c.outcome === 'ok');
    await waitFor(async () => (await siteChecks()).length >= 3, { timeoutMs: 20_000, message: 'three https checks' });
    const email = await waitFor(() => smtp.messages.find((m) => /certificate/i.test(m.subject)), { timeoutMs: 20_000, message: 'the cert_expiring email' });
    const hook = await waitFor(() => hooks.received.find((h) => h.headers['x-gatewatch-event'] === 'cert_expiring'), {
      timeoutMs: 20_000,
      message: 'the cert_expiring webhook',
    });

    // Every https check carries the certificate (to the second: X.509 keeps whole seconds); http ones none.
    const expiresAt = Math.floor(cert.notAfter.getTime() / 1000) * 1000;
    for (const c of await siteChecks()) {
      expect(c.certExpiresAt).toBe(expiresAt);
      expect(c.certIssuer).toBe('localhost (Test CA)');
    }
    const upstreamChecks = (await t.call('GET', `/api/sites/${site.id}/checks?limit=100`)).body.checks.filter((c: CheckRow) => c.target !== 'site');
    expect(upstreamChecks.length).toBeGreaterThan(0);
    for (const c of upstreamChecks) expect(c.certExpiresAt).toBeNull();

    expect(email.subject).toMatch(/TLS certificate of shop expires in [23] days/);
    expect(email.envelopeTo).toEqual(['ops@example.com']);
    expect(email.text).toContain('localhost (Test CA)');
    expect(email.text).toContain(new Date(expiresAt).toISOString().slice(0, 10));
    expect(hook.signatureValid).toBe(true);
    expect(hook.json).toMatchObject({
      event: 'cert_expiring',
      site: { id: site.id, name: 'shop' },
      certificate: { target: 'site', expiresAt, issuer: 'localhost (Test CA)' },
      reminder: false,
    });
    expect(hook.json.certificate.daysLeft).toBeGreaterThanOrEqual(2);

    // On the status JSON, per target (the token's view and the public one).
    const status = (await t.call('GET', `/api/status/${site.id}`)).body;
    expect(status.certificate).toEqual({ expiresAt, issuer: 'localhost (Test CA)' });
    expect(status.upstreams[0].certificate).toBeNull();
    expect((await t.call('GET', `/api/status/${site.id}`, undefined, { token: null })).body.certificate.expiresAt).toBe(expiresAt);
    const listed = (await t.call('GET', '/api/status')).body.sites.find((e: { id: number }) => e.id === site.id);
    expect(listed.certificate).toEqual({ expiresAt, issuer: 'localhost (Test CA)' });

    // More checks of the same certificate: still one alert, one email, one webhook.
    const seen = (await siteChecks()).length;
    await waitFor(async () => (await siteChecks()).length >= seen + 2, { timeoutMs: 10_000, message: 'two more checks' });
    await t.svc.sender.runOnce();
    await t.svc.webhooks.runOnce();
    expect(smtp.messages.filter((m) => /certificate/i.test(m.subject))).toHaveLength(1);
    expect(hooks.received.filter((h) => h.headers['x-gatewatch-event'] === 'cert_expiring')).toHaveLength(1);
    const alerts = (await t.call('GET', `/api/alerts?siteId=${site.id}`)).body.alerts;
    expect(alerts.filter((a: { kind: string }) => a.kind === 'cert_expiring')).toHaveLength(1);
    expect(alerts[0].subject).toMatch(/TLS certificate of shop/);
  }, 60_000);

  it('reminds weekly while the same certificate is served, and starts again for a renewed one', async () => {
    const t = createTestService({ ALERT_TO: 'ops@example.com' });
    cleanups.push(() => t.close());
    const site = (await t.call('POST', '/api/sites', { name: 'shop', url: 'https://127.0.0.1:9/' })).body;
    let now = Date.parse('2026-12-01T00:00:00Z');
    const watch = createCertWatch({
      db: t.svc.db,
      clock: { now: () => now },
      warnDays: 14,
      alertTo: ['ops@example.com'],
      sites: t.svc.sites,
      webhooks: createWebhooksRepository(t.svc.db),
    });
    const check = (expiresAt: number): CheckRow =>
      ({ siteId: site.id, target: 'site', targetName: 'shop', startedAt: now, outcome: 'ok', certExpiresAt: expiresAt, certIssuer: 'R3' }) as CheckRow;
    const certAlerts = () =>
      t.svc.db.$client.prepare(`SELECT * FROM alerts WHERE kind = 'cert_expiring' ORDER BY id`).all() as { payload: string }[];

    const far = now + 30 * DAY;
    expect(watch.observe([check(far)])).toBe(0); // outside CERT_WARN_DAYS
    const soon = now + 10 * DAY;
    expect(watch.observe([check(soon)])).toBe(1);
    now += DAY;
    expect(watch.observe([check(soon), check(soon)])).toBe(0);
    now += CERT_REMINDER_MS - DAY;
    expect(watch.observe([check(soon)])).toBe(1);
    expect(certAlerts()).toHaveLength(2);
    expect(certPayloadOf({ payload: JSON.parse(certAlerts()[1].payload) }).reminder).toBe(true);
    // Renewed, but the new one also expires soon: a certificate of its own, told at once.
    expect(watch.observe([check(now + 5 * DAY)])).toBe(1);
    expect(certAlerts()).toHaveLength(3);
  });
});
