/**
 * One dead address of several, through the whole service (issue 14): the check is ok (a browser
 * gets through), it records the address that failed, and the site is `degraded`, not `down`.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer } from './support/dns-server.js';
import { startHealthyServer, trackForCleanup, type TestServer } from './support/http-servers.js';
import { createTestService } from './support/service.js';

const track = trackForCleanup();

const refused = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });

describe('a name with one dead address of two', () => {
  it('ok checks that name the failed address, the site degraded, no incident; healthy again once it answers', async () => {
    const dns = track(await startDnsServer());
    let server: TestServer;
    for (let attempt = 0; ; attempt++) {
      server = track(await startHealthyServer({ host: '127.0.0.2' }));
      if (await refused('127.0.0.1', server.port)) break;
      if (attempt > 10) throw new Error('no port free on 127.0.0.1');
    }
    dns.setA('shop.addr.test', ['127.0.0.1', '127.0.0.2']);
    const t = track(createTestService({ DNS_SERVERS: dns.servers.join(',') }));
    const site = (await t.call('POST', '/api/sites', { name: 'shop', url: `http://shop.addr.test:${server.port}/`, failureThreshold: 1 })).body;

    for (let i = 0; i < 3; i++) expect((await t.call('POST', `/api/sites/${site.id}/check`)).status).toBe(200);
    const checks = (await t.call('GET', `/api/sites/${site.id}/checks`)).body.checks;
    expect(checks.length).toBe(3);
    for (const check of checks) {
      expect(check).toMatchObject({ outcome: 'ok', address: '127.0.0.2', failedAddresses: ['127.0.0.1'] });
    }
    expect((await t.call('GET', `/api/sites/${site.id}`)).body.state).toBe('degraded');
    expect((await t.call('GET', `/api/incidents?siteId=${site.id}`)).body.incidents).toEqual([]);

    dns.setA('shop.addr.test', ['127.0.0.2']);
    await t.call('POST', `/api/sites/${site.id}/check`);
    expect((await t.call('GET', `/api/sites/${site.id}`)).body.state).toBe('up');
  });
});
