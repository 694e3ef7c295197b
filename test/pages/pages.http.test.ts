/**
 * How the pages answer over HTTP, in-process: ETag and a 304 for a conditional request, the
 * Cache-Control of each audience, compressed bodies, the pages' own CSP with a served stylesheet,
 * and clear 4xx pages for bad input.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, TEST_TOKEN, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function withSites(n: number) {
  t = createTestService();
  for (let i = 0; i < n; i++) expect((await t.call('POST', '/api/sites', { name: `site-${i}`, url: `http://127.0.0.1:9/${i}` })).status).toBe(201);
  return t;
}

describe('pages over HTTP', () => {
  it('answers / with an ETag, and 304 to a request that has it', async () => {
    const svc = await withSites(2);
    const first = await svc.svc.app.request('/');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(first.headers.get('cache-control')).toBe('public, max-age=0, must-revalidate');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await svc.svc.app.request('/', { headers: { 'If-None-Match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    // A change to what the page shows changes its tag.
    await svc.call('PATCH', '/api/sites/1', { name: 'renamed' });
    const changed = await svc.svc.app.request('/', { headers: { 'If-None-Match': etag! } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('answers If-None-Match: * with a 304 on the pages and on the stylesheet and script, which carry an ETag too', async () => {
    const svc = await withSites(2);
    const star = await svc.svc.app.request('/', { headers: { 'If-None-Match': '*' } });
    expect(star.status).toBe(304);
    expect(star.headers.get('etag')).toMatch(/^"[\w-]{22}"$/);
    const html = await (await svc.svc.app.request('/')).text();
    const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets).toHaveLength(2);
    for (const path of assets) {
      const first = await svc.svc.app.request(path);
      expect(first.status).toBe(200);
      const body = await first.text();
      expect(body.length).toBeGreaterThan(500);
      expect(first.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const etag = first.headers.get('etag');
      expect(etag).toMatch(/^"[\w-]{22}"$/);
      for (const match of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
        const again = await svc.svc.app.request(path, { headers: { 'If-None-Match': match } });
        expect(again.status).toBe(304);
        expect(await again.text()).toBe('');
        expect(again.headers.get('etag')).toBe(etag);
      }
      expect((await svc.svc.app.request(path, { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
      const br = await svc.svc.app.request(path, { headers: { 'Accept-Encoding': 'br' } });
      expect(br.headers.get('content-encoding')).toBe('br');
      expect(brotliDecompressSync(Buffer.from(await br.arrayBuffer())).toString('utf8')).toBe(body);
    }
  });

  it('says when the incident history is cut at its 200 incidents, and not before', async () => {
    const svc = await withSites(1);
    const insert = svc.svc.db.$client.prepare(
      `INSERT INTO incidents (site_id, state, kind, kinds, opened_at, first_failure_at, resolved_at, failed_checks, good_streak, causes, timeline, silenced, updated_at)
       VALUES (1, 'resolved', 'bad_gateway', '["bad_gateway"]', ?, ?, ?, 3, 2, '[]', '[]', 0, ?)`,
    );
    const now = Date.now();
    const addIncidents = (n: number, from: number) => {
      for (let i = 0; i < n; i++) {
        const at = now - (from + i + 1) * 600_000;
        insert.run(at, at, at + 60_000, at + 60_000);
      }
    };
    addIncidents(200, 0);
    const full = await (await svc.svc.app.request('/')).text();
    expect(full.match(/class="card incident resolved"/g)).toHaveLength(200);
    expect(full).not.toContain('history-truncated');
    addIncidents(1, 200);
    const cut = await (await svc.svc.app.request('/')).text();
    expect(cut.match(/class="card incident resolved"/g)).toHaveLength(200);
    expect(cut).toContain('Only the latest 200 incidents are listed; older ones of the last 90 days are left out.');
  });

  it('lists an old incident that is still open, however many newer ones were resolved since', async () => {
    const svc = await withSites(1);
    const now = Date.now();
    const insert = svc.svc.db.$client.prepare(
      `INSERT INTO incidents (site_id, state, kind, kinds, opened_at, first_failure_at, resolved_at, failed_checks, good_streak, causes, timeline, silenced, updated_at)
       VALUES (1, ?, 'bad_gateway', '["bad_gateway"]', ?, ?, ?, 3, 2, '[]', '[]', 0, ?)`,
    );
    const opened = now - 30 * 86_400_000;
    insert.run('open', opened, opened, null, opened);
    for (let i = 0; i < 210; i++) {
      const at = now - (i + 1) * 600_000;
      insert.run('resolved', at, at, at + 60_000, at + 60_000);
    }
    const html = await (await svc.svc.app.request('/')).text();
    expect(html.match(/class="card incident open"/g)).toHaveLength(1);
    expect(html.match(/class="card incident resolved"/g)).toHaveLength(200);
  });

  it("brings a past day's new figures onto a site's bars by the next hour (past days are kept for the hour)", async () => {
    const HOUR = 3_600_000;
    const clock = { at: Date.UTC(2026, 11, 5, 10, 30), now: () => clock.at };
    t = createTestService({}, { clock });
    expect((await t.call('POST', '/api/sites', { name: 'shop', url: 'http://127.0.0.1:9/' })).status).toBe(201);
    const bars = async () => /<ol class="bars"[^>]*>(.*?)<\/ol>/s.exec(await (await t!.svc.app.request('/')).text())![1];
    expect(await bars()).not.toContain('class=warn');
    // Yesterday noon, as the recorder writes a closed hour: 3 of 60 checks failed.
    const yesterday = Date.UTC(2026, 11, 4);
    t.svc.db.$client.transaction(() =>
      t!.svc.rollups.writeHours([{ siteId: 1, target: 'site', bucket: yesterday + 12 * HOUR, count: 60, okCount: 57, failures: { bad_gateway: 3 }, latencySumMs: 57 * 20, latencyHist: [0, 0, 57] }]),
    )();
    clock.at += HOUR;
    const next = await bars();
    expect(next).toContain('class=warn><span>4 Dec 2026: 95 % up');
  });

  it('compresses with brotli or gzip as the client accepts, and says so', async () => {
    const svc = await withSites(20);
    const plain = await (await svc.svc.app.request('/')).text();
    const br = await svc.svc.app.request('/', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('vary')).toContain('Accept-Encoding');
    const brBytes = Buffer.from(await br.arrayBuffer());
    expect(brBytes.length).toBeLessThan(plain.length / 5);
    expect(brotliDecompressSync(brBytes).toString('utf8')).toBe(plain);
    const gz = await svc.svc.app.request('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString('utf8')).toBe(plain);
  });

  it("sets the pages' own CSP (a served stylesheet and live-refresh script, no other host) and keeps the API's", async () => {
    const svc = await withSites(1);
    const res = await svc.svc.app.request('/');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    const href = /<link rel="stylesheet" href="([^"]+)"/.exec(html)![1];
    expect(href).toMatch(/^\/assets\/gatewatch\.[0-9a-f]{10}\.css$/);
    const css = await svc.svc.app.request(href);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toContain('immutable');
    expect(html).not.toMatch(/https?:\/\/(?!127)/);
    // The one script is the optional live refresh, served from here; the CSP allows no other.
    expect(csp).toContain("script-src 'self'");
    const scripts = [...html.matchAll(/<script[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toHaveLength(1);
    const src = /src="([^"]+)"/.exec(scripts[0])![1];
    expect(src).toMatch(/^\/assets\/gatewatch-live\.[0-9a-f]{10}\.js$/);
    const js = await svc.svc.app.request(src);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('If-None-Match');
    const api = await svc.call('GET', '/api/status', undefined, { token: null });
    expect(api.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(api.headers.get('cache-control')).toBe('no-store');
  });

  it('serves a page of more than 200 sites from its last build at once, and brings a change in with a background build', async () => {
    const svc = await withSites(201);
    const page = async () => (await svc.svc.app.request('/')).text();
    const first = await page();
    expect(first.match(/<section class="card"/g)?.length).toBe(201);
    expect((await svc.call('PATCH', '/api/sites/7', { name: 'renamed-seven' })).status).toBe(200);
    // The next answer is the last build (a new one is made in the background, not while the request waits)...
    expect(await page()).not.toContain('renamed-seven');
    // ...and a later one has the change.
    const later = await waitFor(async () => {
      const html = await page();
      return html.includes('renamed-seven') ? html : null;
    }, { timeoutMs: 20_000, intervalMs: 200, message: 'the renamed site on the page' });
    expect(later.match(/<section class="card"/g)?.length).toBe(201);
    expect(later).not.toContain('>site-6<');
  });

  it('answers bad ids and unknown incidents with a 404 page, and never lists a private site', async () => {
    const svc = await withSites(1);
    await svc.call('POST', '/api/sites', { name: 'hidden-one', url: 'http://127.0.0.1:9/h', public: false });
    for (const path of ['/incidents/abc', '/incidents/0', '/incidents/99999999999999999999', '/incidents/5']) {
      const res = await svc.svc.app.request(path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).toContain('Incident not found');
    }
    expect(await (await svc.svc.app.request('/')).text()).not.toContain('hidden-one');
    // The console needs a session: a GET is sent to sign in, a POST refused.
    const get = await svc.svc.app.request('/app/sites/1');
    expect(get.status).toBe(303);
    expect(get.headers.get('location')).toBe('/app/sign-in?next=%2Fapp%2Fsites%2F1');
    const post = await svc.svc.app.request('/app/sites', { method: 'POST', body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(401);
  });

  it('marks the session cookie Secure when the request came over HTTPS (X-Forwarded-Proto), and not otherwise', async () => {
    const svc = await withSites(0);
    const signIn = async (headers: Record<string, string>) => {
      const form = await svc.svc.app.request('/app/sign-in', { headers });
      const pre = /gw_signin=([^;]+)/.exec(form.headers.get('set-cookie') ?? '')![1];
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
      expect(csrf).toBe(pre);
      const res = await svc.svc.app.request('/app/sign-in', {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', cookie: `gw_signin=${pre}` },
        body: new URLSearchParams({ _csrf: csrf, token: TEST_TOKEN, next: '/app' }).toString(),
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/app');
      return res.headers.getSetCookie().find((c) => c.startsWith('gw_session='))!;
    };
    const plain = await signIn({});
    expect(plain).toMatch(/HttpOnly/);
    expect(plain).toMatch(/SameSite=Strict/);
    expect(plain).not.toMatch(/Secure/);
    expect(await signIn({ 'x-forwarded-proto': 'https' })).toMatch(/; Secure/);
    // A sign-in form without its own cookie (a forged cross-site POST) is refused.
    const forged = await svc.svc.app.request('/app/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: 'a'.repeat(32), token: TEST_TOKEN }).toString(),
    });
    expect(forged.status).toBe(403);
  });
});
