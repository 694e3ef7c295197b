/**
 * A real HAProxy (2.6) for end-to-end tests, from its own configuration in a temp dir, in the
 * foreground (`-db`), listening on 127.0.0.1 and forwarding every request to one upstream
 * address. Short connect and server time-outs make upstream failures show within one probe.
 *
 *   const gw = await startHaproxy({ upstreamHost: '127.0.0.1', upstreamPort: 8081 });
 *   await fetch(gw.url);         // proxied to http://127.0.0.1:8081/
 *   await gw.stop();             // in afterEach: no haproxy left behind
 *   const again = await startHaproxy({ ...gw.options, port: gw.port });  // back on the same port
 *
 * HAProxy must be installed (Debian: `apt-get install -y haproxy`): without it `startHaproxy`
 * throws, so a test depending on it fails instead of skipping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { freePort } from './ports.js';

export interface HaproxyOptions {
  /** An IP address: HAProxy resolves server names once, at start, through the system resolver. */
  upstreamHost: string;
  upstreamPort: number;
  /** Listen port on 127.0.0.1; default a free one. */
  port?: number;
  /** `timeout connect`, ms. Default 1000. */
  connectTimeoutMs?: number;
  /** `timeout server`, ms. Default 2000. */
  serverTimeoutMs?: number;
}

export interface Haproxy {
  url: string;
  port: number;
  pid: number;
  readonly options: HaproxyOptions;
  /** What HAProxy printed (warnings, alerts). */
  output(): string;
  /** SIGTERM, then SIGKILL; removes the directory. Idempotent. */
  stop(): Promise<void>;
}

const BINARY = '/usr/sbin/haproxy';

function renderConfig(port: number, o: HaproxyOptions): string {
  return `# written by test/support/haproxy.ts
global
  maxconn 256
defaults
  mode http
  timeout connect ${o.connectTimeoutMs ?? 1000}ms
  timeout client 10s
  timeout server ${o.serverTimeoutMs ?? 2000}ms
  # One retry: a dead upstream is answered within two connect time-outs, inside the probe's deadline.
  retries 1
frontend site
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server app-1 ${o.upstreamHost}:${o.upstreamPort}
`;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(true));
      res.on('error', () => resolve(true));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });

/** Starts HAProxy; resolves once it answers on its port (whatever its upstream does). */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  try {
    accessSync(BINARY, constants.X_OK);
  } catch {
    throw new Error(`HAProxy not found at ${BINARY}: install it with \`apt-get install -y haproxy\` (its service need not run)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-haproxy-'));
  const port = options.port ?? (await freePort());
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, renderConfig(port, options));
  let output = '';
  const child: ChildProcess = spawn(BINARY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  const kill = process.once.bind(process, 'exit', () => child.kill('SIGKILL'));
  kill();
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const gone = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
        if (!gone) {
          child.kill('SIGKILL');
          await exit;
        }
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      rmSync(dir, { recursive: true, force: true });
    })());
  const up = await waitFor(async () => exited || (await answers(port)), {
    timeoutMs: 10_000,
    intervalMs: 25,
    message: `HAProxy to answer on 127.0.0.1:${port}`,
  }).catch((error: Error) => error);
  if (up !== true || exited) {
    await stop();
    throw new Error(`HAProxy did not start (${up instanceof Error ? up.message : 'exited'}):\n${output.trim()}`);
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    pid: child.pid!,
    options: { ...options, port },
    output: () => output,
    stop,
  };
}
