import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../src/shared/logger.js';
import { recordingLogger } from './support/logger.js';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';
import { waitFor } from './support/wait.js';

let t: TestService | undefined;
let smtp: TestSmtpServer | undefined;
let target: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  await smtp?.close();
  await target?.close();
  t = smtp = target = undefined;
});

const PUBLIC_URL = 'https://status.example.com/gw';

/** A gateway on loopback that answers 200, or nginx's 502 while `failing`. */
async function startGateway() {
  const state = { failing: false };
  const server = await listen(
    http.createServer((_req, res) => {
      if (state.failing) {
        res.writeHead(502, { server: 'nginx/1.22.1', 'content-type': 'text/html' });
        res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.22.1</center></body></html>');
      } else res.end('ok');
    }),
  );
  return { server, state };
}

async function startWatching(log: Logger) {
  const gateway = await startGateway();
  target = gateway.server;
  smtp = await startSmtpServer();
  t = createTestService({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_GROUP_SECONDS: '0', PUBLIC_URL: `${PUBLIC_URL}/` }, {}, log);
  t.svc.scheduler.start();
  t.svc.sender.start();
  const site = (await t.call('POST', '/api/sites', { name: 'shop', url: gateway.server.url, intervalSeconds: 1, failureThreshold: 2, recoveryThreshold: 2, alertEmails: ['owner@example.com'] })).body;
  await waitFor(async () => (await t!.call('GET', `/api/sites/${site.id}`)).body.state === 'up', { timeoutMs: 20_000, message: 'site up' });
  gateway.state.failing = true;
  const down = await waitFor(() => smtp!.messages.find((m) => /DOWN/.test(m.subject)), { timeoutMs: 30_000, intervalMs: 50, message: 'the DOWN email' });
  const [incident] = (await t.call('GET', `/api/incidents?siteId=${site.id}&state=open`)).body.incidents;
  // The DOWN email is recorded as sent (its Message-ID kept) before the next one is written.
  await waitFor(async () => ((await t!.call('GET', `/api/alerts?incidentId=${incident.id}`)).body.alerts as { state: string }[]).some((a) => a.state === 'sent'), {
    timeoutMs: 10_000,
    message: 'the DOWN alert marked sent',
  });
  return { site, incident, down, gateway: gateway.state };
}

describe('the emails of one incident', () => {
  it('form one thread; the RESOLVED email says what happened, for how long and why, without next steps; every email links to the incident page', async () => {
    const { logger, entries } = recordingLogger();
    const { site, incident, down, gateway } = await startWatching(logger);

    const downId = down.header('message-id');
    expect(downId).toMatch(/^<gatewatch\.\d+\.[0-9a-f]+@localhost>$/);
    expect(down.header('in-reply-to')).toBeUndefined();
    expect(down.text).toContain(`${PUBLIC_URL}/incidents/${incident.id}`);
    expect(down.html).toContain(`href="${PUBLIC_URL}/incidents/${incident.id}"`);
    expect(down.text).toContain('Next steps:');

    gateway.failing = false;
    const resolved = await waitFor(() => smtp!.messages.find((m) => /RESOLVED/.test(m.subject)), { timeoutMs: 30_000, intervalMs: 50, message: 'the RESOLVED email' });
    expect(resolved.header('in-reply-to')).toBe(downId);
    expect(resolved.header('references')).toBe(downId);
    expect(resolved.header('message-id')).not.toBe(downId);
    expect(resolved.text).toContain(`${PUBLIC_URL}/incidents/${incident.id}`);
    // What happened, for how long, and the evidence.
    expect(resolved.subject).toMatch(/shop RESOLVED after \d+s/);
    expect(resolved.text).toMatch(/Resolved: {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, down for \d+s/);
    expect(resolved.text).toContain('Evidence:');
    expect(resolved.text).toContain('502');
    // No steps for something that is over, and no sentence about the evidence being kept.
    expect(resolved.text).not.toContain('Next steps');
    expect(resolved.html).not.toContain('Next steps');
    expect(resolved.text).not.toMatch(/evidence below is kept/i);

    // One info line each when the incident opened and resolved: site, kind, top cause.
    const opened = entries.filter((e) => e.msg === 'incident opened');
    const closed = entries.filter((e) => e.msg === 'incident resolved');
    expect(opened).toHaveLength(1);
    expect(closed).toHaveLength(1);
    for (const e of [...opened, ...closed]) {
      expect(e.level).toBe('info');
      expect(e.fields).toMatchObject({ siteId: site.id, site: 'shop', incidentId: incident.id, kind: 'bad_gateway' });
      expect(typeof e.fields.cause).toBe('string');
    }
    expect(closed[0].fields.downMs).toBeGreaterThan(0);
  });

  it('deleting a site with an open incident sends its owners a closing notice in the same thread, then its history goes', async () => {
    const { logger, entries } = recordingLogger();
    const { site, incident, down } = await startWatching(logger);

    const deleted = await t!.call('DELETE', `/api/sites/${site.id}`);
    expect(deleted.status).toBe(204);
    const notice = await waitFor(() => smtp!.messages.find((m) => /deleted while DOWN/.test(m.subject)), { timeoutMs: 20_000, intervalMs: 50, message: 'the closing notice' });
    expect(notice.subject).toBe(`[Gatewatch] shop deleted while DOWN: incident closed after ${/after (\S+)$/.exec(notice.subject)![1]}`);
    expect(notice.envelopeTo).toEqual(['owner@example.com']);
    expect(notice.header('in-reply-to')).toBe(down.header('message-id'));
    expect(notice.text).toContain('no further email about it will follow');
    expect(notice.text).toMatch(/Closed: {4}.*\(site deleted\), down for /);
    expect(notice.text).not.toContain('Next steps');
    expect(entries.some((e) => e.msg === 'incident closed: its site was deleted' && e.fields.incidentId === incident.id)).toBe(true);

    // The history went with the site; the alert log keeps the notice as sent.
    expect((await t!.call('GET', `/api/incidents/${incident.id}`)).status).toBe(404);
    expect((await t!.call('GET', `/api/sites/${site.id}`)).status).toBe(404);
    await waitFor(
      async () => ((await t!.call('GET', `/api/alerts?incidentId=${incident.id}`)).body.alerts as { kind: string; state: string }[]).some((a) => a.kind === 'closed' && a.state === 'sent'),
      { timeoutMs: 10_000, message: 'the closing notice marked sent' },
    );
    // Exactly one closing notice, and nothing after it.
    expect(smtp!.messages.filter((m) => /deleted while DOWN/.test(m.subject))).toHaveLength(1);
  });

  it('deleting a site without an open incident sends nothing', async () => {
    smtp = await startSmtpServer();
    t = createTestService({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_GROUP_SECONDS: '0' });
    const site = (await t.call('POST', '/api/sites', { name: 'calm', url: 'http://127.0.0.1:9/', alertEmails: ['owner@example.com'], paused: true })).body;
    expect((await t.call('DELETE', `/api/sites/${site.id}`)).status).toBe(204);
    await t.svc.sender.runOnce();
    expect(smtp.messages).toHaveLength(0);
    expect((await t.call('GET', '/api/alerts')).body.alerts).toHaveLength(0);
  });
});
