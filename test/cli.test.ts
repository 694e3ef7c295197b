/**
 * The command line (`bin/gatewatch.js`) run as a child process: `diagnose` against a real nginx
 * whose upstream refuses, `sites export` / `import` against real running services, and the help
 * and usage of every command. Needs nginx (CI installs it); without it the nginx test fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startService, type RunningService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { siteCreateSchema } from '../src/sites/sites.schemas.js';
import { getRefusingPort, startHealthyServer, type TestServer } from './support/http-servers.js';
import { startNginx, type Nginx } from './support/nginx.js';
import { cleanEnv, killAll, spawnTracked } from './support/proc.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `gatewatch ARGS...` to its end: exit code, stdout and stderr apart. */
async function gatewatch(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const run = spawnTracked([process.execPath, join(process.cwd(), 'bin/gatewatch.js'), ...args], cleanEnv({ GATEWATCH_URL: undefined, ...env }), cwd);
  let stdout = '';
  let stderr = '';
  run.child.stdout!.on('data', (d) => (stdout += d));
  run.child.stderr!.on('data', (d) => (stderr += d));
  const code = await run.exited;
  return { code, stdout, stderr };
}

const TOKEN = 'cli-test-token-0123456789';

async function service(): Promise<{ svc: RunningService; base: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
  const svc = await startService(config, silentLogger);
  cleanups.push(async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { svc, base: `http://127.0.0.1:${svc.port}` };
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
}

describe('gatewatch diagnose', () => {
  it('against an nginx whose upstream refuses: names the 502 from nginx and ranks upstream_down first; exit 1', async () => {
    const refusing: TestServer = await getRefusingPort();
    const nginx: Nginx = await startNginx({ upstreamHost: '127.0.0.1', upstreamPort: refusing.port });
    cleanups.push(() => nginx.stop());
    const args = ['diagnose', nginx.url, '--upstream', `app-1=http://127.0.0.1:${refusing.port}/health`, '--rounds', '2', '--interval', '0'];

    const text = await gatewatch(args);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/site\s+bad_gateway 502 \(answered by nginx\)/);
    expect(text.stdout).toMatch(/app-1\s+conn_refused/);
    expect(text.stdout).toContain('round 2 at');
    expect(text.stdout).toMatch(/dns \d+ ms, connect \d+ ms/);
    expect(text.stdout).toMatch(/probable causes, most likely first:\n1\. upstream_down \(confidence 0\.\d\d\): .*app-1/);
    expect(text.stdout).toContain('what to do:');

    const json = await gatewatch([...args, '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.rounds).toHaveLength(2);
    const site = report.rounds[0].checks.find((c: any) => c.target === 'site');
    expect(site).toMatchObject({ outcome: 'bad_gateway', statusCode: 502, gateway: 'nginx', addresses: ['127.0.0.1'] });
    expect(report.failed).toBe(true);
    expect(report.state).toBe('down');
    expect(report.incident.causes[0].code).toBe('upstream_down');
    expect(report.incident.causes[0].evidence.join('\n')).toContain('app-1');
  });

  it('against a healthy site: every check succeeded, exit 0', async () => {
    const healthy = await startHealthyServer();
    cleanups.push(() => healthy.close());
    const run = await gatewatch(['diagnose', healthy.url, '--rounds', '1', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ failed: false, state: 'up', incident: null });
    expect(report.rounds[0].checks[0]).toMatchObject({ outcome: 'ok', statusCode: 200 });
  });

  it('bad usage: exit 2 with the reason and the usage on stderr', async () => {
    for (const args of [['diagnose'], ['diagnose', 'ftp://example.test/'], ['diagnose', 'http://127.0.0.1:9/', '--rounds', '0'], ['diagnose', 'http://127.0.0.1:9/', '--upstream', 'nameless'], ['diagnose', 'http://127.0.0.1:9/', '--bogus']]) {
      const run = await gatewatch(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^gatewatch diagnose: .+\n\nusage: gatewatch diagnose URL/);
    }
  });
});

describe('gatewatch sites export / import', () => {
  it('moves sites to another instance; importing again creates nothing; a changed site is updated, not duplicated', async () => {
    const a = await service();
    const b = await service();
    const shop = { name: 'shop', url: 'http://127.0.0.1:9/', upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9/health' }], intervalSeconds: 300, alertEmails: ['ops@example.com'], paused: true };
    const blog = { name: 'blog', url: 'http://127.0.0.1:9/blog', failureThreshold: 5, expectedStatus: [200, 399], paused: true };
    for (const body of [shop, blog]) expect((await api(a.base, 'POST', '/api/sites', body)).status).toBe(201);

    const exported = await gatewatch(['sites', 'export'], { GATEWATCH_URL: a.base, API_TOKEN: TOKEN });
    expect(exported.code, exported.stderr).toBe(0);
    const file = JSON.parse(exported.stdout);
    expect(file.sites).toHaveLength(2);
    // The body's fields with their defaults (and any field the body gains), nothing the service adds.
    expect(file.sites[0]).toMatchObject({ ...shop, timeoutMs: 10_000, failureThreshold: 3, recoveryThreshold: 2, expectedStatus: [200, 299], maintenance: [] });
    expect(Object.keys(file.sites[0]).sort()).toEqual(Object.keys(siteCreateSchema.shape).sort());

    const dir = mkdtempSync(join(tmpdir(), 'gw-cli-file-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'sites.json');
    writeFileSync(path, exported.stdout);

    const first = await gatewatch(['sites', 'import', path], { GATEWATCH_URL: b.base, API_TOKEN: TOKEN });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('2 created, 0 updated, 0 unchanged, 0 failed');
    const onB = (await api(b.base, 'GET', '/api/sites')).body.sites;
    expect(onB.map((s: any) => s.name)).toEqual(['shop', 'blog']);
    expect(onB[0].upstreams.map((u: any) => [u.name, u.url])).toEqual([['app-1', 'http://127.0.0.1:9/health']]);
    expect(onB[1]).toMatchObject({ failureThreshold: 5, expectedStatus: [200, 399] });

    const again = await gatewatch(['sites', 'import', path], { GATEWATCH_URL: b.base, API_TOKEN: TOKEN });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 created, 0 updated, 2 unchanged, 0 failed');
    expect((await api(b.base, 'GET', '/api/sites')).body.sites).toHaveLength(2);

    // A change in the file is applied to the same site, through PATCH (its id stays).
    file.sites[1].failureThreshold = 7;
    writeFileSync(path, JSON.stringify(file));
    const changed = await gatewatch(['sites', 'import', path], { GATEWATCH_URL: b.base, API_TOKEN: TOKEN });
    expect(changed.stdout).toContain('0 created, 1 updated, 1 unchanged, 0 failed');
    expect(changed.stderr).toContain('updated blog (http://127.0.0.1:9/blog): failureThreshold');
    const after = (await api(b.base, 'GET', '/api/sites')).body.sites;
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ id: onB[1].id, failureThreshold: 7 });
  });

  it('reads the token file when API_TOKEN is not set, and says in one line when the token is wrong or nobody answers', async () => {
    const a = await service();
    const wrong = await gatewatch(['sites', 'export'], { GATEWATCH_URL: a.base, API_TOKEN: 'not-the-token-0123456789' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(/^gatewatch sites export: http:\/\/127\.0\.0\.1:\d+ refused the token \(401[^\n]*\n$/);

    const dir = mkdtempSync(join(tmpdir(), 'gw-cli-tok-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'api-token'), `${TOKEN}\n`);
    const fromFile = await gatewatch(['sites', 'export'], { GATEWATCH_URL: a.base, DATABASE_PATH: join(dir, 'gw.db') });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout).sites).toEqual([]);

    const refusing = await getRefusingPort();
    const down = await gatewatch(['sites', 'export'], { GATEWATCH_URL: `http://127.0.0.1:${refusing.port}`, API_TOKEN: TOKEN });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^gatewatch sites export: cannot reach Gatewatch at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)[^\n]*\n$/);
  });
});

describe('gatewatch --help and usage', () => {
  it('prints help on stdout with exit 0 for the program and every command', async () => {
    const program = await gatewatch(['--help']);
    expect(program.code).toBe(0);
    for (const command of ['token rotate', 'diagnose URL', 'sites export', 'sites import']) expect(program.stdout).toContain(command);
    for (const args of [['diagnose', '--help'], ['sites', '--help'], ['sites', 'import', '--help'], ['token', '--help']]) {
      const run = await gatewatch(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout, args.join(' ')).toMatch(/^usage: gatewatch /);
      expect(run.stderr).toBe('');
    }
    expect((await gatewatch(['diagnose', '--help'])).stdout).toMatch(/exit status:\n {2}0 .*\n {2}1 .*failure.*\n {2}2 +bad usage/);
  });

  it('an unknown command gets the usage on stderr and exit 2', async () => {
    for (const args of [['frobnicate'], [], ['sites', 'delete']]) {
      const run = await gatewatch(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('usage: gatewatch');
    }
  });
});
