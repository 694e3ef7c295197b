/**
 * The operator's console in a real browser (Debian's Chromium through playwright-core), against a
 * running Gatewatch on a loopback port: sign-in (wrong token refused, right token in, sign-out),
 * adding a site through the form and seeing it, the API's validation wording on the form, a POST
 * without the CSRF token refused, pause / resume / check now / delete, and the pages with
 * STATUS_PUBLIC=false.
 *
 * Needs chromium (CI: `apt-get install -y chromium`); without it this file fails.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, foreignRequests, launchBrowser, newPage, screenshot, seriousViolations, serveApp, type ServedApp } from '../support/browser.js';
import { startHealthyServer, type TestServer } from '../support/http-servers.js';
import { createTestService, TEST_TOKEN, type TestService } from '../support/service.js';

let browser: Browser;
let target: TestServer;
let t: TestService;
let server: ServedApp;

beforeAll(async () => {
  browser = await launchBrowser();
  target = await startHealthyServer();
  t = createTestService();
  t.svc.scheduler.start();
  server = await serveApp(t.svc.app);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await browser?.close();
  await t?.close();
  await target?.close();
});

async function signIn(page: Page, token = TEST_TOKEN) {
  await page.goto(`${server.url}/app`);
  await page.waitForURL('**/app/sign-in**');
  await page.fill('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

describe('the console in a browser', () => {
  it('refuses a wrong token, lets the right one in with a strict HttpOnly cookie, and signs out', async () => {
    const page = await newPage(browser);
    const foreign = foreignRequests(page, server.url);
    await page.goto(`${server.url}/app`);
    await page.waitForURL('**/app/sign-in?next=%2Fapp');
    expect(await page.locator('h1').textContent()).toBe('Sign in');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'sign-in');

    await page.fill('#token', 'not-the-token-at-all');
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/app/sign-in') && r.request().method() === 'POST'), page.click('button[type=submit]')]);
    expect(refused.status()).toBe(401);
    expect(await page.locator('.errors').textContent()).toContain('That token is not valid.');
    expect((await page.context().cookies()).some((c) => c.name === 'gw_session')).toBe(false);

    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/app`), page.click('button[type=submit]')]);
    expect(await page.locator('h1').textContent()).toBe('Sites');
    const session = (await page.context().cookies()).find((c) => c.name === 'gw_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });

    await Promise.all([page.waitForURL('**/app/sign-in?done=signedout'), page.click('nav button:has-text("Sign out")')]);
    expect(await page.locator('.notice').textContent()).toBe('You are signed out.');
    await page.goto(`${server.url}/app`);
    expect(new URL(page.url()).pathname).toBe('/app/sign-in');
    expect(foreign).toEqual([]);
    await closePage(page);
  });

  it('adds a site through the form (with the API error wording first), shows it, checks, pauses, resumes and deletes it', async () => {
    const page = await newPage(browser);
    const foreign = foreignRequests(page, server.url);
    await signIn(page);
    await page.click('a.button:has-text("Add a site")');
    await page.waitForURL('**/app/sites/new');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'console-add-site');

    // Bad input: the same words as the JSON API gives for the same body.
    await page.fill('#name', 'web');
    await page.fill('#url', target.url);
    await page.fill('#intervalSeconds', '0');
    const [bad] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button:has-text("Add site")')]);
    expect(bad.status()).toBe(400);
    const api = await t.call('POST', '/api/sites', { name: 'web', url: target.url, intervalSeconds: 0 });
    expect(api.status).toBe(400);
    const apiError = api.body.error.details.find((d: any) => d.field === 'intervalSeconds');
    expect(apiError.message.length).toBeGreaterThan(0);
    expect(await page.locator('.errors li').allTextContents()).toEqual([`intervalSeconds: ${apiError.message}`]);
    expect(await page.inputValue('#name')).toBe('web');
    expect(await seriousViolations(page)).toEqual([]);

    await page.fill('#intervalSeconds', '30');
    await page.fill('#upstreams', `web-1 ${target.url}health`);
    await Promise.all([page.waitForURL(/\/app\/sites\/\d+\?done=created$/), page.click('button:has-text("Add site")')]);
    const id = Number(/sites\/(\d+)/.exec(page.url())![1]);
    expect(await page.locator('h1').textContent()).toBe('web');
    const stored = (await t.call('GET', `/api/sites/${id}`)).body;
    expect(stored).toMatchObject({ name: 'web', url: target.url, intervalSeconds: 30, public: true, upstreams: [{ name: 'web-1', url: `${target.url}health` }] });
    // No alert emails and no ALERT_TO: the site's page says so, in the words the API's answers carry.
    const warned = (await t.call('PATCH', `/api/sites/${id}`, { name: 'web' })).body.warnings as { code: string; message: string }[];
    expect(warned.map((w) => w.code)).toEqual(['alerts.no_recipients']);
    expect(await page.locator('.warnings li').allTextContents()).toEqual(warned.map((w) => `${w.code}: ${w.message}`));

    await Promise.all([page.waitForURL(/done=checked$/), page.click('button:has-text("Check now")')]);
    expect(await page.locator('figure svg[role="img"]').count()).toBe(2);
    expect(await page.locator('section[aria-labelledby="up-h"] li').textContent()).toMatch(/web-1 .*✓ up/);
    expect(await seriousViolations(page)).toEqual([]);

    await page.goto(`${server.url}/app`);
    const row = page.locator('tbody tr', { hasText: 'web' });
    expect(await row.count()).toBe(1);
    expect(await row.locator('.badge').textContent()).toBe('Up');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'console-sites');

    await page.goto(`${server.url}/app/sites/${id}`);
    await Promise.all([page.waitForURL(/done=paused$/), page.click('button:has-text("Pause")')]);
    expect(await page.locator('.badge').first().textContent()).toBe('Paused');
    expect((await t.call('GET', `/api/sites/${id}`)).body.paused).toBe(true);
    await Promise.all([page.waitForURL(/done=resumed$/), page.click('button:has-text("Resume")')]);
    expect((await t.call('GET', `/api/sites/${id}`)).body.paused).toBe(false);

    await page.click('a.button:has-text("Edit")');
    await page.waitForURL(`**/app/sites/${id}/edit`);
    await page.fill('#name', 'web shop');
    await page.uncheck('input[name=public]');
    await Promise.all([page.waitForURL(/done=saved$/), page.click('button:has-text("Save changes")')]);
    expect((await t.call('GET', `/api/sites/${id}`)).body).toMatchObject({ name: 'web shop', public: false, intervalSeconds: 30 });

    await page.check('input[name=confirm]');
    await Promise.all([page.waitForURL(/\/app\?done=deleted$/), page.click('button:has-text("Delete site")')]);
    expect((await t.call('GET', `/api/sites/${id}`)).status).toBe(404);
    expect(await page.locator('tbody tr', { hasText: 'web shop' }).count()).toBe(0);
    expect(foreign).toEqual([]);
    await closePage(page);
  });

  it('edits webhooks (secret write-only), the gateway log and maintenance windows with the API wording', async () => {
    const created = await t.call('POST', '/api/sites', {
      name: 'hooks',
      url: target.url,
      webhooks: [{ url: 'https://hooks.example.com/old', format: 'json', secret: 'old-secret-value' }],
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const page = await newPage(browser);
    const foreign = foreignRequests(page, server.url);
    await signIn(page);
    await page.goto(`${server.url}/app/sites/${id}/edit`);
    expect(await page.inputValue('#webhooks')).toBe('https://hooks.example.com/old json');
    expect(await page.inputValue('#webhookSecret')).toBe('');

    // A window that ends before it starts: the API's wording, and the secret typed is not sent back.
    await page.fill('#webhooks', 'https://hooks.example.com/old json\nhttps://chat.example.com/in slack');
    await page.fill('#webhookSecret', 'new-secret-value');
    await page.fill('#gatewayLogPath', '/var/log/nginx/error.log');
    await page.selectOption('#gatewayLogFormat', 'nginx');
    await page.fill('#maintenance', '2026-12-25T02:00:00Z 2026-12-24T22:00:00Z database upgrade');
    const refused = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.click('button:has-text("Save changes")');
    expect((await refused).status()).toBe(400);
    await page.waitForSelector('#maintenance-error');
    expect(await page.textContent('#maintenance-error')).toContain('maintenance.0.to: to must be after from');
    expect(await page.content()).not.toContain('new-secret-value');
    expect(await page.content()).not.toContain('old-secret-value');
    expect(await page.inputValue('#webhookSecret')).toBe('');
    expect(await page.inputValue('#gatewayLogPath')).toBe('/var/log/nginx/error.log');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'console-edit-site');

    await page.fill('#webhookSecret', 'new-secret-value');
    await page.fill('#maintenance', '2026-12-24T22:00:00Z 2026-12-25T02:00:00Z database upgrade');
    await Promise.all([page.waitForURL(/done=saved$/), page.click('button:has-text("Save changes")')]);
    const site = (await t.call('GET', `/api/sites/${id}`)).body;
    expect(site.webhooks).toEqual([
      { url: 'https://hooks.example.com/old', format: 'json', hasSecret: true },
      { url: 'https://chat.example.com/in', format: 'slack', hasSecret: true },
    ]);
    expect(site.gatewayLog).toEqual({ path: '/var/log/nginx/error.log', format: 'nginx' });
    expect(site.maintenance).toEqual([{ from: Date.parse('2026-12-24T22:00:00Z'), to: Date.parse('2026-12-25T02:00:00Z'), reason: 'database upgrade' }]);
    const stored = t.svc.sites.get(id)!.webhooks;
    expect(stored.map((w) => w.secret)).toEqual(['old-secret-value', 'new-secret-value']);

    // Removing a webhook and the log: the lines go, the log fields are emptied.
    await page.goto(`${server.url}/app/sites/${id}/edit`);
    await page.fill('#webhooks', 'https://chat.example.com/in slack');
    await page.fill('#gatewayLogPath', '');
    await page.selectOption('#gatewayLogFormat', '');
    await Promise.all([page.waitForURL(/done=saved$/), page.click('button:has-text("Save changes")')]);
    expect((await t.call('GET', `/api/sites/${id}`)).body).toMatchObject({ webhooks: [{ url: 'https://chat.example.com/in', hasSecret: true }], gatewayLog: null });
    expect(foreign).toEqual([]);
    await closePage(page);
  });

  it('refuses a site, upstream or webhook URL the target policy denies, with the API wording beside the field; the input stays, the secret does not', async () => {
    const page = await newPage(browser);
    const foreign = foreignRequests(page, server.url);
    await signIn(page);
    const before = (await t.call('GET', '/api/sites')).body.sites.length;
    /** The API's detail for the same body, as the form must show it: `field: message`. */
    const apiSays = async (method: 'POST' | 'PATCH', path: string, body: Record<string, unknown>, field: string) => {
      const res = await t.call(method, path, body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      const detail = res.body.error.details.find((d: { field: string }) => d.field === field);
      expect(detail?.message).toMatch(/target policy/);
      return `${field}: ${detail.message}`;
    };
    const save = async (label: string) => {
      const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click(`button:has-text("${label}")`)]);
      return res.status();
    };

    // The site's URL: the cloud metadata address.
    await page.goto(`${server.url}/app/sites/new`);
    await page.fill('#name', 'metadata');
    await page.fill('#url', 'http://169.254.169.254/latest/meta-data/');
    await page.fill('#upstreams', `app-1 ${target.url}health`);
    expect(await save('Add site')).toBe(400);
    const urlWords = await apiSays('POST', '/api/sites', { name: 'metadata', url: 'http://169.254.169.254/latest/meta-data/' }, 'url');
    expect(urlWords).toMatch(/^url: the target policy refuses it: 169\.254\.169\.254 is a cloud metadata endpoint .*; to monitor it, add it \(or its range\) to ALLOW_TARGETS$/);
    expect(await page.textContent('#url-error')).toBe(urlWords);
    expect(await page.locator('.errors li').allTextContents()).toEqual([urlWords]);
    expect(await page.getAttribute('#url', 'aria-invalid')).toBe('true');
    expect(await page.inputValue('#name')).toBe('metadata');
    expect(await page.inputValue('#url')).toBe('http://169.254.169.254/latest/meta-data/');
    expect(await page.inputValue('#upstreams')).toBe(`app-1 ${target.url}health`);
    expect(await seriousViolations(page)).toEqual([]);

    // An upstream in the link-local range: the error sits beside the upstreams.
    await page.fill('#url', target.url);
    await page.fill('#upstreams', `app-1 ${target.url}health\napp-2 http://169.254.10.10:8080/health`);
    expect(await save('Add site')).toBe(400);
    const upstreamWords = await apiSays(
      'POST',
      '/api/sites',
      { name: 'metadata', url: target.url, upstreams: [{ name: 'app-1', url: `${target.url}health` }, { name: 'app-2', url: 'http://169.254.10.10:8080/health' }] },
      'upstreams.1.url',
    );
    expect(await page.textContent('#upstreams-error')).toBe(upstreamWords);
    expect(await page.inputValue('#upstreams')).toBe(`app-1 ${target.url}health\napp-2 http://169.254.10.10:8080/health`);
    expect((await t.call('GET', '/api/sites')).body.sites.length).toBe(before);

    // A webhook on a link-local IPv6 address, added in an edit with a secret: refused, the secret not sent back.
    await page.fill('#upstreams', `app-1 ${target.url}health`);
    await Promise.all([page.waitForURL(/done=created$/), page.click('button:has-text("Add site")')]);
    const id = Number(/sites\/(\d+)/.exec(page.url())![1]);
    await page.goto(`${server.url}/app/sites/${id}/edit`);
    await page.fill('#webhooks', 'https://hooks.example.com/gw json\nhttp://[fe80::1]:8080/hook json');
    await page.fill('#webhookSecret', 'typed-secret-value');
    expect(await save('Save changes')).toBe(400);
    const hookWords = await apiSays(
      'PATCH',
      `/api/sites/${id}`,
      { webhooks: [{ url: 'https://hooks.example.com/gw', format: 'json' }, { url: 'http://[fe80::1]:8080/hook', format: 'json' }] },
      'webhooks.1.url',
    );
    expect(hookWords).toMatch(/^webhooks\.1\.url: blocked by the target policy: .*link-local address/);
    expect(await page.textContent('#webhooks-error')).toBe(hookWords);
    expect(await page.inputValue('#webhooks')).toBe('https://hooks.example.com/gw json\nhttp://[fe80::1]:8080/hook json');
    expect(await page.inputValue('#webhookSecret')).toBe('');
    expect(await page.content()).not.toContain('typed-secret-value');
    expect((await t.call('GET', `/api/sites/${id}`)).body.webhooks).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    expect(foreign).toEqual([]);
    await closePage(page);
  });

  it('limits failed sign-ins per client: the sixth in a minute gets 429 (its own service, so its limit binds no other test)', async () => {
    const own = createTestService();
    const served = await serveApp(own.svc.app);
    const page = await newPage(browser);
    try {
      await page.goto(`${served.url}/app/sign-in`);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        await page.fill('#token', `wrong-${i}`);
        const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
        statuses.push(res.status());
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
      expect(await page.locator('.errors').textContent()).toMatch(/Too many failed attempts\. Try again in \d+ s\./);
      // Even the right token waits now.
      await page.fill('#token', TEST_TOKEN);
      const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
      expect(res.status()).toBe(429);
    } finally {
      await closePage(page);
      await served.close();
      await own.close();
    }
  });

  it('refuses a POST without the CSRF token, even with a valid session cookie', async () => {
    const page = await newPage(browser);
    await signIn(page);
    const before = (await t.call('GET', '/api/sites')).body.sites.length;
    const res = await page.request.post(`${server.url}/app/sites`, { form: { name: 'forged', url: target.url } });
    expect(res.status()).toBe(403);
    expect(await res.text()).toContain('CSRF');
    const wrong = await page.request.post(`${server.url}/app/sites`, { form: { name: 'forged', url: target.url, _csrf: 'x'.repeat(32) } });
    expect(wrong.status()).toBe(403);
    expect((await t.call('GET', '/api/sites')).body.sites.length).toBe(before);
    await closePage(page);
  });
});

describe('the pages with STATUS_PUBLIC=false', () => {
  it('sends a visitor of / and /incidents/:id to sign in first, and shows the page after', async () => {
    const closed = createTestService({ STATUS_PUBLIC: 'false' });
    const served = await serveApp(closed.svc.app);
    const page = await newPage(browser);
    try {
      await closed.call('POST', '/api/sites', { name: 'intranet', url: target.url });
      const anonymous = await fetch(`${served.url}/`, { redirect: 'manual' });
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toBe('/app/sign-in?next=%2F');
      expect((await fetch(`${served.url}/incidents/1`, { redirect: 'manual' })).status).toBe(303);

      await page.goto(`${served.url}/`);
      expect(new URL(page.url()).pathname).toBe('/app/sign-in');
      await page.fill('#token', TEST_TOKEN);
      await Promise.all([page.waitForURL(`${served.url}/`), page.click('button[type=submit]')]);
      expect(await page.locator('h1').textContent()).toBe('Service status');
      expect(await page.locator('section.card h3').allTextContents()).toEqual(['intranet']);
      const res = await page.request.get(`${served.url}/`);
      expect(res.headers()['cache-control']).toBe('private, no-cache');
      expect(await seriousViolations(page)).toEqual([]);
    } finally {
      await closePage(page);
      await served.close();
      await closed.close();
    }
  });
});
