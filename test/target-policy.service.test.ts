/**
 * The target policy (SSRF) through a running service: DENY_TARGETS and ALLOW_TARGETS set, names
 * resolved by Gatewatch through the test DNS server, sites created through the API.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { waitFor } from './support/wait.js';

let t: TestService | undefined;
let dns: DnsServer | undefined;
let web: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  await dns?.close();
  await web?.close();
  t = dns = web = undefined;
});

interface Check {
  target: string;
  outcome: string;
  errorMessage: string | null;
  address: string | null;
  addresses: string[];
}

describe('target policy through the service', () => {
  it('a name resolving into a denied range gives blocked checks, and so does a redirect into it; an allowed one is probed', async () => {
    // Listens on every loopback address: a blocked probe must never reach it, whatever the address.
    let requests = 0;
    const hits: string[] = [];
    const server = http.createServer((req, res) => {
      requests++;
      hits.push(`${req.headers.host}${req.url}`);
      if (req.url === '/redirect') res.writeHead(302, { location: `http://intranet.test:${(server.address() as { port: number }).port}/secret` }).end();
      else res.end('ok');
    });
    web = await listen(server, '0.0.0.0');
    const port = web.port;
    dns = await startDnsServer();
    dns.setA('public.test', ['127.0.0.1']);
    dns.setA('intranet.test', ['127.0.0.2']);

    t = createTestService({
      DNS_SERVERS: dns.servers.join(','),
      DENY_TARGETS: '127.0.0.2/32,10.0.0.0/8',
      ALLOW_TARGETS: '127.0.0.1/32',
      ALERT_TO: 'ops@example.com',
    });
    const create = async (name: string, url: string) => {
      const res = await t!.call('POST', '/api/sites', { name, url, paused: true, failureThreshold: 1 });
      // A name is not an address: creation accepts it; the policy applies to what it resolves to.
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as number;
    };
    const allowed = await create('public', `http://public.test:${port}/`);
    const denied = await create('intranet', `http://intranet.test:${port}/secret`);
    const redirected = await create('redirected', `http://public.test:${port}/redirect`);

    const round = async (id: number) => {
      const res = await t!.call('POST', `/api/sites/${id}/check`);
      expect(res.status).toBe(200);
      expect(res.body.checks).toHaveLength(1);
      return res.body.checks[0] as Check;
    };

    const ok = await round(allowed);
    expect(ok.outcome).toBe('ok');
    expect(ok.address).toBe('127.0.0.1');
    expect(requests).toBe(1);

    const blocked = await round(denied);
    expect(blocked.outcome).toBe('blocked');
    expect(blocked.addresses).toEqual(['127.0.0.2']);
    expect(blocked.errorMessage).toMatch(/127\.0\.0\.2.*DENY_TARGETS/);
    expect(requests).toBe(1); // no connection was made

    const hop = await round(redirected);
    expect(hop.outcome).toBe('blocked');
    expect(hop.errorMessage).toMatch(/127\.0\.0\.2.*DENY_TARGETS/);
    // The first hop was fetched; the denied one never was.
    expect(hits).toEqual([`public.test:${port}/`, `public.test:${port}/redirect`]);

    // The checks are stored as blocked, and the incident (threshold 1) says it is the policy, not "unknown".
    const stored = (await t.call('GET', `/api/sites/${denied}/checks`)).body.checks as Check[];
    expect(stored.map((c) => c.outcome)).toEqual(['blocked']);
    for (const id of [denied, redirected]) {
      const [incident] = await waitFor(async () => (await t!.call('GET', `/api/incidents?siteId=${id}&state=open`)).body.incidents, { message: `incident of site ${id}` });
      expect(incident.kind).toBe('blocked');
      const detail = (await t.call('GET', `/api/incidents/${incident.id}`)).body;
      expect(detail.causes.length).toBeGreaterThan(0);
      expect(detail.failedChecks).toBeGreaterThan(0);
    }
    expect((await t.call('GET', `/api/incidents?siteId=${allowed}`)).body.incidents).toEqual([]);
  });

  it('an IP literal in a denied range is refused at creation (400), one in an allowed range accepted', async () => {
    t = createTestService({ DENY_TARGETS: '127.0.0.2/32', ALLOW_TARGETS: '127.0.0.1/32' });
    const denied = await t.call('POST', '/api/sites', { name: 'literal', url: 'http://127.0.0.2:8080/', paused: true });
    expect(denied.status).toBe(400);
    expect(denied.body.error.details).toEqual([{ field: 'url', message: expect.stringMatching(/127\.0\.0\.2.*DENY_TARGETS.*remove it from DENY_TARGETS/) }]);
    const upstream = await t.call('POST', '/api/sites', { name: 'up', url: 'http://127.0.0.1:8080/', upstreams: [{ name: 'a', url: 'http://[::ffff:127.0.0.2]:81/' }], paused: true });
    expect(upstream.status).toBe(400);
    expect(upstream.body.error.details.map((d: { field: string }) => d.field)).toEqual(['upstreams.0.url']);
    const metadata = await t.call('POST', '/api/sites', { name: 'metadata', url: 'http://169.254.169.254/latest/meta-data/', paused: true });
    expect(metadata.status).toBe(400);
    const fine = await t.call('POST', '/api/sites', { name: 'fine', url: 'http://127.0.0.1:8080/', paused: true });
    expect(fine.status).toBe(201);
  });
});
