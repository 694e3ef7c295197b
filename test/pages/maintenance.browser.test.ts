/**
 * A site in a maintenance window now, in a real browser (Debian's Chromium through
 * playwright-core): the public page says so on its card and in a banner, a past maintenance day
 * reads as maintenance (not an outage) on the bars and in the legend, and the console's list and
 * site page show it with the reason; axe finds nothing serious on any of them.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchBrowser, newPage, screenshot, seriousViolations, serveApp, type ServedApp } from '../support/browser.js';
import { createTestService, TEST_TOKEN, type TestService } from '../support/service.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let browser: Browser;
let t: TestService;
let server: ServedApp;
let shopId: number;
let until: number;
let pastDay: number;

beforeAll(async () => {
  browser = await launchBrowser();
  t = createTestService();
  const now = Date.now();
  until = Math.floor(now / HOUR) * HOUR + 3 * HOUR;
  pastDay = Math.floor(now / DAY) * DAY - 3 * DAY;
  const shop = await t.call('POST', '/api/sites', {
    name: 'shop',
    url: 'http://127.0.0.1:9/',
    maintenance: [
      { from: pastDay + 2 * HOUR, to: pastDay + 4 * HOUR, reason: 'kernel update' },
      // Begun today (not before midnight), so that exactly two days are maintenance days.
      { from: Math.max(now - HOUR, Math.floor(now / DAY) * DAY), to: until, reason: 'database upgrade' },
    ],
  });
  expect(shop.status).toBe(201);
  shopId = shop.body.id;
  expect((await t.call('POST', '/api/sites', { name: 'blog', url: 'http://127.0.0.1:9/blog' })).status).toBe(201);
  server = await serveApp(t.svc.app);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await browser?.close();
  await t?.close();
});

const cardOf = (page: Page, name: string) => page.locator('section.card', { has: page.locator(`h3:text-is("${name}")`) });
const untilWords = () => {
  const d = new Date(until);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `until ${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
};

describe('a site in maintenance, in a browser', () => {
  it('is shown on the public page: a badge in words on its card, a banner, and maintenance days that are not outages', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.url}/`);
    const shop = cardOf(page, 'shop');
    expect(await shop.locator('.badge.maint').textContent()).toBe(`In maintenance ${untilWords()}`);
    expect(await cardOf(page, 'blog').locator('.badge.maint').count()).toBe(0);
    const banner = page.locator('.banner.maint');
    expect(await banner.textContent()).toBe(`Planned maintenance (not an outage): shop ${untilWords()}.`);
    // No check has run: the sites wait for their first, and shop's maintenance makes no outage of it.
    expect(await page.locator('p.banner[role=status]').textContent()).toBe('Waiting for the first checks');
    // The past maintenance day and today are their own bars, said in words; no other bar is.
    const maintBars = shop.locator('ol.bars li.maint');
    expect(await maintBars.count()).toBe(2);
    expect(await maintBars.first().locator('span').textContent()).toMatch(/: planned maintenance \(not an outage\); no checks$/);
    expect(await cardOf(page, 'blog').locator('ol.bars li.maint').count()).toBe(0);
    expect(await shop.locator('details').count()).toBe(0);
    expect(await page.locator('ul.legend').textContent()).toContain('Planned maintenance, not an outage');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'status-maintenance');
    await closePage(page);
  });

  it('is shown in the console: on the site list and on the site page, with its reason', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.url}/app`);
    await page.waitForURL('**/app/sign-in**');
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/app`), page.click('button[type=submit]')]);
    const row = page.locator('tbody tr', { has: page.locator('a:text-is("shop")') });
    expect(await row.locator('.badge.maint').textContent()).toBe(`In maintenance ${untilWords()}`);
    expect(await page.locator('tbody tr', { has: page.locator('a:text-is("blog")') }).locator('.badge.maint').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);

    await page.goto(`${server.url}/app/sites/${shopId}`);
    expect(await page.locator('.site-head .badge.maint').textContent()).toBe(`In maintenance ${untilWords()}`);
    expect(await page.locator('.banner.maint').textContent()).toContain(`${untilWords()}: database upgrade. Incidents opened now are recorded, not alerted.`);
    expect(await seriousViolations(page)).toEqual([]);
    await closePage(page);
  });
});
