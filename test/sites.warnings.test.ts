import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startService, type RunningService } from '../src/service.js';
import { recordingLogger } from './support/logger.js';
import { startNginx502Server, type TestServer } from './support/http-servers.js';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';
import { waitFor } from './support/wait.js';

let t: TestService | undefined;
let running: RunningService | undefined;
let target: TestServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await t?.close();
  await running?.stop();
  await target?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  t = running = target = dir = undefined;
});

const site = (fields: Record<string, unknown> = {}) => ({
  name: 'shop',
  url: 'http://127.0.0.1:9/',
  upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:10/health' }],
  paused: true,
  ...fields,
});

describe('warnings in the creation answer', () => {
  it('warns when nobody would be emailed: no alertEmails and no ALERT_TO', async () => {
    t = createTestService();
    const created = await t.call('POST', '/api/sites', site());
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual([{ code: 'alerts.no_recipients', message: expect.stringContaining('ALERT_TO is not set') }]);
    // The site itself is as asked, and stored; reading it back carries no warnings.
    expect((await t.call('GET', `/api/sites/${created.body.id}`)).body.warnings).toBeUndefined();

    const owned = await t.call('POST', '/api/sites', site({ name: 'owned', url: 'http://127.0.0.1:11/', alertEmails: ['ops@example.com'] }));
    expect(owned.status).toBe(201);
    expect(owned.body.warnings).toBeUndefined();
    // A change that takes the owners away warns too.
    const patched = await t.call('PATCH', `/api/sites/${owned.body.id}`, { alertEmails: [] });
    expect(patched.body.warnings.map((w: { code: string }) => w.code)).toEqual(['alerts.no_recipients']);
  });

  it('does not warn about recipients when ALERT_TO is set', async () => {
    t = createTestService({ ALERT_TO: 'ops@example.com' });
    const created = await t.call('POST', '/api/sites', site());
    expect(created.status).toBe(201);
    expect(created.body.warnings).toBeUndefined();
  });

  it('accepts a duplicate (same URL and upstreams, in any order) with a warning naming the other site', async () => {
    t = createTestService({ ALERT_TO: 'ops@example.com' });
    const ups = [
      { name: 'app-1', url: 'http://127.0.0.1:10/health' },
      { name: 'app-2', url: 'http://127.0.0.1:12/health' },
    ];
    const first = await t.call('POST', '/api/sites', site({ upstreams: ups }));
    expect(first.body.warnings).toBeUndefined();
    const second = await t.call('POST', '/api/sites', site({ name: 'shop again', upstreams: [...ups].reverse().map((u, i) => ({ ...u, name: `b-${i}` })) }));
    expect(second.status).toBe(201);
    expect(second.body.warnings).toEqual([{ code: 'sites.duplicate', message: `site ${first.body.id} (shop) already watches the same URL and upstreams` }]);
    // Same URL, other upstreams: not a duplicate.
    const other = await t.call('POST', '/api/sites', site({ name: 'other', upstreams: [ups[0]] }));
    expect(other.status).toBe(201);
    expect(other.body.warnings).toBeUndefined();
    expect((await t.call('GET', '/api/sites')).body.sites).toHaveLength(3);
  });

  it('logs every cancelled alert: an incident nobody can be told about is a warning', async () => {
    target = await startNginx502Server();
    const { logger, entries } = recordingLogger();
    t = createTestService({ ALERT_GROUP_SECONDS: '0' }, {}, logger);
    t.svc.scheduler.start();
    const created = await t.call('POST', '/api/sites', { name: 'orphan', url: target.url, intervalSeconds: 1, failureThreshold: 1 });
    expect(created.body.warnings).toHaveLength(1);
    const line = await waitFor(() => entries.find((e) => e.msg.startsWith('alert cancelled')), { timeoutMs: 20_000, message: 'the cancelled alert log line' });
    expect(line.level).toBe('warn');
    expect(line.fields).toMatchObject({ siteId: created.body.id, site: 'orphan', kind: 'opened', reason: 'no recipients' });
    const alerts = (await t.call('GET', '/api/alerts')).body.alerts as { state: string; cancelReason: string }[];
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts[0]).toMatchObject({ state: 'cancelled', cancelReason: 'no recipients' });
  });
});

describe('at start-up', () => {
  it('warns once about the sites nobody would hear about when ALERT_TO is unset', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-warn-'));
    const env = { DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TEST_TOKEN, PORT: '0', LOG_LEVEL: 'silent' };
    const quiet = recordingLogger();
    running = await startService(loadConfig(env), quiet.logger);
    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${running!.port}/api/sites`, { method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post(site({ name: 'a', url: 'http://127.0.0.1:20/' }))).status).toBe(201);
    expect((await post(site({ name: 'b', url: 'http://127.0.0.1:21/' }))).status).toBe(201);
    expect((await post(site({ name: 'c', url: 'http://127.0.0.1:22/', alertEmails: ['c@example.com'] }))).status).toBe(201);
    expect(quiet.entries.filter((e) => /ALERT_TO is not set/.test(e.msg))).toHaveLength(0);
    await running.stop();

    const { logger, entries } = recordingLogger();
    running = await startService(loadConfig(env), logger);
    const lines = entries.filter((e) => /ALERT_TO is not set/.test(e.msg));
    expect(lines).toHaveLength(1);
    expect(lines[0].level).toBe('warn');
    expect(lines[0].fields).toEqual({ sites: 2, siteIds: [1, 2] });
    await running.stop();

    const configured = recordingLogger();
    running = await startService(loadConfig({ ...env, ALERT_TO: 'ops@example.com' }), configured.logger);
    expect(configured.entries.filter((e) => /ALERT_TO is not set/.test(e.msg))).toHaveLength(0);
  });
});
