/**
 * The public pages in a real browser (Debian's Chromium through playwright-core): three public
 * sites watched by a running Gatewatch, one up, one degraded (an upstream refuses), one behind a
 * real nginx whose upstream is stopped (502, an open incident), plus a private site that must not
 * show. Past days come from hour rollups written to the rollup table as housekeeping writes them.
 *
 * Needs nginx and chromium (CI: `apt-get install -y nginx chromium`); without them it fails.
 */
import type { Browser, Page } from 'playwright-core';
import type { RollupAcc } from '../../src/checks/rollups.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../e2e/lab.js';
import { closePage, foreignRequests, launchBrowser, newPage, screenshot, seriousViolations, serveApp, type ServedApp } from '../support/browser.js';
import { getRefusingPort, startHealthyServer, type TestServer } from '../support/http-servers.js';
import { TEST_TOKEN } from '../support/service.js';
import { waitFor } from '../support/wait.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let browser: Browser;
let lab: Lab;
let server: ServedApp;
const helpers: TestServer[] = [];
let incidentId: number;

/** Past days of a site as the recorder leaves them: hour rollups (days not folded yet are summed from them). */
function seedPastDays(l: Lab, siteId: number, days: number, failuresOn: Record<number, number>) {
  const now = Date.now();
  const hourStart = Math.floor(now / HOUR) * HOUR;
  const today = Math.floor(now / DAY) * DAY;
  const rows: RollupAcc[] = [];
  const hour = (bucket: number, count: number, okCount: number, failures: RollupAcc['failures'], latencySumMs: number, latencyHist: number[]) =>
    rows.push({ siteId, target: 'site', bucket, count, okCount, failures, latencySumMs, latencyHist });
  for (let d = days; d >= 1; d--) {
    const failed = failuresOn[d] ?? 0;
    const hist = Array.from({ length: 10 }, (_, i) => (i === 9 ? 60 - failed : 0));
    hour(today - d * DAY + 12 * HOUR, 60, 60 - failed, failed ? { bad_gateway: failed } : {}, (60 - failed) * 40, hist);
  }
  // The last 23 full hours, for the response-time chart: 30 to 52 ms.
  for (let h = 23; h >= 1; h--) {
    const latency = 30 + ((h * 7) % 23);
    const hist = Array.from({ length: 32 }, () => 0);
    hist[latency <= 38 ? 9 : 10] = 60;
    hour(hourStart - h * HOUR, 60, 60, {}, 60 * latency, hist);
  }
  rows.sort((a, b) => a.bucket - b.bucket);
  l.t.svc.db.$client.transaction(() => l.t.svc.rollups.writeHours(rows))();
}

/** A resolved incident of a past day, as the recorder leaves one. */
function seedPastIncident(l: Lab, siteId: number, daysAgo: number) {
  const at = Math.floor(Date.now() / DAY) * DAY - daysAgo * DAY + 9 * HOUR;
  const cause = { code: 'overload', confidence: 0.8, summary: 'upstream app-1 at 10.0.0.5 slowed down', evidence: ['ttfb 40 ms -> 2.1 s'], advice: ['add capacity'] };
  l.t.svc.db.$client
    .prepare(
      `INSERT INTO incidents (site_id, state, kind, kinds, opened_at, first_failure_at, resolved_at, failed_checks, good_streak, causes, timeline, silenced, updated_at)
       VALUES (?, 'resolved', 'bad_gateway', '["bad_gateway"]', ?, ?, ?, 9, 2, ?, ?, 0, ?)`,
    )
    .run(
      siteId,
      at + 120_000,
      at,
      at + 1_500_000,
      JSON.stringify([cause]),
      JSON.stringify([
        { at, type: 'first_failure', message: 'first failure: nginx answered 502 at 10.0.0.5' },
        { at: at + 120_000, type: 'opened', message: 'opened after 3 failed checks' },
        { at: at + 1_500_000, type: 'resolved', message: 'resolved' },
      ]),
      at + 1_500_000,
    );
}

beforeAll(async () => {
  browser = await launchBrowser();
  lab = await startLab();
  const healthy = await startHealthyServer();
  const refusing = await getRefusingPort();
  helpers.push(healthy, refusing);
  const add = async (body: Record<string, unknown>) => {
    const res = await lab.t.call('POST', '/api/sites', { intervalSeconds: 1, timeoutMs: 2000, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const api = await add({ name: 'api', url: healthy.url });
  const search = await add({ name: 'search', url: `${healthy.url}search`, upstreams: [{ name: 'search-1', url: refusing.url }] });
  await add({ name: 'admin (private)', url: `${healthy.url}admin`, public: false });
  seedPastDays(lab, api.id, 89, { 12: 3, 40: 1 });
  seedPastIncident(lab, api.id, 12);
  server = await serveApp(lab.t.svc.app);

  await lab.waitForRounds(3, (c) => c.outcome === 'ok');
  await lab.upstream.stop();
  incidentId = (await lab.waitForOpenIncident()).id;
  const state = async (id: number) => (await lab.t.call('GET', `/api/sites/${id}`)).body.state;
  await waitFor(async () => (await state(api.id)) === 'up' && (await state(search.id)) === 'degraded', { timeoutMs: 20_000, message: 'api up and search degraded' });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await browser?.close();
  await lab?.close();
  for (const h of helpers) await h.close();
});

async function open(path: string): Promise<{ page: Page; foreign: string[]; status: number }> {
  const page = await newPage(browser);
  const foreign = foreignRequests(page, server.url);
  const res = await page.goto(server.url + path);
  return { page, foreign, status: res?.status() ?? 0 };
}

describe('the public status page in a browser', () => {
  it('shows each public site with its state, 90 day bars, uptime and the open 502 with its cause; nothing internal', async () => {
    const { page, foreign, status } = await open('/');
    expect(status).toBe(200);
    await expect(page.locator('h1').textContent()).resolves.toBe('Service status');
    const cards = page.locator('section.card');
    const names = await cards.locator('h3').allTextContents();
    expect(names).toEqual(['shop', 'api', 'search']);

    const card = (name: string) => page.locator('section.card', { has: page.locator('h3', { hasText: new RegExp(`^${name}$`) }) });
    await expect(card('shop').locator('.badge').textContent()).resolves.toBe('Down');
    await expect(card('api').locator('.badge').textContent()).resolves.toBe('Up');
    await expect(card('search').locator('.badge').textContent()).resolves.toBe('Degraded');
    await expect(page.locator('.banner').textContent()).resolves.toContain('Partial outage');

    // 90 days per site, alike quiet days in a row drawn as one wider bar (w<n>) that says so;
    // today's bar of shop marks the incident, and says so on hover and as text.
    const daysDrawn = (classes: (string | null)[]) => classes.reduce((n, c) => n + Number(/\bw(\d+)\b/.exec(c ?? '')?.[1] ?? 1), 0);
    for (const name of names) {
      const bars = card(name).locator('ol.bars > li');
      const classes = await bars.evaluateAll((els) => els.map((e) => e.getAttribute('class')));
      expect(daysDrawn(classes)).toBe(90);
      expect(classes.length).toBeLessThan(90);
    }
    expect(await card('api').locator('ol.bars > li[class*=" w"]').first().locator('span').textContent()).toMatch(
      /^\d+ \w{3} \d{4} – \d+ \w{3} \d{4}: \d+ days, no (problems|checks)$/,
    );
    const today = card('shop').locator('ol.bars > li').last();
    expect(await today.getAttribute('class')).toBe('bad');
    await today.hover();
    const tip = today.locator('span');
    await expect(tip.isVisible()).resolves.toBe(true);
    expect(await tip.textContent()).toMatch(/incident: 502 Bad Gateway, cause: an application server behind the gateway is down/);
    // A past day with failures is listed in words, and the 90-day figure counts it.
    const apiDays = card('api').locator('details li');
    expect(await apiDays.count()).toBeGreaterThanOrEqual(2);
    expect(await apiDays.allTextContents()).toContainEqual(expect.stringMatching(/: 95 % up; incident: 502 Bad Gateway, cause: the servers are overloaded/));
    expect(await card('api').locator('.figures').textContent()).toMatch(/90 days: 99\.\d+ %/);

    // The open incident names its cause in plain words; the latency chart has a text alternative.
    const ongoing = page.locator('section[aria-labelledby="open-h"] article');
    expect(await ongoing.count()).toBe(1);
    expect(await ongoing.textContent()).toContain('Probable cause: an application server behind the gateway is down.');
    expect(await card('api').locator('svg[role="img"]').getAttribute('aria-label')).toMatch(/response time per hour, last 24 hours: average \d+ ms/);
    expect(await page.locator('section[aria-labelledby="history-h"] article').count()).toBe(1);

    const html = await page.content();
    expect(html).not.toContain('admin (private)');
    for (const internal of ['127.0.0.1', 'e2e.test', 'http://', 'app-1', '10.0.0.5', 'ECONNREFUSED']) expect(html, internal).not.toContain(internal);
    expect(foreign).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'status-page');
    await closePage(page);
  });

  it('tells the story of the incident in plain words, without addresses or error text', async () => {
    const { page, foreign, status } = await open('/');
    expect(status).toBe(200);
    await page.locator(`a[href="/incidents/${incidentId}"]`).first().click();
    await page.waitForURL(`**/incidents/${incidentId}`);
    expect(await page.locator('h1').textContent()).toBe('shop: 502 Bad Gateway');
    expect(await page.locator('.banner').textContent()).toMatch(/^Ongoing for \d+/);
    const facts = await page.locator('dl.facts').textContent();
    expect(facts).toContain('Probable cause');
    expect(facts).toContain('an application server behind the gateway is down');
    const steps = await page.locator('ol.timeline li').allTextContents();
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps[0]).toMatch(/UTC · First failed check$/);
    expect(steps[1]).toMatch(/UTC · Incident opened$/);
    const html = await page.content();
    for (const internal of ['127.0.0.1', 'e2e.test', 'http://', 'app-1', 'nginx answered']) expect(html, internal).not.toContain(internal);
    expect(foreign).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'incident-page');
    await closePage(page);

    // The private site's incidents are not public: a 404 page, not a story.
    const missing = await open('/incidents/999999');
    expect(missing.status).toBe(404);
    expect(await missing.page.locator('h1').textContent()).toBe('Incident not found');
    expect(await seriousViolations(missing.page)).toEqual([]);
    await closePage(missing.page);
  });

  it('refreshes itself (optional script, every 30 s with If-None-Match) and shows a state change without a reload, keeping open details open and focus in place', async () => {
    const page = await newPage(browser);
    await page.clock.install();
    await page.goto(`${server.url}/`);
    const card = page.locator('section.card', { has: page.locator('h3', { hasText: /^search$/ }) });
    expect(await card.locator('.badge').textContent()).toBe('Degraded');
    await page.evaluate(() => ((globalThis as unknown as { stayed: boolean }).stayed = true));
    // A keyboard user opens api's "days with problems" and stays on its summary.
    const problems = page.locator('section.card', { has: page.locator('h3', { hasText: /^api$/ }) }).locator('details');
    const problemsId = await problems.getAttribute('id');
    expect(problemsId).toMatch(/^problems-\d+$/);
    await problems.locator('summary').focus();
    await page.keyboard.press('Enter');
    expect(await problems.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(true);
    const oldMain = await page.evaluateHandle('document.querySelector("main")');
    const search = ((await lab.t.call('GET', '/api/sites')).body.sites as { id: number; name: string }[]).find((x) => x.name === 'search')!;
    expect((await lab.t.call('PATCH', `/api/sites/${search.id}`, { paused: true })).status).toBe(200);
    try {
      const asked = page.waitForResponse((r) => r.url() === `${server.url}/` && r.request().method() === 'GET');
      await page.clock.fastForward(31_000);
      await asked;
      await waitFor(async () => (await card.locator('.badge').textContent()) === 'Paused', { timeoutMs: 10_000, message: 'search shown paused' });
      expect(await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed)).toBe(true);
      // <main> was swapped, yet the details are still open and focus is on the same summary.
      expect(await oldMain.evaluate((m) => (m as unknown as { isConnected: boolean }).isConnected)).toBe(false);
      expect(await problems.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(true);
      expect(await page.evaluate('document.activeElement?.tagName')).toBe('SUMMARY');
      expect(await page.evaluate('document.activeElement?.closest("details")?.id')).toBe(problemsId);
    } finally {
      await lab.t.call('PATCH', `/api/sites/${search.id}`, { paused: false });
      await closePage(page);
    }
  });

  it("shows the operator the incident's full evidence and advice after signing in", async () => {
    const { page } = await open(`/app/incidents/${incidentId}`);
    await page.waitForURL('**/app/sign-in**');
    await page.fill('#token', TEST_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`**/app/incidents/${incidentId}`);
    expect(await page.locator('h1').textContent()).toBe(`Incident #${incidentId}: shop, 502 Bad Gateway`);
    const first = page.locator('section[aria-labelledby="causes-h"] section.card').first();
    expect(await first.locator('code').textContent()).toBe('upstream_down');
    expect(await first.locator('ul.mono li').count()).toBeGreaterThan(0);
    expect(await first.locator('ol li').count()).toBeGreaterThan(0);
    expect(await page.locator('ol.timeline').textContent()).toContain('first failure');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'console-incident');

    await page.goto(`${server.url}/app/sites/${lab.site.id}`);
    expect(await page.locator('h1').textContent()).toBe('shop');
    const charts = page.locator('figure svg[role="img"]');
    expect(await charts.count()).toBe(2);
    expect(await charts.first().getAttribute('aria-label')).toMatch(/DNS, connect, TLS, waiting and download/);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'console-site');
    await closePage(page);
  });
});
