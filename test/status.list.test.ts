/**
 * `GET /api/status` as bytes over a real socket: the answer is copied from the entries the status
 * service keeps rendered into one buffer, so its length, its UTF-8 (names beyond ASCII), the
 * envelope and what the anonymous variant leaves out are checked on the wire; and the cached
 * entries stay cached when only columns the list does not show are written.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';

let t: TestService | undefined;
let server: ServerType | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  await t?.close();
  t = undefined;
});

const listen = async (svc: TestService) => {
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: svc.svc.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/** One GET, the raw bytes kept: what a client that does not trust our Content-Length would see. */
const get = async (url: string, token: string | null) => {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), bytes, body: JSON.parse(bytes.toString('utf8')) };
};

describe('GET /api/status on the wire', () => {
  it('sends the list as exact UTF-8 with its length, the whole and a page, with and without the token', async () => {
    t = createTestService();
    const api = await listen(t);

    const empty = await get(`${api}/api/status`, TEST_TOKEN);
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ total: 0, offset: 0, sites: [] });
    expect(Number(empty.length)).toBe(empty.bytes.length);

    // Names of one, two, three and four UTF-8 bytes a character, and one private site.
    const names = ['plain', 'café', '店舗-東京', 'rocket 🚀 "quoted" \\ back'];
    const ids: number[] = [];
    for (const [i, name] of names.entries()) {
      const res = await t.call('POST', '/api/sites', { name, url: `http://127.0.0.1:9/${i}`, public: i !== 1 });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }

    const full = await get(`${api}/api/status`, TEST_TOKEN);
    expect(full.status).toBe(200);
    expect(full.type).toMatch(/^application\/json/);
    expect(Number(full.length)).toBe(full.bytes.length);
    expect(full.body.total).toBe(4);
    expect(full.body.offset).toBe(0);
    expect(typeof full.body.generatedAt).toBe('number');
    expect(full.body.sites.map((s: { name: string }) => s.name)).toEqual(names);
    expect(full.body.sites.map((s: { url: string }) => s.url)).toEqual(names.map((_, i) => `http://127.0.0.1:9/${i}`));
    // Each entry is what GET /api/status/:id says, without the upstreams.
    for (const entry of full.body.sites) {
      const { upstreams: _upstreams, ...one } = (await t.call('GET', `/api/status/${entry.id}`)).body;
      expect(entry).toEqual(one);
    }

    const anonymous = await get(`${api}/api/status`, null);
    expect(Number(anonymous.length)).toBe(anonymous.bytes.length);
    expect(anonymous.body.total).toBe(3);
    expect(anonymous.body.sites.map((s: { name: string }) => s.name)).toEqual([names[0], names[2], names[3]]);
    expect(anonymous.bytes.toString('utf8')).not.toContain('127.0.0.1');

    // A page counts every site, not only the page's.
    const page = await get(`${api}/api/status?limit=2&offset=1`, TEST_TOKEN);
    expect(Number(page.length)).toBe(page.bytes.length);
    expect(page.body).toMatchObject({ total: 4, offset: 1 });
    expect(page.body.sites.map((s: { id: number }) => s.id)).toEqual(ids.slice(1, 3));
    const anonymousPage = await get(`${api}/api/status?limit=5&offset=2`, null);
    expect(anonymousPage.body).toMatchObject({ total: 3, offset: 2 });
    expect(anonymousPage.body.sites.map((s: { id: number }) => s.id)).toEqual([ids[3]]);
  });

  it('lists the sites there are now after creations, deletions and changes of public, by the API or not', async () => {
    t = createTestService();
    const create = async (name: string) => (await t!.call('POST', '/api/sites', { name, url: 'http://127.0.0.1:9/' })).body.id as number;
    const read = async (token?: null) => {
      const body = (await t!.call('GET', '/api/status', undefined, { token })).body;
      return { total: body.total as number, names: (body.sites as { name: string }[]).map((s) => s.name) };
    };
    const a = await create('a');
    const b = await create('b');
    expect(await read()).toEqual({ total: 2, names: ['a', 'b'] });
    expect(await read(null)).toEqual({ total: 2, names: ['a', 'b'] });

    const c = await create('c');
    expect(await read(null)).toEqual({ total: 3, names: ['a', 'b', 'c'] });
    expect((await t.call('PATCH', `/api/sites/${b}`, { public: false })).status).toBe(200);
    expect(await read(null)).toEqual({ total: 2, names: ['a', 'c'] });
    expect(await read()).toEqual({ total: 3, names: ['a', 'b', 'c'] });
    expect((await t.call('DELETE', `/api/sites/${a}`)).status).toBe(204);
    expect(await read()).toEqual({ total: 2, names: ['b', 'c'] });
    expect(await read(null)).toEqual({ total: 1, names: ['c'] });
    expect(t.svc.status.publicCount()).toBe(1);

    // Written outside the API, and a write rolled back after a read inside its transaction.
    t.svc.db.$client.prepare('UPDATE sites SET public = 1 WHERE id = ?').run(b);
    expect(await read(null)).toEqual({ total: 2, names: ['b', 'c'] });
    t.svc.db.$client.exec('BEGIN');
    t.svc.db.$client.prepare('UPDATE sites SET public = 0 WHERE id = ?').run(c);
    expect(await read(null)).toEqual({ total: 1, names: ['b'] });
    t.svc.db.$client.exec('ROLLBACK');
    expect(await read(null)).toEqual({ total: 2, names: ['b', 'c'] });
  });

  it('keeps the rendered entries when only columns the list does not show are written (the round marks of every site)', async () => {
    t = createTestService();
    for (let i = 0; i < 6; i++) expect((await t.call('POST', '/api/sites', { name: `s${i}`, url: `http://127.0.0.1:9/${i}` })).status).toBe(201);
    const list = async (token?: null) => (await t!.call('GET', '/api/status', undefined, { token })).body.sites as { id: number; name: string }[];
    await list();
    await list(null);
    const rendered = t.svc.status.cacheStats().renders;
    expect(t.svc.status.cacheStats().cached).toBe(12);

    // What the recorder's sweep of round marks writes, for every site at once.
    t.svc.db.$client.prepare('UPDATE sites SET last_round_at = ?, updated_at = updated_at').run(Date.now());
    await list();
    await list(null);
    expect(t.svc.status.cacheStats().renders).toBe(rendered);

    // A column the list shows, written the same way: that one site is rendered again, in each variant.
    const [first] = await list();
    t.svc.db.$client.prepare('UPDATE sites SET name = ? WHERE id = ?').run('renamed', first.id);
    expect((await list()).find((s) => s.id === first.id)?.name).toBe('renamed');
    expect((await list(null)).find((s) => s.id === first.id)?.name).toBe('renamed');
    expect(t.svc.status.cacheStats().renders).toBe(rendered + 2);
  });

  it('keeps a read list warm for twice the time between its last two reads, from 1 to 5 minutes: changes are rendered ahead only while a reader is likely back', async () => {
    // Only performance.now() is faked: the background timer and SQLite run for real.
    vi.useFakeTimers({ toFake: ['performance'] });
    t = createTestService();
    const site = (await t.call('POST', '/api/sites', { name: 'warm', url: 'http://127.0.0.1:9/' })).body as { id: number };
    const read = async () => expect((await t!.call('GET', '/api/status')).status).toBe(200);
    const rename = async (name: string) => expect((await t!.call('PATCH', `/api/sites/${site.id}`, { name })).status).toBe(200);
    const stats = () => t!.svc.status.cacheStats();

    await read();
    expect(stats().warmForMs.full).toBe(60_000); // a first read tells no pace
    await rename('warm-1');
    await vi.waitFor(() => expect(stats()).toMatchObject({ waiting: 0, backgroundRenders: 1 }), { timeout: 10_000 });

    // Past the minute: a change waits for the next read instead of being rendered for nobody.
    vi.advanceTimersByTime(61_000);
    await rename('warm-2');
    // The background timer sees no warm list and stops, without rendering the change.
    await vi.waitFor(() => expect(stats().refreshing).toBe(false), { timeout: 10_000 });
    expect(stats().backgroundRenders).toBe(1);

    // A reader back after 61 s: warm for about 122 s (plus the real time the test took), so a
    // change 100 s later is rendered ahead.
    await read();
    expect(stats().warmForMs.full).toBeGreaterThanOrEqual(122_000);
    expect(stats().warmForMs.full).toBeLessThan(140_000);
    vi.advanceTimersByTime(100_000);
    await rename('warm-3');
    await vi.waitFor(() => expect(stats()).toMatchObject({ waiting: 0, backgroundRenders: 2 }), { timeout: 10_000 });
    expect((await t.call('GET', '/api/status')).body.sites[0].name).toBe('warm-3');
    // Never more than 5 minutes, however slow the reader.
    vi.advanceTimersByTime(3_600_000);
    await read();
    expect(stats().warmForMs.full).toBe(300_000);
  });
});
