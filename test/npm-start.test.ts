/**
 * `npm start` as the README runs it: the bundle is built, node runs it with the GC settings of
 * package.json, and a SIGTERM sent to npm alone (not to its process group, as a supervisor or a
 * terminal's kill would) stops the service: npm forwards it to its child, which must be node
 * itself (`exec`), not a shell that would die and leave node running.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, killAll, spawnTracked } from './support/proc.js';
import { waitFor } from './support/wait.js';

let dir: string | undefined;
afterEach(async () => {
  await killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Process ids whose parent is `pid` (Linux). */
const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there is none
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  it('runs node with the GC settings as npm\'s own child and stops when npm gets SIGTERM', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-npm-start-'));
    const npm = spawnTracked(['npm', 'start', '--silent'], cleanEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATABASE_PATH: join(dir, 'gw.db') }));
    const base = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(npm.log())?.[1], {
      timeoutMs: 60_000,
      intervalMs: 50,
      message: 'the listening line',
    });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const [node] = childrenOf(npm.child.pid!);
    expect(node).toBeGreaterThan(0);
    const args = execFileSync('ps', ['-o', 'args=', '-p', String(node)], { encoding: 'utf8' }).trim();
    expect(args).toMatch(/^node .*--heap-growing-percent=25 .*dist\/main\.js$/);
    expect(args).toMatch(/^node .*--no-allocation-site-pretenuring .*dist\/main\.js$/);

    npm.child.kill('SIGTERM'); // npm only, not its group
    await npm.exited;
    await waitFor(() => !alive(node), { timeoutMs: 15_000, intervalMs: 50, message: 'node to exit after npm got SIGTERM' });
    expect(npm.log()).toContain('"signal":"SIGTERM"');
    expect(npm.log()).toContain('"msg":"stopped"');
  });
});
