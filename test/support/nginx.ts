/**
 * A real nginx for end-to-end tests: its own prefix directory (config, pid, logs, temp paths) in
 * a temp dir, listening on a free port of 127.0.0.1, proxying every path to one upstream.
 *
 *   const dns = await startDnsServer();
 *   dns.setA('app.e2e.test', ['127.0.0.1']);
 *   const gw = await startNginx({ upstreamHost: 'app.e2e.test', upstreamPort: 8081, resolverPort: dns.port });
 *   await fetch(gw.url);                              // proxied to http://app.e2e.test:8081/
 *   await gw.reload({ upstreamPort: 9 });             // new config, served once this resolves
 *   gw.errorLog();                                    // what nginx said about its upstream
 *   await gw.stop();                                  // in afterEach/afterAll: no nginx left behind
 *
 * With `resolverPort`, nginx resolves the upstream name through that DNS server on 127.0.0.1 and
 * again every `resolverValidSeconds` (a `resolver` directive and a variable in proxy_pass: without
 * both, nginx resolves the name once, at start-up). Short connect/read time-outs make upstream
 * time-outs show within one probe.
 *
 * nginx must be installed (Debian: `apt-get install -y nginx`): without it `startNginx` throws,
 * so that a test depending on it fails instead of silently skipping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './wait.js';
import { freePort } from './ports.js';

export interface NginxOptions {
  /** Name or address nginx proxies to. */
  upstreamHost: string;
  upstreamPort: number;
  /** Port of a DNS server on 127.0.0.1 that nginx asks for `upstreamHost`; absent: resolved once at start. */
  resolverPort?: number;
  /** How long nginx keeps an answer (overrides its TTL). Default 1. */
  resolverValidSeconds?: number;
  /** proxy_connect_timeout, seconds. Default 1. */
  connectTimeoutSeconds?: number;
  /** proxy_read_timeout (and send), seconds. Default 2. */
  readTimeoutSeconds?: number;
  /** Listen on this port of 127.0.0.1 (e.g. to start again where a stopped nginx was); default a free one. */
  listenPort?: number;
}

export interface Nginx {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  /** The prefix directory (config, logs, pid, temp paths). */
  dir: string;
  /** pid of the master process. */
  pid: number;
  /** The options the running configuration was written from. */
  readonly options: NginxOptions;
  /**
   * Rewrites the configuration with `changes` merged into the current options, makes the master
   * reload it (SIGHUP) and resolves once a new connection is served by the new configuration.
   */
  reload(changes: Partial<NginxOptions>): Promise<void>;
  /** The error log so far ('' when empty). */
  errorLog(): string;
  /** Stops master and workers (SIGTERM, then SIGKILL) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary: a well-known path or the first `nginx` on PATH. Throws when there is none. */
export function findNginx(): string {
  const onPath = (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'nginx'));
  for (const file of [...CANDIDATES, ...onPath]) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  throw new Error(
    `nginx not found (looked in ${CANDIDATES.join(', ')} and PATH): the end-to-end gateway tests need it. ` +
      'Install it with `apt-get install -y nginx` (its service does not need to run).',
  );
}

/** Every process whose parent is `pid` (nginx's workers), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Whether `pid` is still an nginx worker (and not a process that got its pid since). */
function isNginxWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nginx: worker');
  } catch {
    return false;
  }
}

const killQuietly = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
};

/** Masters still running in this process, killed outright if the test process exits first. */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    for (const child of childrenOf(pid)) killQuietly(child, 'SIGKILL');
    killQuietly(pid, 'SIGKILL');
  }
});

function renderConfig(dir: string, port: number, generation: number, o: NginxOptions): string {
  const upstream = `http://${o.upstreamHost}:${o.upstreamPort}`;
  const proxy =
    o.resolverPort === undefined
      ? [`proxy_pass ${upstream};`]
      : [
          `resolver 127.0.0.1:${o.resolverPort} valid=${o.resolverValidSeconds ?? 1}s ipv6=off;`,
          'resolver_timeout 1s;',
          // A variable makes nginx resolve the name per request (through the cache above).
          `set $up ${upstream};`,
          'proxy_pass $up;',
        ];
  const readTimeout = o.readTimeoutSeconds ?? 2;
  return `# written by test/support/nginx.ts (generation ${generation})
${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body_temp;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  default_type text/plain;
  server {
    listen 127.0.0.1:${port};
    server_name _;
    # Which configuration serves: reload() waits for its generation here.
    location = /__generation { return 200 "${generation}"; }
    location / {
      ${proxy.join('\n      ')}
      proxy_connect_timeout ${o.connectTimeoutSeconds ?? 1}s;
      proxy_read_timeout ${readTimeout}s;
      proxy_send_timeout ${readTimeout}s;
    }
  }
}
`;
}

/** The configuration generation served on a fresh connection (never a pooled one), or null. */
function servedGeneration(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/__generation', agent: false, timeout: 1000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(res.statusCode === 200 ? Number(text) : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** Starts nginx on a free port of 127.0.0.1; resolves once it answers. See the file's comment. */
export async function startNginx(initial: NginxOptions): Promise<Nginx> {
  const binary = findNginx();
  const dir = mkdtempSync(join(tmpdir(), 'gw-nginx-'));
  for (const sub of ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp']) mkdirSync(join(dir, sub));
  const configFile = join(dir, 'nginx.conf');
  const errorLogFile = join(dir, 'error.log');
  let options = { ...initial };
  let generation = 1;

  // A free port can be taken between finding it and nginx binding it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = initial.listenPort ?? (await freePort());
    writeFileSync(configFile, renderConfig(dir, port, generation, options));
    let output = '';
    // -e: the error log from the very start (before the config is read), not /var/log/nginx.
    const child: ChildProcess = spawn(binary, ['-p', dir, '-c', configFile, '-e', errorLogFile, '-g', 'daemon off;'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    let exited: string | null = null;
    const exit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exited = `exited with ${code ?? signal}`;
        resolve();
      });
      child.once('error', (error) => {
        exited = `could not start: ${error.message}`;
        resolve();
      });
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);

    const served = await waitFor(async () => exited !== null || (await servedGeneration(port)) === generation, {
      timeoutMs: 10_000,
      intervalMs: 25,
      message: `nginx to answer on 127.0.0.1:${port}`,
    }).catch((error: Error) => error);

    if (exited === null && served === true) {
      return handle(binary, dir, port, pid!, child, exit, () => options, (next) => (options = next), () => ++generation);
    }
    if (pid !== undefined) {
      for (const worker of childrenOf(pid)) killQuietly(worker, 'SIGKILL');
      killQuietly(pid, 'SIGKILL');
      running.delete(pid);
    }
    await exit;
    const log = `${output}${readLog(errorLogFile)}`;
    if (attempt < 5 && initial.listenPort === undefined && /Address already in use/.test(log)) continue;
    rmSync(dir, { recursive: true, force: true });
    const why = served instanceof Error ? served.message : exited;
    throw new Error(`nginx did not start (${why}):\n${log.trim()}`);
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function handle(
  binary: string,
  dir: string,
  port: number,
  pid: number,
  child: ChildProcess,
  exit: Promise<void>,
  getOptions: () => NginxOptions,
  setOptions: (o: NginxOptions) => void,
  nextGeneration: () => number,
): Nginx {
  const configFile = join(dir, 'nginx.conf');
  const errorLogFile = join(dir, 'error.log');
  let stopping: Promise<void> | null = null;
  let alive = true;
  // Workers seen so far: should the master die on its own, they would outlive it, orphaned.
  const workers = new Set<number>();
  const noteWorkers = () => childrenOf(pid).forEach((w) => workers.add(w));
  noteWorkers();
  void exit.then(() => {
    alive = false;
    running.delete(pid);
  });

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    dir,
    pid,
    get options() {
      return getOptions();
    },
    async reload(changes) {
      if (!alive) throw new Error(`nginx (pid ${pid}) is not running:\n${readLog(errorLogFile)}`);
      const next = { ...getOptions(), ...changes };
      const generation = nextGeneration();
      writeFileSync(configFile, renderConfig(dir, port, generation, next));
      setOptions(next);
      const old = childrenOf(pid).filter(isNginxWorker);
      // Same as `nginx -s reload`, which reads the pid file and sends this signal.
      process.kill(pid, 'SIGHUP');
      // Served by the new configuration, and no old worker still accepting connections (each
      // logs "gracefully shutting down" when it closes its listeners, then finishes what it has).
      const retired = (worker: number) =>
        !isNginxWorker(worker) || new RegExp(`\\b${worker}#\\d+: gracefully shutting down`).test(readLog(errorLogFile));
      await waitFor(async () => old.every(retired) && (await servedGeneration(port)) === generation, {
        timeoutMs: 10_000,
        intervalMs: 25,
        message: `nginx (${binary}) to serve configuration generation ${generation}`,
      }).catch((error: Error) => {
        throw new Error(`${error.message}; error log:\n${readLog(errorLogFile)}`);
      });
      noteWorkers();
    },
    errorLog: () => readLog(errorLogFile),
    stop() {
      stopping ??= (async () => {
        if (alive) {
          noteWorkers();
          // SIGTERM is nginx's fast shutdown: it does not wait for open upstream requests.
          killQuietly(pid, 'SIGTERM');
          const gone = await Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
          if (!gone) {
            noteWorkers();
            killQuietly(pid, 'SIGKILL');
            await exit;
          }
        }
        for (const w of workers) if (isNginxWorker(w)) killQuietly(w, 'SIGKILL');
        child.stdout?.destroy();
        child.stderr?.destroy();
        running.delete(pid);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
