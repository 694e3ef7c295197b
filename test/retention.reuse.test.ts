import { afterEach, describe, expect, it } from 'vitest';
import type { NewCheckRow } from '../src/checks/checks.table.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { createTestService, type TestService } from './support/service.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('storage at retention', () => {
  it('stays the same size once raw retention is reached: pruned pages are taken again by new checks', async () => {
    const start = Date.UTC(2026, 5, 1);
    const clock = { at: start, now: () => clock.at };
    t = createTestService({ RETENTION_RAW_HOURS: '1' }, { clock });
    const sqlite = t.svc.db.$client;
    const sites: SiteView[] = [];
    for (let i = 0; i < 10; i++) {
      const body = (await t.call('POST', '/api/sites', { name: `s${i}`, url: `http://127.0.0.1:9/${i}`, upstreams: [{ name: 'app', url: `http://127.0.0.2:9/${i}` }] })).body;
      sites.push(t.svc.sites.get(body.id as number)!);
    }
    const check = (siteId: number, target: string, name: string, at: number, k: number): NewCheckRow => ({
      siteId, target, targetName: name, startedAt: at, outcome: 'ok', statusCode: 200, addresses: ['127.0.0.1'], address: '127.0.0.1',
      dnsMs: 1, connectMs: 1, ttfbMs: 2 + (k % 5), totalMs: 3 + (k % 5),
    });
    let k = 0;
    /** One round of every site per minute, housekeeping after each minute (as its cron runs it), up to `until`. */
    const runUntil = async (until: number) => {
      while (clock.at < until) {
        const at = clock.at;
        const rounds: RoundResult[] = sites.map((site) => ({
          site,
          startedAt: at,
          checks: [check(site.id, 'site', site.name, at, k++), ...site.upstreams.map((u) => check(site.id, String(u.id), u.name, at, k++))],
        }));
        clock.at = at + MINUTE;
        t!.svc.recorder.record(rounds);
        await t!.svc.housekeeping.runOnce();
      }
    };
    // What the raw checks occupy (rows, their chunks and dictionary), and the free pages.
    const rawPages = () => {
      sqlite.pragma('wal_checkpoint(TRUNCATE)');
      const { pages } = sqlite
        .prepare(
          "SELECT COUNT(*) AS pages FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name IN ('raw_checks', 'check_chunks', 'check_details'))",
        )
        .get() as { pages: number };
      return { pages, free: sqlite.pragma('freelist_count', { simple: true }) as number, rows: (sqlite.prepare('SELECT COUNT(*) AS n FROM raw_checks').get() as { n: number }).n };
    };

    // Past the retention and the chunks' write delay: from here on every minute prunes as much as it adds.
    await runUntil(start + 2 * HOUR);
    const atRetention = rawPages();
    await runUntil(start + 5 * HOUR);
    const later = rawPages();

    // An hour and a minute of checks are kept (the pruned minute goes at the next run), 20 targets a minute.
    expect(later.rows).toBeLessThanOrEqual(20 * 62);
    expect(later.rows).toBe(atRetention.rows);
    // Three more hours of checks (3,600 rows, about 30 pages of them) took no new pages: the ones pruning freed were reused.
    expect(later.pages).toBeLessThanOrEqual(atRetention.pages + 1);
    expect(later.free).toBeLessThanOrEqual(atRetention.free + 4);
    const total = sqlite.pragma('page_count', { simple: true }) as number;
    expect(later.pages).toBeLessThan(total);
  });
});
