import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthyServer, trackForCleanup } from './support/http-servers.js';
import { REPO_ROOT, cleanEnv, killAll, spawnService, spawnTracked } from './support/proc.js';
import { waitFor } from './support/wait.js';

const TOKEN = 'backup-token-0123456789abcdef';
const track = trackForCleanup();
let dir = '';
afterEach(async () => {
  await killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('gatewatch backup FILE', () => {
  it('copies a running instance while it probes; the copy opens and holds its sites and checks', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-backup-'));
    const dbPath = join(dir, 'gw.db');
    const healthy = track(await startHealthyServer());
    const svc = await spawnService({ DATABASE_PATH: dbPath, API_TOKEN: TOKEN });
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${svc.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    for (let i = 0; i < 5; i++) {
      const res = await call('POST', '/api/sites', { name: `s${i}`, url: healthy.url, intervalSeconds: 1, upstreams: [{ name: 'u', url: healthy.url }] });
      expect(res.status).toBe(201);
    }
    const checksNow = async () => (await call('GET', '/api/sites/1/checks?limit=1000')).body.checks.length as number;
    await waitFor(async () => (await checksNow()) >= 6, { timeoutMs: 30_000, message: 'checks recorded' });

    // Two backups while the instance keeps probing (every site each second).
    const file = join(dir, 'copy.db');
    for (const round of [1, 2]) {
      const cli = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'backup', file], cleanEnv({ DATABASE_PATH: dbPath }), dir);
      expect(await cli.exited, cli.log()).toBe(0);
      expect(cli.log()).toContain('written to');
      expect(existsSync(`${file}.partial`)).toBe(false);
      const copy = new Database(file, { readonly: true, fileMustExist: true });
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        expect((copy.prepare('SELECT COUNT(*) AS n FROM sites').get() as { n: number }).n).toBe(5);
        const checks = (copy.prepare('SELECT COUNT(*) AS n FROM raw_checks').get() as { n: number }).n;
        expect(checks, `backup ${round}`).toBeGreaterThanOrEqual(12);
        expect((copy.prepare('SELECT COUNT(*) AS n FROM __drizzle_migrations').get() as { n: number }).n).toBeGreaterThanOrEqual(4);
      } finally {
        copy.close();
      }
    }
    // The instance never stopped probing.
    const before = await checksNow();
    await waitFor(async () => (await checksNow()) > before, { timeoutMs: 30_000, message: 'probing goes on' });
    expect(svc.child.exitCode).toBeNull();

    // A bad invocation names the problem.
    const usage = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'backup'], cleanEnv({ DATABASE_PATH: dbPath }), dir);
    expect(await usage.exited).toBe(2);
    expect(usage.log()).toContain('gatewatch backup FILE');
    const missing = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'backup', join(dir, 'x.db')], cleanEnv({ DATABASE_PATH: join(dir, 'none.db') }), dir);
    expect(await missing.exited).toBe(1);
    expect(missing.log()).toContain('no database');
  }, 90_000);
});
