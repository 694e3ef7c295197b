/**
 * The gateway-log follower on real files and a real database (through the migrations): new lines
 * only, unfinished lines, rotation by rename and by copytruncate, a missing file, a restart that
 * does not read again, overlong lines; and the API around it (the site's gatewayLog, its status,
 * GET /api/sites/:id/log-lines).
 */
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayLogFollower } from '../src/gatewaylog/gatewaylog.follower.js';
import { createGatewayLogRepository } from '../src/gatewaylog/gatewaylog.repository.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const stamp = '2026/12/04 12:03:10';
const tail = (port = 9001) => `, client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:${port}/", host: "shop.test:8080"`;
const refused = (n: number, port = 9001) => `${stamp} [error] 7#7: *${n} connect() failed (111: Connection refused) while connecting to upstream${tail(port)}\n`;
const timedOut = (n: number) => `${stamp} [error] 7#7: *${n} upstream timed out (110: Connection timed out) while reading response header from upstream${tail()}\n`;

async function setup(initial: string | null = '') {
  t = createTestService();
  const file = join(t.dir, 'error.log');
  if (initial !== null) writeFileSync(file, initial);
  const res = await t.call('POST', '/api/sites', {
    name: 'shop',
    url: 'http://shop.test:8080/',
    upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9001/health' }],
    gatewayLog: { path: file, format: 'nginx' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { t, file, site: res.body, tick: () => t!.svc.gatewayLogs.tick() };
}

const lines = async (siteId: number) => {
  const res = await t!.call('GET', `/api/sites/${siteId}/log-lines?limit=100`);
  expect(res.status).toBe(200);
  return res.body.lines as any[];
};

describe('gateway log follower', () => {
  it('reads only what is written after it first looks, whole lines only, and lists them newest first', async () => {
    const { file, site, tick } = await setup(refused(1).repeat(3));
    expect(site.gatewayLog).toEqual({ path: file, format: 'nginx' });
    tick();
    expect(await lines(site.id)).toEqual([]); // the history before Gatewatch looked is not imported

    appendFileSync(file, refused(2) + timedOut(3).slice(0, 40));
    tick();
    let kept = await lines(site.id);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ kind: 'refused', relation: 'upstream', upstreamId: String(site.upstreams[0].id), upstream: '127.0.0.1:9001', product: 'nginx' });
    expect(kept[0].raw).toContain('*2 connect() failed');

    appendFileSync(file, timedOut(3).slice(40));
    tick();
    kept = await lines(site.id);
    expect(kept.map((l) => l.kind)).toEqual(['header_timeout', 'refused']);
    expect(kept[0].raw).toBe(timedOut(3).trimEnd());

    // The token is needed, as on every /api route; an unknown site is a 404.
    expect((await t!.call('GET', `/api/sites/${site.id}/log-lines`, undefined, { token: null })).status).toBe(401);
    expect((await t!.call('GET', '/api/sites/999/log-lines')).status).toBe(404);
    expect((await t!.call('GET', `/api/sites/${site.id}/log-lines?limit=0`)).status).toBe(400);
    expect((await t!.call('GET', `/api/sites/${site.id}/log-lines?limit=1`)).body.lines).toHaveLength(1);
  });

  it('follows a rotation by rename (finishing the old file) and by copytruncate', async () => {
    const { file, site, tick } = await setup();
    tick();
    appendFileSync(file, refused(1));
    tick();
    // logrotate's default: rename, then the gateway reopens a new file (after writing a last line to the old one).
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, refused(2));
    writeFileSync(file, refused(3));
    tick();
    expect((await lines(site.id)).map((l) => l.raw.match(/\*(\d+)/)![1]).sort()).toEqual(['1', '2', '3']);

    // copytruncate: the same file emptied in place, then written from the start.
    truncateSync(file, 0);
    appendFileSync(file, refused(4));
    tick();
    expect((await lines(site.id)).map((l) => l.raw.match(/\*(\d+)/)![1]).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('warns on the site while the file is missing, and reads it once it appears', async () => {
    const { file, site, tick } = await setup(null);
    expect((await t!.call('GET', `/api/sites/${site.id}`)).body.gatewayLogStatus).toMatchObject({ state: 'pending' });
    tick();
    const missing = (await t!.call('GET', `/api/sites/${site.id}`)).body.gatewayLogStatus;
    expect(missing).toMatchObject({ state: 'missing', message: expect.stringContaining('does not exist') });
    tick();
    writeFileSync(file, refused(1));
    tick();
    expect((await t!.call('GET', `/api/sites/${site.id}`)).body.gatewayLogStatus).toMatchObject({ state: 'following', message: null });
    expect(await lines(site.id)).toHaveLength(1); // a file that appeared is read from its start
  });

  it('never reads a file again from the start after a restart', async () => {
    const { file, site, tick } = await setup();
    tick();
    appendFileSync(file, refused(1) + refused(2));
    tick();
    expect(await lines(site.id)).toHaveLength(2);
    // A restart: a new follower with nothing in memory, on the same database.
    const restarted = createGatewayLogFollower({ repo: createGatewayLogRepository(t!.svc.db), clock: t!.svc.clock, logger: silentLogger, retentionHours: 48 });
    t!.svc.gatewayLogs.stop();
    restarted.tick();
    expect(await lines(site.id)).toHaveLength(2);
    appendFileSync(file, refused(3));
    restarted.tick();
    expect((await lines(site.id)).map((l) => l.raw.match(/\*(\d+)/)![1])).toHaveLength(3);
    restarted.stop();
  });

  it('cuts overlong lines and keeps a line about an address that is no upstream as foreign', async () => {
    const { file, site, tick } = await setup();
    tick();
    appendFileSync(file, `${refused(1).trimEnd()}${'x'.repeat(50_000)}\n${refused(2, 9)}`);
    tick();
    const kept = await lines(site.id);
    expect(kept).toHaveLength(2);
    const long = kept.find((l) => l.raw.includes('*1 '))!;
    expect(long.raw.length).toBeLessThanOrEqual(2000);
    expect(kept.find((l) => l.raw.includes('*2 '))).toMatchObject({ kind: 'refused', relation: 'foreign', upstream: '127.0.0.1:9', upstreamId: null });
  });

  it('retention: old lines go unless an incident cites them; at most so many per site', async () => {
    const { file, site, tick } = await setup();
    tick();
    appendFileSync(file, refused(1) + refused(2) + refused(3));
    tick();
    const repo = t!.svc.gatewayLogLines;
    const [newest] = await lines(site.id);
    repo.attachToIncident(site.id, newest.at, 77);
    expect((await lines(site.id)).every((l) => l.incidentId === 77)).toBe(true);
    appendFileSync(file, refused(4) + refused(5));
    tick();
    expect(repo.capPerSite(1)).toBe(1); // 5 lines: 3 cited, 1 kept, 1 over the cap
    expect(await lines(site.id)).toHaveLength(4);
    expect(repo.pruneOlderThan(t!.svc.clock.now() + 1, 100)).toBe(1);
    expect((await lines(site.id)).map((l) => l.incidentId)).toEqual([77, 77, 77]);
  });

  it('validates gatewayLog, and PATCH null stops following', async () => {
    const { site } = await setup();
    const bad = await t!.call('PATCH', `/api/sites/${site.id}`, { gatewayLog: { path: 'logs/error.log', format: 'nginx' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('gatewayLog.path');
    const format = await t!.call('PATCH', `/api/sites/${site.id}`, { gatewayLog: { path: '/var/log/x.log', format: 'iis' } });
    expect(format.status).toBe(400);
    expect(JSON.stringify(format.body)).toContain('gatewayLog.format');
    const off = await t!.call('PATCH', `/api/sites/${site.id}`, { gatewayLog: null });
    expect(off.status).toBe(200);
    expect(off.body.gatewayLog).toBeNull();
    expect((await t!.call('GET', `/api/sites/${site.id}`)).body).not.toHaveProperty('gatewayLogStatus');
    // The public status never shows it.
    expect(JSON.stringify((await t!.call('GET', '/api/status', undefined, { token: null })).body)).not.toContain('gatewayLog');
  });
});
