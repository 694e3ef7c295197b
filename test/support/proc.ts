/**
 * Runs the real service (`node --import tsx src/main.ts`) as a child process on loopback, port 0,
 * and finds its address in the listening log line. For tests that need a real process: crash
 * (SIGKILL), restart on the same database, CLI against a running service.
 *
 *   const svc = await spawnService({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TOKEN });
 *   await fetch(`${svc.base}/api/status`);
 *   svc.kill('SIGKILL'); await svc.exited;
 *
 * Call `killAll()` in afterEach: it SIGKILLs every child still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config.js';
import { waitFor } from './wait.js';

/** The repository root: where `src/main.ts` and `bin/gatewatch.js` live. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const running = new Set<ChildProcess>();

/**
 * The parent's environment without any Gatewatch variable (so that a developer's or CI's own
 * settings never leak into a test), plus `env`.
 */
export function cleanEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(configSchema.shape)) delete out[key];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}

export interface SpawnedService {
  child: ChildProcess;
  pid: number;
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  /** Everything the process wrote so far (stdout and stderr, interleaved). */
  log(): string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Signals the child's whole process group (npm -> sh -> node included), by the child's id. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Starts a child process in its own process group and keeps track of it for `killAll()`. */
export function spawnTracked(args: string[], env: NodeJS.ProcessEnv, cwd = REPO_ROOT) {
  const child = spawn(args[0], args.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | string | null>((resolveExit) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolveExit(code ?? signal);
    }),
  );
  return { child, exited, log: () => log };
}

/**
 * Spawns the service with `env` (PORT=0, HOST=127.0.0.1 and LOG_LEVEL=info unless given) and
 * waits for its listening line. Throws with the log when it exits or does not listen in time.
 */
export async function spawnService(env: Record<string, string | undefined>, { timeoutMs = 30_000 } = {}): Promise<SpawnedService> {
  const { child, exited, log } = spawnTracked(
    [process.execPath, '--import', 'tsx', 'src/main.ts'],
    cleanEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  let base: string;
  try {
    base = await waitFor(
      () => {
        if (ended) throw new Error(`the service exited before listening:\n${log()}`);
        return /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log())?.[1];
      },
      { timeoutMs, intervalMs: 20, message: 'the listening line' },
    );
  } catch (error) {
    signalGroup(child, 'SIGKILL');
    throw new Error(`${(error as Error).message}\n--- log ---\n${log()}`);
  }
  return {
    child,
    pid: child.pid!,
    base,
    port: Number(new URL(base).port),
    log,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => signalGroup(child, signal),
  };
}

/** SIGKILLs every child started here that is still running (with its group), and waits for them to end. */
export async function killAll(): Promise<void> {
  const list = [...running];
  await Promise.all(
    list.map(
      (child) =>
        new Promise<void>((resolveKill) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolveKill();
          child.once('exit', () => resolveKill());
          signalGroup(child, 'SIGKILL');
        }),
    ),
  );
}
