/**
 * HAProxy, Apache httpd and Caddy for end-to-end tests, each started from its own configuration in
 * a temp dir, listening on a free port of 127.0.0.1, proxying every path to one upstream on
 * 127.0.0.1, and writing its error log to a file there (HAProxy: `log stdout` with the process's
 * stdout redirected to the file; Apache: `ErrorLog`; Caddy: its JSON log). nginx has its own
 * harness (test/support/nginx.ts; its error log is `<dir>/error.log`).
 *
 *   const gw = await startGateway('haproxy', { upstreamPort: up.port, timeoutSeconds: 1 });
 *   await fetch(gw.url); gw.log();
 *   await gw.stop();
 *   const again = await startGateway(gw.kind, gw.options);   // back on the same port
 *
 * The products must be installed (Debian: haproxy, apache2, caddy); without them this throws.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { freePort } from './ports.js';

export type GatewayKind = 'haproxy' | 'apache' | 'caddy';

export interface GatewayOptions {
  upstreamPort: number;
  /** How long the gateway waits for the upstream's response headers (and its connect), seconds. */
  timeoutSeconds: number;
  /** How long it waits for the upstream's connect, ms, when that should be shorter. Default `timeoutSeconds`. */
  connectTimeoutMs?: number;
  /** HAProxy's `retries` (connect attempts after the first). Default 0. */
  retries?: number;
  /** Listen port on 127.0.0.1, e.g. a stopped gateway's to start it again there; default a free one. */
  port?: number;
}

export interface Gateway {
  kind: GatewayKind;
  url: string;
  port: number;
  dir: string;
  /** What it was started with, `port` included: `startGateway(gw.kind, gw.options)` starts it again on the same port. */
  readonly options: GatewayOptions;
  /** The file the gateway writes its error log to. */
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

const readLog = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Any answer on a fresh connection: the gateway listens. */
const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/__up', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(true));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function config(kind: GatewayKind, dir: string, port: number, logFile: string, o: GatewayOptions): { file: string; args: string[] } {
  const upstream = `127.0.0.1:${o.upstreamPort}`;
  const connectMs = o.connectTimeoutMs ?? o.timeoutSeconds * 1000;
  if (kind === 'haproxy') {
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(
      file,
      `global
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout connect ${connectMs}ms
  timeout client 10s
  timeout server ${o.timeoutSeconds}s
  retries ${o.retries ?? 0}
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server app-1 ${upstream}
`,
    );
    return { file, args: ['-f', file, '-db'] };
  }
  if (kind === 'apache') {
    const file = join(dir, 'httpd.conf');
    const mod = (name: string, so: string) => `LoadModule ${name}_module /usr/lib/apache2/modules/${so}`;
    writeFileSync(
      file,
      `ServerRoot ${dir}
ServerName localhost
${mod('mpm_event', 'mod_mpm_event.so')}
${mod('authz_core', 'mod_authz_core.so')}
${mod('proxy', 'mod_proxy.so')}
${mod('proxy_http', 'mod_proxy_http.so')}
PidFile ${dir}/httpd.pid
Mutex file:${dir} default
ErrorLog ${logFile}
LogLevel warn
Listen 127.0.0.1:${port}
ProxyPass "/" "http://${upstream}/" connectiontimeout=${connectMs}ms timeout=${o.timeoutSeconds} retry=0
`,
    );
    return { file, args: ['-f', file, '-DFOREGROUND'] };
  }
  const file = join(dir, 'caddy.json');
  writeFileSync(
    file,
    JSON.stringify({
      admin: { disabled: true },
      logging: { logs: { default: { writer: { output: 'file', filename: logFile }, encoder: { format: 'json' }, level: 'INFO' } } },
      storage: { module: 'file_system', root: join(dir, 'data') },
      apps: {
        http: {
          servers: {
            gw: {
              listen: [`127.0.0.1:${port}`],
              automatic_https: { disable: true },
              logs: {},
              routes: [
                {
                  handle: [
                    {
                      handler: 'reverse_proxy',
                      upstreams: [{ dial: upstream }],
                      transport: {
                        protocol: 'http',
                        dial_timeout: `${connectMs}ms`,
                        response_header_timeout: `${o.timeoutSeconds}s`,
                      },
                    },
                  ],
                },
              ],
            },
          },
        },
      },
    }),
  );
  return { file, args: ['run', '--config', file] };
}

const BINARIES: Record<GatewayKind, string> = { haproxy: '/usr/sbin/haproxy', apache: '/usr/sbin/apache2', caddy: '/usr/bin/caddy' };

/** Starts the gateway (on a free port unless `options.port`); resolves once it answers. See the file's comment. */
export async function startGateway(kind: GatewayKind, options: GatewayOptions): Promise<Gateway> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), `gw-${kind}-`));
    const logFile = join(dir, kind === 'caddy' ? 'caddy.log' : 'error.log');
    const port = options.port ?? (await freePort());
    const { args } = config(kind, dir, port, logFile, options);
    // HAProxy logs to its stdout: the file is its stdout, as `haproxy ... >> error.log` would do.
    const out = openSync(kind === 'haproxy' ? logFile : join(dir, 'stdout.log'), 'a');
    const child = spawn(BINARIES[kind], args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, APACHE_RUN_DIR: dir },
    });
    closeSync(out);
    running.add(child);
    let exited: string | null = null;
    const exit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exited = `exited with ${code ?? signal}`;
        running.delete(child);
        resolve();
      });
      child.once('error', (error) => {
        exited = `could not start: ${error.message}`;
        running.delete(child);
        resolve();
      });
    });
    const ok = await waitFor(async () => exited !== null || (await answers(port)), {
      timeoutMs: 10_000,
      intervalMs: 25,
      message: `${kind} to answer on 127.0.0.1:${port}`,
    }).catch(() => false);
    const said = () => `${readLog(join(dir, 'stdout.log'))}${readLog(logFile)}`;
    if (exited === null && ok === true) {
      let stopping: Promise<void> | null = null;
      return {
        kind,
        url: `http://127.0.0.1:${port}/`,
        port,
        dir,
        options: { ...options, port },
        logFile,
        log: () => readLog(logFile),
        stop() {
          stopping ??= (async () => {
            if (exited === null) {
              child.kill('SIGTERM');
              const gone = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
              if (!gone) {
                child.kill('SIGKILL');
                await exit;
              }
            }
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    if (exited === null) child.kill('SIGKILL');
    await exit;
    const text = said();
    rmSync(dir, { recursive: true, force: true });
    if (attempt < 5 && /in use|bind/i.test(text)) continue;
    throw new Error(`${kind} did not start (${exited ?? 'no answer'}):\n${text.trim()}`);
  }
}
