import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthyServer, type TestServer } from './support/http-servers.js';
import { waitFor } from './support/wait.js';

let child: ChildProcess | undefined;
let server: TestServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('main', () => {
  it('boots on port 0 with a temp database, generates a token file, takes a site and stops on SIGTERM', async () => {
    server = await startHealthyServer();
    dir = mkdtempSync(join(tmpdir(), 'gw-boot-'));
    let log = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_PATH: join(dir, 'db', 'gw.db'), LOG_LEVEL: 'info', API_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const base = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)?.[1], { timeoutMs: 30_000, message: 'the listening line' });
    const tokenFile = join(dir, 'db', 'api-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(log).toContain(tokenFile);
    expect(log).not.toContain(token);

    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/api/sites`, { method: 'POST', headers, body: JSON.stringify({ name: 'boot', url: server.url, intervalSeconds: 1 }) });
    expect(created.status).toBe(201);
    const site = (await created.json()) as { id: number };
    await waitFor(
      async () => {
        const res = await fetch(`${base}/api/status/${site.id}`);
        return ((await res.json()) as { state: string }).state === 'up';
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'the site to be up' },
    );

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).not.toContain(token);
  });

  it('refuses to start on a bad configuration value and names it', async () => {
    let log = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: 'eighty', DATABASE_PATH: ':memory:' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (d) => (log += d));
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(log).toContain('PORT');
  });
});
