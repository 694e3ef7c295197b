import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type TestServer } from './support/http-servers.js';
import { cleanEnv, killAll, REPO_ROOT, spawnTracked } from './support/proc.js';

// The real entry point as a child process, from any working directory (for its .env).
const MAIN = [process.execPath, '--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO_ROOT, 'src/main.ts')];

let dir: string | undefined;
let occupied: TestServer | undefined;
afterEach(async () => {
  await killAll();
  await occupied?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = occupied = undefined;
});

/** Runs main to its end; its whole output and exit code. */
async function runMain(env: Record<string, string | undefined>, cwd = REPO_ROOT) {
  const run = spawnTracked(MAIN, cleanEnv({ HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }), cwd);
  const code = await run.exited;
  return { code, log: run.log() };
}

/** One line, no stack trace. */
function expectOneLine(log: string) {
  const lines = log.trimEnd().split('\n');
  expect(lines, log).toHaveLength(1);
  expect(log).not.toMatch(/\n\s+at /);
  return lines[0];
}

describe('start-up failures: one clear line, non-zero exit, nothing written', () => {
  it('a port in use: names the port, writes no database and no token file', async () => {
    occupied = await listen(net.createServer(), '127.0.0.1');
    dir = mkdtempSync(join(tmpdir(), 'gw-start-'));
    const { code, log } = await runMain({ PORT: String(occupied.port), DATABASE_PATH: join(dir, 'data', 'gw.db') });
    expect(code).toBe(1);
    expect(expectOneLine(log)).toBe(`gatewatch: port ${occupied.port} is already in use (127.0.0.1:${occupied.port}): stop what listens there, or set PORT`);
    // No database, no token file, not even the data folder.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a database path that cannot be written: names the path', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-start-'));
    // A file where a folder should be: not writable whoever runs the test (root too).
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    const path = join(dir, 'not-a-folder', 'gw.db');
    const { code, log } = await runMain({ PORT: '0', DATABASE_PATH: path });
    expect(code).toBe(1);
    const line = expectOneLine(log);
    expect(line).toMatch(new RegExp(`^gatewatch: cannot open the database at ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(DATABASE_PATH\\): (ENOTDIR|EEXIST)`));
    expect(readdirSync(dir)).toEqual(['not-a-folder']);
  });

  it('a bad value in .env: names the variable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-start-'));
    writeFileSync(join(dir, '.env'), `# settings\nDATABASE_PATH=${join(dir, 'gw.db')}\nPORT=eighty\nALERT_TO=not an address\n`);
    const { code, log } = await runMain({}, dir);
    expect(code).toBe(2);
    const line = expectOneLine(log);
    expect(line).toMatch(/^gatewatch: invalid configuration: PORT: .*; ALERT_TO[.0-9]*: /);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('a line of .env that is not KEY=value: names the file and the line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-start-'));
    writeFileSync(join(dir, '.env'), `PORT=0\n\nSMTP_URL smtp://mail:25\n`);
    const { code, log } = await runMain({ DATABASE_PATH: join(dir, 'gw.db') }, dir);
    expect(code).toBe(2);
    expect(expectOneLine(log)).toBe('gatewatch: .env line 3 is not KEY=value: "SMTP_URL smtp://mail:25"');
    expect(readdirSync(dir)).toEqual(['.env']);
  });
});
