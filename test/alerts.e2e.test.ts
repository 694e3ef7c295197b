import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';
import { waitFor } from './support/wait.js';

let t: TestService | undefined;
let smtp: TestSmtpServer | undefined;
let upstream: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  await smtp?.close();
  await upstream?.close();
  t = smtp = upstream = undefined;
});

describe('alerts from real rounds', () => {
  it('emails the owner when the site starts answering 502, and again when it recovers', async () => {
    let failing = false;
    upstream = await listen(
      http.createServer((_req, res) => {
        if (failing) {
          res.writeHead(502, { server: 'nginx/1.22.1', 'content-type': 'text/html' });
          res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.22.1</center></body></html>');
        } else res.end('ok');
      }),
    );
    smtp = await startSmtpServer();
    t = createTestService({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_GROUP_SECONDS: '0', ALERT_TO: 'ops@example.com' });
    t.svc.scheduler.start();
    t.svc.sender.start();
    const site = (await t.call('POST', '/api/sites', { name: 'shop', url: upstream.url, intervalSeconds: 1, failureThreshold: 2, recoveryThreshold: 2, alertEmails: ['owner@example.com'] })).body;
    await waitFor(async () => (await t!.call('GET', `/api/sites/${site.id}`)).body.state === 'up', { timeoutMs: 20_000, message: 'site up' });

    failing = true;
    const down = await waitFor(() => smtp!.messages.find((m) => /DOWN/.test(m.subject)), { timeoutMs: 30_000, intervalMs: 100, message: 'the DOWN email' });
    expect(down.subject).toContain("shop");
    expect(down.subject).toMatch(/502/);
    expect(down.envelopeTo).toEqual(['owner@example.com']);
    expect(down.text).toMatch(/nginx/i);
    expect(down.html).toContain('<');

    failing = false;
    const resolved = await waitFor(() => smtp!.messages.find((m) => /RESOLVED/.test(m.subject)), { timeoutMs: 30_000, intervalMs: 100, message: 'the RESOLVED email' });
    expect(resolved.subject).toContain('shop');
    const incidents = (await t.call('GET', `/api/incidents?siteId=${site.id}`)).body.incidents;
    expect(incidents).toHaveLength(1);
    expect(incidents[0].state).toBe('resolved');
    // The server has the message before the sender hears its 250 and marks the row sent.
    const sentKinds = async () =>
      ((await t!.call('GET', `/api/alerts?incidentId=${incidents[0].id}`)).body.alerts as { state: string; kind: string }[])
        .filter((a) => a.state === 'sent')
        .map((a) => a.kind)
        .sort()
        .join(',');
    await waitFor(async () => (await sentKinds()) === 'opened,resolved', { timeoutMs: 20_000, message: 'both alerts marked sent' });
    // Exactly one email per event: nothing was sent twice.
    expect(smtp.messages.filter((m) => /DOWN/.test(m.subject))).toHaveLength(1);
  });
});
