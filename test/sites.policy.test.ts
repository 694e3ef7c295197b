/**
 * The target policy at the door: a site or upstream URL whose host is an IP literal in a denied
 * range is a 400 at creation (and on change), naming the field and how to allow it (issue 14).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('sites: IP literals the target policy refuses', () => {
  it('the metadata address as the site url: 400 naming url and ALLOW_TARGETS; nothing created', async () => {
    t = createTestService();
    const res = await t.call('POST', '/api/sites', { name: 'meta', url: 'http://169.254.169.254/latest/' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation.failed');
    expect(res.body.error.details).toEqual([{ field: 'url', message: expect.stringMatching(/169\.254\.169\.254.*cloud metadata.*ALLOW_TARGETS/) }]);
    expect((await t.call('GET', '/api/sites')).body.sites).toEqual([]);
  });

  it('an upstream in link-local or IPv6 link-local: 400 naming upstreams.N.url; on PATCH too', async () => {
    t = createTestService();
    const bad = await t.call('POST', '/api/sites', {
      name: 'shop',
      url: 'http://127.0.0.1:9/',
      upstreams: [{ name: 'a', url: 'http://127.0.0.1:8080/' }, { name: 'b', url: 'http://[fe80::1]:8080/' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: any) => d.field)).toEqual(['upstreams.1.url']);
    expect(bad.body.error.message).toMatch(/upstreams\.1\.url: .*fe80::1.*link-local/);

    const ok = await t.call('POST', '/api/sites', { name: 'shop', url: 'http://127.0.0.1:9/' });
    expect(ok.status).toBe(201);
    const patch = await t.call('PATCH', `/api/sites/${ok.body.id}`, { url: 'http://169.254.1.1/' });
    expect(patch.status).toBe(400);
    expect(patch.body.error.details[0].field).toBe('url');
  });

  it('allowed by ALLOW_TARGETS: created; a DENY_TARGETS entry says to remove it from there', async () => {
    t = createTestService({ ALLOW_TARGETS: '169.254.10.0/24', DENY_TARGETS: '10.9.0.0/16' });
    expect((await t.call('POST', '/api/sites', { name: 'lab', url: 'http://169.254.10.10/' })).status).toBe(201);
    const denied = await t.call('POST', '/api/sites', { name: 'x', url: 'http://10.9.1.1/' });
    expect(denied.status).toBe(400);
    expect(denied.body.error.details[0].message).toMatch(/DENY_TARGETS/);
    // A name is judged when it resolves, by the probe, not here.
    expect((await t.call('POST', '/api/sites', { name: 'named', url: 'http://metadata.example.test/' })).status).toBe(201);
  });
});
