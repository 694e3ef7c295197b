import http from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listen, startHealthyServer, trackForCleanup } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { waitFor } from './support/wait.js';
import type { Logger } from '../src/shared/logger.js';
import { DueHeap } from '../src/scheduler/heap.js';

const track = trackForCleanup();
let t: TestService | undefined;

const count = (t: TestService, siteId: number, target = 'site') =>
  (t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM raw_checks r JOIN rollup_targets k ON k.id = r.tk WHERE k.site_id = ? AND k.target = ?').get(siteId, target) as { n: number }).n;

describe('scheduler', () => {
  it('lands a round of the site and its upstream every second', async () => {
    const healthy = track(await startHealthyServer());
    t = track(createTestService());
    t.svc.scheduler.start();
    const site = (await t.call('POST', '/api/sites', { name: 's', url: healthy.url, upstreams: [{ name: 'u', url: healthy.url }], intervalSeconds: 1 })).body;
    const upstreamId = String(site.upstreams[0].id);
    await waitFor(() => count(t!, site.id) >= 4 && count(t!, site.id, upstreamId) >= 4, { timeoutMs: 20_000, message: 'four rounds' });
    const rounds = t.svc.db.$client
      .prepare("SELECT r.t AS at FROM raw_checks r JOIN rollup_targets k ON k.id = r.tk WHERE k.site_id = ? AND k.target = 'site' ORDER BY r.t")
      .all(site.id) as { at: number }[];
    const gaps = rounds.slice(1).map((r, i) => r.at - rounds[i].at);
    // Rounds follow the interval: never two within half a second of each other.
    expect(Math.min(...gaps)).toBeGreaterThan(500);
    expect((await t.call('GET', `/api/sites/${site.id}`)).body.state).toBe('up');
  });

  it('never runs two rounds of one site at once, even when a target is slower than the interval', async () => {
    let active = 0;
    let maxActive = 0;
    let requests = 0;
    const slow = await listen(
      http.createServer((_req, res) => {
        active++;
        requests++;
        maxActive = Math.max(maxActive, active);
        setTimeout(() => {
          active--;
          res.end('late but fine');
        }, 2500);
      }),
    );
    track(slow);
    t = track(createTestService());
    t.svc.scheduler.start();
    const site = (await t.call('POST', '/api/sites', { name: 'slow', url: slow.url, intervalSeconds: 1, timeoutMs: 5000 })).body;
    await waitFor(() => count(t!, site.id) >= 2, { timeoutMs: 30_000, message: 'two slow rounds' });
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(maxActive).toBe(1);
  });

  it('does not store a round that ends after stop() gave up waiting for it, nor logs it as an error', async () => {
    let requests = 0;
    let answered = 0;
    const late = await listen(
      http.createServer((_req, res) => {
        requests++;
        setTimeout(() => {
          res.end('too late');
          answered++;
        }, 6500);
      }),
    );
    track(late);
    const errors: string[] = [];
    const debug: string[] = [];
    const logger: Logger = { debug: (msg) => void debug.push(msg), info() {}, warn() {}, error: (msg) => void errors.push(msg) };
    t = track(createTestService({}, {}, logger));
    t.svc.scheduler.start();
    const site = (await t.call('POST', '/api/sites', { name: 'late', url: late.url, intervalSeconds: 60, timeoutMs: 10_000 })).body;
    await waitFor(() => requests >= 1, { timeoutMs: 10_000, message: 'the round to start' });
    await t.svc.scheduler.stop(); // gives up after its 5 s grace, before the answer
    expect(answered).toBe(0);
    await waitFor(() => debug.some((m) => m.includes('not stored')), { timeoutMs: 15_000, message: 'the abandoned round to end' });
    expect(count(t, site.id)).toBe(0);
    expect(errors).toEqual([]);
  }, 60_000);

  it('does not probe a paused site, and resumes when unpaused', async () => {
    const healthy = track(await startHealthyServer());
    t = track(createTestService());
    t.svc.scheduler.start();
    const site = (await t.call('POST', '/api/sites', { name: 'p', url: healthy.url, intervalSeconds: 1, paused: true })).body;
    const other = (await t.call('POST', '/api/sites', { name: 'o', url: healthy.url, intervalSeconds: 1 })).body;
    await waitFor(() => count(t!, other.id) >= 3, { timeoutMs: 20_000, message: 'the other site to be probed' });
    expect(count(t, site.id)).toBe(0);
    await t.call('PATCH', `/api/sites/${site.id}`, { paused: false });
    await waitFor(() => count(t!, site.id) >= 1, { timeoutMs: 20_000, message: 'a round after unpausing' });
  });

  it('resumes from the last round after a restart instead of firing every site at once', async () => {
    const healthy = track(await startHealthyServer());
    t = track(createTestService());
    const created = [];
    for (let i = 0; i < 20; i++) created.push((await t.call('POST', '/api/sites', { name: `s${i}`, url: healthy.url, intervalSeconds: 60 })).body);
    // Pretend every site had a round 10 s ago: none is due for ~20 s or more.
    const tenSecondsAgo = Date.now() - 10_000;
    t.svc.db.$client.prepare('UPDATE sites SET last_round_at = ?').run(tenSecondsAgo);
    t.svc.scheduler.start();
    expect(t.svc.scheduler.stats().sites).toBe(20);
    const due = created.map((s) => t!.svc.scheduler.nextDue(s.id)!);
    // Each resumes on its own phase, at least half an interval after its last round...
    for (const d of due) expect(d).toBeGreaterThanOrEqual(tenSecondsAgo + 30_000);
    // ...and the phases are spread, not stacked on one instant.
    const sorted = [...due].sort((a, b) => a - b);
    expect(sorted.at(-1)! - sorted[0]).toBeGreaterThan(30_000);
    expect(new Set(due).size).toBe(20);
  });
});

describe('the scheduler\'s heap of planned rounds', () => {
  it('pops items in due order, each with its own id and version, through growth past its first arrays', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 10_000 }) }), fc.constant({ pop: true })), { maxLength: 3_000 }),
        (ops) => {
          const heap = new DueHeap();
          const model: { due: number; id: number; version: number }[] = [];
          let n = 0;
          for (const op of ops) {
            if ('push' in op) {
              // Due times as the scheduler has them (ms since epoch); id and version tell items apart.
              const item = { due: 1.7e12 + op.push, id: n, version: n * 3 + 1 };
              n++;
              heap.push(item.id, item.due, item.version);
              model.push(item);
            } else {
              expect(heap.size).toBe(model.length);
              if (model.length === 0) {
                expect(heap.topDue()).toBe(Infinity);
                continue;
              }
              const earliest = Math.min(...model.map((m) => m.due));
              expect(heap.topDue()).toBe(earliest);
              const at = model.findIndex((m) => m.id === heap.topId());
              expect(model[at]).toEqual({ due: earliest, id: heap.topId(), version: heap.topVersion() });
              model.splice(at, 1);
              heap.pop();
            }
          }
          expect(heap.size).toBe(model.length);
        },
      ),
      { numRuns: 50 },
    );
  });
});
