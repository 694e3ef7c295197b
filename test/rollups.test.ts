import { afterEach, describe, expect, it } from 'vitest';
import { KEY_SPAN } from '../src/checks/rollups.repository.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { createTestService, type TestService } from './support/service.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STEP = 10 * 60_000;

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const check = (siteId: number, target: string, at: number, outcome: 'ok' | 'bad_gateway' = 'ok', ttfbMs = 20) => ({
  siteId,
  target,
  targetName: target,
  startedAt: at,
  outcome,
  statusCode: outcome === 'ok' ? 200 : 502,
  errorMessage: outcome === 'ok' ? null : 'HTTP 502',
  addresses: ['127.0.0.1'],
  address: '127.0.0.1',
  dnsMs: 0,
  connectMs: 1,
  tlsMs: null,
  ttfbMs,
  totalMs: ttfbMs + 1,
  gateway: null,
});

/** A site with one upstream (never probed: rounds are recorded by hand) and a fake clock. */
async function setup(env: Record<string, string> = {}, start: number) {
  const clock = { at: start, now: () => clock.at };
  t = createTestService(env, { clock });
  const make = async (name: string) => {
    const site = (await t!.call('POST', '/api/sites', { name, url: 'http://127.0.0.1:9/', upstreams: [{ name: 'u', url: 'http://127.0.0.1:9/' }] })).body;
    return { id: site.id as number, up: String(site.upstreams[0].id) };
  };
  const round = (site: { id: number; up: string }, at: number, outcome: 'ok' | 'bad_gateway' = 'ok'): RoundResult => ({
    site: t!.svc.sites.get(site.id)!,
    startedAt: at,
    checks: [check(site.id, 'site', at, outcome), check(site.id, site.up, at, 'ok', 40)],
  });
  return { clock, make, round, svc: t.svc };
}

const count = (sql: string, ...args: unknown[]) => (t!.svc.db.$client.prepare(sql).get(...args) as { n: number }).n;

describe('uptime from the rollups', () => {
  it('answers per hour and per day, with failures, latency and the worst incident of the day', async () => {
    const day0 = Date.UTC(2026, 0, 10);
    const { clock, make, round, svc } = await setup({}, day0);
    const a = await make('a');
    // Two days of rounds every 10 minutes; three 502s in a row at 06:00 open an incident that the next good rounds resolve.
    for (let at = day0; at < day0 + 2 * DAY; at += STEP) {
      clock.at = at;
      const bad = at >= day0 + 6 * HOUR && at < day0 + 6 * HOUR + 3 * STEP;
      svc.recorder.record([round(a, at, bad ? 'bad_gateway' : 'ok')]);
    }
    const incidents = (await t!.call('GET', `/api/incidents?siteId=${a.id}`)).body.incidents;
    expect(incidents).toHaveLength(1);
    clock.at = day0 + 2 * DAY + 10 * 60_000;
    svc.recorder.record([round(a, clock.at)]);
    await svc.housekeeping.runOnce();
    expect(count('SELECT COUNT(*) AS n FROM rollup_days')).toBe(4);

    const days = await t!.call('GET', `/api/sites/${a.id}/uptime?from=${day0}&to=${day0 + 2 * DAY}&granularity=day`);
    expect(days.status).toBe(200);
    expect(days.body).toMatchObject({ siteId: a.id, granularity: 'day', from: day0, to: day0 + 2 * DAY });
    expect(days.body.buckets).toHaveLength(2);
    const [d0, d1] = days.body.buckets;
    expect(d0).toMatchObject({ start: day0, checks: 144, ok: 141, failures: { bad_gateway: 3 } });
    expect(d0.uptime).toBeCloseTo((141 / 144) * 100, 2);
    expect(d0.worstIncident).toEqual({ id: incidents[0].id, kind: 'bad_gateway', cause: incidents[0].causes[0]?.code ?? null });
    expect(d0.worstIncident.cause).toEqual(expect.any(String));
    expect(d0.latencyMs.p50).toBeGreaterThanOrEqual(20);
    expect(d0.latencyMs.avg).toBe(20);
    expect(d1).toMatchObject({ start: day0 + DAY, checks: 144, ok: 144, uptime: 100, failures: {}, worstIncident: null });

    // Hours: the 06:00 hour holds the failures; the current hour (not written yet) comes from the raw checks.
    const hours = await t!.call('GET', `/api/sites/${a.id}/uptime?from=${day0 + 5 * HOUR}&to=${day0 + 7 * HOUR}&granularity=hour`);
    expect(hours.body.buckets.map((b: { checks: number; ok: number }) => [b.checks, b.ok])).toEqual([
      [6, 6],
      [6, 3],
    ]);
    expect(hours.body.buckets[1].worstIncident?.id).toBe(incidents[0].id);
    const now = await t!.call('GET', `/api/sites/${a.id}/uptime?granularity=hour`);
    expect(now.body.buckets.at(-1)).toMatchObject({ start: day0 + 2 * DAY, checks: 1, ok: 1 });
    // Today (no day row yet) is summed from its hours.
    const today = await t!.call('GET', `/api/sites/${a.id}/uptime?from=${day0 + DAY}&to=${clock.at}`);
    expect(today.body.buckets.map((b: { checks: number }) => b.checks)).toEqual([144, 1]);
    const upstream = await t!.call('GET', `/api/sites/${a.id}/uptime?from=${day0}&to=${day0 + DAY}&target=${a.up}`);
    expect(upstream.body.buckets[0]).toMatchObject({ checks: 144, ok: 144, worstIncident: null });
    expect(upstream.body.buckets[0].latencyMs.avg).toBe(40);
  });

  it("gives a card's days and hours together as the two series would, and counts no hour that starts after now", async () => {
    const day0 = Date.UTC(2026, 0, 10);
    const { clock, make, round, svc } = await setup({}, day0 - DAY);
    const a = await make('a');
    // Yesterday and today until 05:30, with a 502 at 03:00 today; then a round stamped two hours ahead (a clock that jumped).
    for (let at = day0 - DAY; at <= day0 + 5 * HOUR + 30 * 60_000; at += STEP) {
      clock.at = at;
      svc.recorder.record([round(a, at, at === day0 + 3 * HOUR ? 'bad_gateway' : 'ok')]);
    }
    const now = day0 + 5 * HOUR + 35 * 60_000;
    clock.at = now;
    svc.recorder.record([round(a, now + 2 * HOUR)]);

    const recent = svc.rollups.recentSeries(a.id, { now, days: 3 });
    const hourFrom = day0 + 5 * HOUR - 23 * HOUR;
    expect(recent).toEqual({
      days: svc.rollups.uptimeSeries(a.id, { from: day0 - 2 * DAY, to: day0 + DAY, granularity: 'day', now }),
      hours: svc.rollups.uptimeSeries(a.id, { from: hourFrom, to: hourFrom + 24 * HOUR, granularity: 'hour', now }),
    });
    const [before, yesterday, today] = recent.days;
    expect(before).toMatchObject({ start: day0 - 2 * DAY, checks: 0, uptime: null });
    expect(yesterday).toMatchObject({ start: day0 - DAY, checks: 144, ok: 144 });
    // 00:00 to 05:30 every 10 minutes: 34 rounds, the current hour (05:00) read from the raw checks.
    expect(today).toMatchObject({ start: day0, checks: 34, ok: 33, failures: { bad_gateway: 1 } });
    const todayHours = recent.hours.filter((h) => h.start >= day0);
    expect(todayHours.reduce((n, h) => n + h.checks, 0)).toBe(34);
    expect(recent.hours.at(-1)).toMatchObject({ start: day0 + 5 * HOUR, checks: 4 });
    // Without `now`, the round stamped ahead is counted in its hour; with it, that hour is empty.
    const ahead = { from: day0 + 7 * HOUR, to: day0 + 8 * HOUR, granularity: 'hour' as const };
    expect(svc.rollups.uptimeSeries(a.id, ahead)[0].checks).toBe(1);
    expect(svc.rollups.uptimeSeries(a.id, { ...ahead, now })[0].checks).toBe(0);
    expect(svc.rollups.uptimeSeries(a.id, { from: day0, to: day0 + DAY, granularity: 'day' })[0].checks).toBe(35);
  });

  it('rejects a bad query with a 400 naming the parameter, an unknown site with a 404, no token with a 401', async () => {
    const { make } = await setup({}, Date.UTC(2026, 0, 10));
    const a = await make('a');
    const bad = async (query: string, field: string) => {
      const res = await t!.call('GET', `/api/sites/${a.id}/uptime?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation.failed');
      expect(res.body.error.message).toContain(field);
    };
    await bad('granularity=week', 'granularity');
    await bad('from=20&to=10', 'from');
    await bad('from=abc', 'from');
    await bad('from=0&to=1767225600000&granularity=hour', 'from');
    await bad('target=nope', 'target');
    await bad('target=99999', 'target');
    await bad('color=red', 'color');
    const missing = await t!.call('GET', '/api/sites/99999/uptime');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('sites.not_found');
    expect((await t!.call('GET', `/api/sites/${a.id}/uptime`, undefined, { token: null })).status).toBe(401);
    const empty = await t!.call('GET', `/api/sites/${a.id}/uptime?granularity=hour`);
    expect(empty.status).toBe(200);
    expect(empty.body.buckets).toHaveLength(24);
    expect(empty.body.buckets.every((b: { checks: number; uptime: number | null }) => b.checks === 0 && b.uptime === null)).toBe(true);
  });
});

describe('retention, end to end', () => {
  it('prunes raw checks, hours and days at their ages, keeps an incident with its checks, and a deleted site leaves nothing', async () => {
    const day0 = Date.UTC(2026, 1, 1);
    const { clock, make, round, svc } = await setup({ RETENTION_RAW_HOURS: '24', RETENTION_HOURLY_DAYS: '2', RETENTION_DAILY_DAYS: '4' }, day0);
    const a = await make('a');
    const b = await make('b');
    for (let at = day0; at < day0 + 6 * DAY; at += STEP) {
      clock.at = at;
      const bad = at >= day0 + 2 * HOUR && at < day0 + 2 * HOUR + 3 * STEP;
      svc.recorder.record([round(a, at, bad ? 'bad_gateway' : 'ok'), round(b, at)]);
      if ((at - day0) % (6 * HOUR) === 0) await svc.housekeeping.runOnce();
    }
    clock.at = day0 + 6 * DAY + 10 * 60_000;
    svc.recorder.record([]);
    await svc.housekeeping.runOnce();
    const now = clock.at;

    // Raw checks: only the last 24 hours, and the incident's own checks however old.
    const incidentChecks = count('SELECT COUNT(*) AS n FROM raw_checks WHERE inc IS NOT NULL');
    expect(incidentChecks).toBeGreaterThanOrEqual(3);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE t < ? AND inc IS NULL', now - 24 * HOUR)).toBe(0);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE t >= ?', now - 24 * HOUR)).toBe(2 * 2 * 143);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE t < ?', day0 + DAY)).toBe(incidentChecks);

    // Chunks and dictionary rows older than the raw retention went with their checks, but for the ones held rows use.
    expect(count('SELECT COUNT(*) AS n FROM check_chunks WHERE id >> 24 < ?', Math.floor((now - 24 * HOUR) / (10 * 60_000)))).toBe(0);
    expect(count('SELECT COUNT(*) AS n FROM check_details WHERE id NOT IN (SELECT d FROM raw_checks)')).toBe(0);

    // Hours: 2 days; days: 4 days; both present up to the last finished hour / day.
    const oldestHour = count('SELECT MIN(id) AS n FROM rollup_hours');
    expect(Math.floor(oldestHour / KEY_SPAN) * HOUR).toBeGreaterThanOrEqual(now - 2 * DAY - HOUR);
    expect(count('SELECT COUNT(*) AS n FROM rollup_hours')).toBeGreaterThanOrEqual(4 * 47);
    const dayStarts = (t!.svc.db.$client.prepare('SELECT DISTINCT id >> 24 AS d FROM rollup_days ORDER BY d').all() as { d: number }[]).map((r) => r.d * DAY);
    expect(dayStarts).toEqual([day0 + 2 * DAY, day0 + 3 * DAY, day0 + 4 * DAY, day0 + 5 * DAY]);
    // Days past the hourly retention still answer from the day rollups.
    const series = await t!.call('GET', `/api/sites/${a.id}/uptime?from=${day0 + 2 * DAY}&to=${day0 + 6 * DAY}`);
    expect(series.body.buckets.map((x: { checks: number }) => x.checks)).toEqual([144, 144, 144, 144]);

    // A deleted site leaves nothing behind once housekeeping has run.
    const keysA = svc.db.$client.prepare('SELECT id FROM rollup_targets WHERE site_id = ?').all(a.id) as { id: number }[];
    expect(keysA).toHaveLength(2);
    expect(count('SELECT COUNT(*) AS n FROM incidents WHERE site_id = ?', a.id)).toBe(1);
    expect((await t!.call('DELETE', `/api/sites/${a.id}`)).status).toBe(204);
    await svc.housekeeping.runOnce();
    for (const table of ['incidents', 'status_snapshot', 'rollup_targets', 'upstreams']) {
      expect(count(`SELECT COUNT(*) AS n FROM ${table} WHERE site_id = ?`, a.id), table).toBe(0);
    }
    expect(count("SELECT COUNT(*) AS n FROM alerts WHERE site_id = ? AND state != 'pending'", a.id)).toBe(0);
    for (const { id } of keysA) {
      expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE tk = ?', id), 'raw_checks').toBe(0);
      expect(count('SELECT COUNT(*) AS n FROM check_chunks WHERE id % ? = ?', KEY_SPAN, id), 'check_chunks').toBe(0);
    }
    for (const table of ['rollup_hours', 'rollup_days']) {
      for (const { id } of keysA) expect(count(`SELECT COUNT(*) AS n FROM ${table} WHERE id % ? = ?`, KEY_SPAN, id), table).toBe(0);
    }
    // The other site keeps all of its history.
    expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE tk IN (SELECT id FROM rollup_targets WHERE site_id = ?)', b.id)).toBe(2 * 143);
    expect(count('SELECT COUNT(*) AS n FROM rollup_days')).toBe(2 * 4);
  });
});
