import { describe, expect, it } from 'vitest';
import { createRoundRecorder } from '../src/incidents/rounds.recorder.js';
import { QUICK_STARTS_PER_SECOND, type RoundResult } from '../src/scheduler/scheduler.js';
import { startHealthyServer, startNginx502Server, trackForCleanup } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;

const track = trackForCleanup();
let t: TestService | undefined;

const okCheck = (siteId: number, target: string, at: number, ttfbMs = 4) => ({
  siteId,
  target,
  targetName: target,
  startedAt: at,
  outcome: 'ok' as const,
  statusCode: 200,
  errorMessage: null,
  addresses: ['127.0.0.1'],
  address: '127.0.0.1',
  dnsMs: 0,
  connectMs: 1,
  tlsMs: null,
  ttfbMs,
  totalMs: ttfbMs + 1,
  gateway: null,
});

describe('status at scale', () => {
  it('lists the same entries as the one-site view, page by page', async () => {
    const healthy = track(await startHealthyServer());
    const bad = track(await startNginx502Server());
    t = track(createTestService());
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Site 4 answers 502 and opens an incident at once: entries with an incident and its cause.
      const url = i === 4 ? bad.url : healthy.url;
      const site = (await t.call('POST', '/api/sites', { name: `s${i}`, url, failureThreshold: 1, upstreams: [{ name: 'u', url: healthy.url }] })).body;
      ids.push(site.id);
      if (i !== 2) await t.call('POST', `/api/sites/${site.id}/check`);
    }
    for (const token of [undefined, null]) {
      const all = await t.call('GET', '/api/status', undefined, { token });
      expect(all.status).toBe(200);
      expect(all.body.total).toBe(5);
      expect(all.body.sites.map((s: { id: number }) => s.id)).toEqual(ids);
      for (const entry of all.body.sites) {
        const { upstreams: _upstreams, ...one } = (await t.call('GET', `/api/status/${entry.id}`, undefined, { token })).body;
        expect(entry).toEqual(one);
      }
      const page = await t.call('GET', '/api/status?limit=2&offset=3', undefined, { token });
      expect(page.body).toMatchObject({ total: 5, offset: 3 });
      expect(page.body.sites).toEqual(all.body.sites.slice(3, 5));
    }
    expect((await t.call('GET', '/api/status')).body.sites[4].incident.topCause.summary).toEqual(expect.any(String));
    const unchecked = (await t.call('GET', `/api/status/${ids[2]}`)).body;
    expect(unchecked).toMatchObject({ state: 'unknown', lastCheck: null, uptime: { '24h': null, '7d': null, '30d': null } });
  });

  it('the list keeps rendered entries only until something they show changes, whatever wrote it', async () => {
    const healthy = track(await startHealthyServer());
    const bad = track(await startNginx502Server());
    t = track(createTestService());
    const create = async (name: string) =>
      (await t!.call('POST', '/api/sites', { name, url: healthy.url, failureThreshold: 1, upstreams: [{ name: 'u', url: healthy.url }] })).body;
    const a = await create('a');
    const b = await create('b');
    // More sites than change at once: the first read renders by ranges, later ones site by site.
    for (let i = 0; i < 6; i++) await create(`filler${i}`);
    const list = async (token?: null) => (await t!.call('GET', '/api/status', undefined, { token })).body.sites as any[];
    const entryOf = async (id: number, token?: null) => (await list(token)).find((e) => e.id === id);
    const matchesOne = async () => {
      for (const token of [undefined, null]) {
        for (const entry of await list(token)) {
          const { upstreams: _u, ...one } = (await t!.call('GET', `/api/status/${entry.id}`, undefined, { token })).body;
          expect(entry).toEqual(one);
        }
      }
    };
    await list();
    await list(null); // both variants cached

    // A check recorded.
    await t.call('POST', `/api/sites/${a.id}/check`);
    expect((await entryOf(a.id)).lastCheck).toMatchObject({ outcome: 'ok' });
    expect((await entryOf(a.id, null)).lastCheck).toMatchObject({ outcome: 'ok' });
    // Renamed, then paused, through the API.
    await t.call('PATCH', `/api/sites/${a.id}`, { name: 'a2' });
    expect((await entryOf(a.id, null)).name).toBe('a2');
    await t.call('PATCH', `/api/sites/${a.id}`, { paused: true });
    expect((await entryOf(a.id)).state).toBe('paused');
    // An incident opened by a failing round: state and incident in the entry.
    await t.call('PATCH', `/api/sites/${b.id}`, { url: bad.url });
    await t.call('POST', `/api/sites/${b.id}/check`);
    const down = await entryOf(b.id);
    expect(down.state).toBe('down');
    expect(down.incident).toMatchObject({ kind: 'bad_gateway' });
    // Changes outside every API path: housekeeping moving the snapshot over an hour (1 of 8 checks
    // ok), which the snapshot tells of itself, and a raw write to incidents, which the triggers see.
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    t.svc.snapshot.rebase(b.id, 'site', hour, { hour: () => null, hours: () => [{ bucket: hour, count: 8, okCount: 1, latencyHist: [] }] });
    t.svc.db.$client.prepare("UPDATE incidents SET failed_checks = 77 WHERE site_id = ?").run(b.id);
    expect((await entryOf(b.id)).uptime['24h']).toBe(12.5);
    expect((await entryOf(b.id, null)).incident.failedChecks).toBe(77);
    await matchesOne();
    // Read lists stay warm: a change is rendered again in the background, before the next read.
    const before = t.svc.status.cacheStats().backgroundRenders;
    await t.call('PATCH', `/api/sites/${b.id}`, { name: 'b2' });
    await waitFor(() => t!.svc.status.cacheStats().backgroundRenders >= before + 2 && t!.svc.status.cacheStats().waiting === 0, {
      timeoutMs: 10_000,
      message: 'the changed entry rendered in the background, in both lists',
    });
    expect((await entryOf(b.id)).name).toBe('b2');
    expect((await entryOf(b.id, null)).name).toBe('b2');
    // Deleted: gone from the list and the total.
    await t.call('DELETE', `/api/sites/${a.id}`);
    const after = await t.call('GET', '/api/status');
    expect(after.body.total).toBe(7);
    expect(after.body.sites.map((e: { id: number }) => e.id)).not.toContain(a.id);
    expect(after.body.sites[0].id).toBe(b.id);
  });

  it('keeps uptime and latency across the hourly fold, and hour rollups across a restart', async () => {
    const firstHour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    let now = firstHour;
    const clock = { now: () => now };
    t = track(createTestService({}, { clock }));
    const site = (await t.call('POST', '/api/sites', { name: 'fold', url: 'http://127.0.0.1:9/', upstreams: [{ name: 'u', url: 'http://127.0.0.1:9/' }] })).body;
    const view = t.svc.sites.get(site.id)!;
    const up = String(site.upstreams[0].id);
    const round = (at: number, outcome: 'ok' | 'bad_gateway' = 'ok'): RoundResult => ({
      site: view,
      startedAt: at,
      checks: [{ ...okCheck(site.id, 'site', at), outcome, statusCode: outcome === 'ok' ? 200 : 502 }, okCheck(site.id, up, at, 40)],
    });
    // 20 rounds 5 minutes apart over two hours, one of them a 502.
    for (let i = 1; i <= 20; i++) {
      now = firstHour + i * 5 * 60_000;
      t.svc.recorder.record([round(now, i === 3 ? 'bad_gateway' : 'ok')]);
    }
    const before = (await t.call('GET', `/api/status/${site.id}`)).body;
    expect(before.uptime['24h']).toBe(95);
    expect(before.latencyMs.p50_24h).toBeGreaterThan(0);

    // Both hours are over (and the fold delay): housekeeping rolls them up.
    now = firstHour + 2 * HOUR + 10 * 60_000;
    t.svc.recorder.record([round(now)]);
    await t.svc.housekeeping.runOnce();
    const hourRows = () => (t!.svc.db.$client.prepare('SELECT COUNT(*) AS n, SUM(count) AS c FROM rollup_hours').get() as { n: number; c: number });
    expect(hourRows().n).toBe(4);
    const after = (await t.call('GET', `/api/status/${site.id}`)).body;
    expect(after.uptime['24h']).toBeCloseTo((20 / 21) * 100, 2);
    expect(after.latencyMs).toEqual({ ...before.latencyMs, last: after.latencyMs.last });
    expect(after.upstreams[0].uptime['24h']).toBe(100);

    // Hour rollups held in memory are rebuilt from the raw checks by the next recorder.
    const raw = (t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM raw_checks r JOIN rollup_targets k ON k.id = r.tk WHERE k.site_id = ?').get(site.id) as { n: number }).n;
    expect(hourRows().c).toBe(40);
    now += HOUR;
    const again = createRoundRecorder({ db: t.svc.db, checks: t.svc.checks, incidents: t.svc.incidents, alerts: t.svc.outbox, clock, snapshot: t.svc.snapshot });
    again.hours.flushClosed(now);
    expect(hourRows().c).toBe(raw);
  });
});

describe('scheduler at scale', () => {
  it('a bulk import gets quick first rounds only up to the budget; the rest start on their phases', async () => {
    let now = Date.UTC(2026, 0, 1, 12);
    t = track(createTestService({}, { clock: { now: () => now } }));
    const create = async (i: number) =>
      (await t!.call('POST', '/api/sites', { name: `q${i}`, url: 'http://127.0.0.1:9/', intervalSeconds: 60 })).body.id as number;
    // The clock stands still: the budget does not refill while these are created (nothing is started).
    const ids: number[] = [];
    for (let i = 0; i < QUICK_STARTS_PER_SECOND + 150; i++) ids.push(await create(i));
    const dues = ids.map((id) => t!.svc.scheduler.nextDue(id)! - now);
    expect(dues.slice(0, QUICK_STARTS_PER_SECOND).every((d) => d >= 0 && d <= 1000)).toBe(true);
    const rest = dues.slice(QUICK_STARTS_PER_SECOND);
    expect(rest.every((d) => d >= 0 && d <= 60_000)).toBe(true);
    expect(Math.max(...rest) - Math.min(...rest)).toBeGreaterThan(30_000);
    // A second later the budget has refilled: a site created alone starts at once again.
    now += 1000;
    const alone = await create(9999);
    expect(t.svc.scheduler.nextDue(alone)! - now).toBeLessThanOrEqual(1000);
  });

  it('spreads sites created together over the interval after their first round', async () => {
    const healthy = track(await startHealthyServer());
    t = track(createTestService());
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push((await t.call('POST', '/api/sites', { name: `b${i}`, url: healthy.url, intervalSeconds: 60 })).body.id);
    t.svc.scheduler.start();
    const stats = t.svc.scheduler.stats();
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 20_000;
      const poll = setInterval(() => {
        if (stats.roundsDone >= 30) {
          clearInterval(poll);
          resolve();
        } else if (Date.now() > deadline) {
          clearInterval(poll);
          reject(new Error('first rounds did not finish'));
        }
      }, 50);
    });
    // Every first round ran within a second or so; the next ones sit on the sites' phases.
    const next = ids.map((id) => t!.svc.scheduler.nextDue(id)!).sort((a, b) => a - b);
    expect(next.at(-1)! - next[0]).toBeGreaterThan(30_000);
    expect(stats.roundsDue).toBe(30);
    expect(stats.roundsSkipped).toBe(0);
    expect(stats.lagHistogram.reduce((a, b) => a + b, 0)).toBe(30);
  });
});
