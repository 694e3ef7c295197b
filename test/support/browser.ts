/**
 * Headless Chromium (Debian's, /usr/bin/chromium) driven by playwright-core, for the pages'
 * tests; an app served on a loopback port; the accessibility check; screenshots for the README.
 *
 *   const browser = await launchBrowser();            // one per test file, reused by its tests
 *   const server = await serveApp(t.svc.app);         // http://127.0.0.1:PORT
 *   const page = await browser.newPage();
 *   await page.goto(server.url + '/');
 *   expect(await seriousViolations(page)).toEqual([]);
 *   await screenshot(page, 'status-page');            // docs/screenshots/status-page.png
 */
import { serve } from '@hono/node-server';
import { AxeBuilder } from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page in its own context (own cookies; axe needs a context made by newContext). Close it with closePage. */
export async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  return context.newPage();
}

export const closePage = (page: Page) => page.context().close();

export interface ServedApp {
  url: string;
  close(): Promise<void>;
}

/** Serves a Hono app on 127.0.0.1 and a free port, as main.ts does. */
export async function serveApp(app: { fetch: (request: Request, env?: any) => Response | Promise<Response> }): Promise<ServedApp> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** axe-core's serious and critical violations of the page as it is now (id: what, where). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}

export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');

/** Saves the whole page as docs/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Records every request the page makes that is not to `origin`. */
export function foreignRequests(page: Page, origin: string): string[] {
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  return foreign;
}
