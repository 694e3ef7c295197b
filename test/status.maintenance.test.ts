/**
 * `maintenance` in the status answers: the same fact with and without the token (the reason only
 * with it), windows that follow on counted as one, and a list entry that follows the clock, not
 * only the rows (the list keeps entries rendered until a site changes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, type TestService } from './support/service.js';

const HOUR = 3_600_000;
let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('maintenance in the status API', () => {
  it('says which site is in maintenance until when, anonymously and with the token, and stops saying it when the window ends', async () => {
    const clock = { at: Date.UTC(2026, 11, 5, 12), now: () => clock.at };
    t = createTestService({}, { clock });
    const now = clock.at;
    const shop = await t.call('POST', '/api/sites', {
      name: 'shop',
      url: 'http://127.0.0.1:9/',
      // Two windows that follow on without a gap, and one later that does not touch them.
      maintenance: [
        { from: now - HOUR, to: now + HOUR, reason: 'database upgrade' },
        { from: now + HOUR, to: now + 2 * HOUR },
        { from: now + 5 * HOUR, to: now + 6 * HOUR },
      ],
    });
    expect(shop.status).toBe(201);
    const blog = await t.call('POST', '/api/sites', { name: 'blog', url: 'http://127.0.0.1:9/blog' });
    const shopId = shop.body.id as number;

    const anonymous = await t.call('GET', '/api/status', undefined, { token: null });
    expect(anonymous.status).toBe(200);
    const entry = (body: any, id: number) => body.sites.find((s: { id: number }) => s.id === id);
    expect(entry(anonymous.body, shopId).maintenance).toEqual({ from: now - HOUR, until: now + 2 * HOUR });
    expect(entry(anonymous.body, blog.body.id).maintenance).toBeNull();
    expect(JSON.stringify(anonymous.body)).not.toContain('database upgrade');

    const full = await t.call('GET', '/api/status');
    expect(entry(full.body, shopId).maintenance).toEqual({ from: now - HOUR, until: now + 2 * HOUR, reason: 'database upgrade' });
    expect(entry(full.body, blog.body.id).maintenance).toBeNull();

    const one = await t.call('GET', `/api/status/${shopId}`, undefined, { token: null });
    expect(one.body.maintenance).toEqual({ from: now - HOUR, until: now + 2 * HOUR });
    expect((await t.call('GET', `/api/status/${shopId}`)).body.maintenance).toEqual({ from: now - HOUR, until: now + 2 * HOUR, reason: 'database upgrade' });

    // Past the end: no site row changed, yet the (cached) list entries say so at once.
    clock.at = now + 2 * HOUR;
    expect(entry((await t.call('GET', '/api/status', undefined, { token: null })).body, shopId).maintenance).toBeNull();
    expect(entry((await t.call('GET', '/api/status')).body, shopId).maintenance).toBeNull();
    expect((await t.call('GET', `/api/status/${shopId}`)).body.maintenance).toBeNull();
    // The next window, without a reason.
    clock.at = now + 5 * HOUR;
    expect(entry((await t.call('GET', '/api/status')).body, shopId).maintenance).toEqual({ from: now + 5 * HOUR, until: now + 6 * HOUR });

    // An edit that ends the maintenance shows at once too.
    expect((await t.call('PATCH', `/api/sites/${shopId}`, { maintenance: [] })).status).toBe(200);
    expect(entry((await t.call('GET', '/api/status', undefined, { token: null })).body, shopId).maintenance).toBeNull();
  });
});
