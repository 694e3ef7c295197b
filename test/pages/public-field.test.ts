import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, type TestService } from '../support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('the site field public', () => {
  it('defaults to true, is changed by PATCH, and hides a site from the anonymous status', async () => {
    t = createTestService();
    const shown = await t.call('POST', '/api/sites', { name: 'shop', url: 'http://127.0.0.1:9/' });
    expect(shown.status).toBe(201);
    expect(shown.body.public).toBe(true);
    const hidden = await t.call('POST', '/api/sites', { name: 'admin', url: 'http://127.0.0.1:9/admin', public: false });
    expect(hidden.body.public).toBe(false);

    const anonymous = await t.call('GET', '/api/status', undefined, { token: null });
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.total).toBe(1);
    expect(anonymous.body.sites.map((s: any) => s.name)).toEqual(['shop']);
    expect((await t.call('GET', `/api/status/${hidden.body.id}`, undefined, { token: null })).status).toBe(404);

    const full = await t.call('GET', '/api/status');
    expect(full.body.sites.map((s: any) => s.name)).toEqual(['shop', 'admin']);
    expect((await t.call('GET', `/api/status/${hidden.body.id}`)).status).toBe(200);

    const patched = await t.call('PATCH', `/api/sites/${hidden.body.id}`, { public: true });
    expect(patched.body.public).toBe(true);
    const after = await t.call('GET', '/api/status', undefined, { token: null });
    expect(after.body.sites.map((s: any) => s.name)).toEqual(['shop', 'admin']);

    const bad = await t.call('PATCH', `/api/sites/${hidden.body.id}`, { public: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('public');
  });
});
