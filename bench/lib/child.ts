import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/shared/paths.js';
import type { TargetsCommand } from '../targets.js';

/** The forked load process (targets, DNS, API clients), one request/reply per command over IPC. */
export interface TargetsProcess {
  send<T = unknown>(body: TargetsCommand): Promise<T>;
  pid: number;
  stop(): Promise<void>;
}

export function forkTargets(): TargetsProcess {
  const child: ChildProcess = fork(join(packageRoot(), 'bench', 'targets.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new Error(msg.error));
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`targets process exited (${code})`));
    waiting.clear();
  });
  return {
    pid: child.pid!,
    send<T>(body: TargetsCommand) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, body });
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        await this.send({ cmd: 'stop' });
      } catch {
        /* already gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
