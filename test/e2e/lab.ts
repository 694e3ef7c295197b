/**
 * The gateway lab for end-to-end scenarios: a DNS server, an upstream whose behaviour the test
 * switches at runtime, a real nginx in front of it, and Gatewatch (scheduler running) watching
 * the site through nginx and the upstream directly, both names resolved through that DNS server.
 *
 *   users / Gatewatch ──> shop.e2e.test:NGINX ──> nginx ──> app.e2e.test:UP (the upstream)
 *   Gatewatch ─────────────────────────────────────────────> app.e2e.test:UP/health
 *
 *   const lab = await startLab();
 *   await lab.waitForRounds(5, (c) => c.outcome === 'ok');   // a healthy baseline
 *   await lab.upstream.stop();                                // break the path
 *   const incident = await lab.waitForOpenIncident();
 *   await lab.close();
 *
 * Every wait throws with the recorded timeline (checks, oldest first) and nginx's error log, so a
 * failure says what Gatewatch saw.
 */
import http from 'node:http';
import type net from 'node:net';
import { startBlackhole, type Blackhole } from '../support/blackhole.js';
import { startDnsServer, type DnsServer } from '../support/dns-server.js';
import { startGateway, type Gateway } from '../support/gateways.js';
import { listen, type TestServer } from '../support/http-servers.js';
import { startNginx, type Nginx, type NginxOptions } from '../support/nginx.js';
import { createTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';

export const SITE_HOST = 'shop.e2e.test';
export const UPSTREAM_HOST = 'app.e2e.test';

/** How the upstream answers each request. */
export type UpstreamMode =
  /** 200 "ok" after `delayMs` (default 0). */
  | { kind: 'healthy'; delayMs?: number }
  /** Reads the request, waits `afterMs`, then resets the connection (TCP RST) without a byte. */
  | { kind: 'reset'; afterMs: number }
  /** A status line followed by a header line without a colon (nginx: "upstream sent invalid header"). */
  | { kind: 'broken' };

export interface SwitchableUpstream {
  url: string;
  host: string;
  port: number;
  mode: UpstreamMode;
  set(mode: UpstreamMode): void;
  /** Closes the listener and every connection: connects are refused from now on. */
  stop(): Promise<void>;
  /**
   * Closes the listener and makes connects to its port hang, as a firewall dropping packets does
   * (test/support/blackhole.ts); `start()` undoes it.
   */
  blackhole(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** An HTTP upstream on `host` whose behaviour `set()` switches at runtime; `stop()`/`start()` the listener. */
export async function startSwitchableUpstream(host = '127.0.0.1', initial: UpstreamMode = { kind: 'healthy' }): Promise<SwitchableUpstream> {
  let mode = initial;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const handler: http.RequestListener = (req, res) => {
    const socket = req.socket as net.Socket;
    socket.on('error', () => {});
    const current = mode;
    switch (current.kind) {
      case 'healthy':
        later(current.delayMs ?? 0, () => {
          if (res.destroyed) return;
          res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
          res.end('ok');
        });
        return;
      case 'reset':
        later(current.afterMs, () => socket.resetAndDestroy());
        return;
      case 'broken':
        // Written past Node's HTTP layer, which would never send this.
        socket.end('HTTP/1.1 200 OK\r\nBroken header line\r\n\r\n');
        return;
    }
  };

  let server: TestServer = await listen(http.createServer(handler), host);
  const port = server.port;
  let stopped = false;
  let hole: Blackhole | undefined;
  const upstream: SwitchableUpstream = {
    url: server.url,
    host,
    port,
    get mode() {
      return mode;
    },
    set(next) {
      mode = next;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await server.close();
    },
    async blackhole() {
      hole ??= await startBlackhole(host, port, () => upstream.stop());
    },
    async start() {
      await hole?.close();
      hole = undefined;
      if (!stopped) return;
      server = await listen(http.createServer(handler), host, 'http', port);
      stopped = false;
    },
    async close() {
      await hole?.close();
      hole = undefined;
      await upstream.stop();
    },
  };
  return upstream;
}

/** A check row as `GET /api/sites/:id/checks` shows it (the fields the scenarios read). */
export interface CheckView {
  id: number;
  target: string;
  targetName: string;
  startedAt: number;
  outcome: string;
  statusCode: number | null;
  errorMessage: string | null;
  addresses: string[];
  address: string | null;
  connectMs: number | null;
  ttfbMs: number | null;
  totalMs: number | null;
  gateway: string | null;
}

export interface LabOptions {
  /** Upstream behaviour at the start. */
  upstream?: UpstreamMode;
  /** The gateway in front of the upstream: nginx (default) or HAProxy (test/support/gateways.ts). */
  gateway?: 'nginx' | 'haproxy';
  nginx?: Partial<NginxOptions>;
  /** Site fields on top of the lab's defaults (1 s interval, thresholds 3/2, 3 s time-out). */
  site?: Record<string, unknown>;
}

/** The gateway process, whichever product it is. */
export interface LabGateway {
  kind: 'nginx' | 'haproxy';
  port: number;
  /** Stops it: nothing listens on its port any more. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same configuration. */
  start(): Promise<void>;
  /** Its error log (nginx) or log output (HAProxy). */
  log(): string;
}

export interface Lab {
  dns: DnsServer;
  upstream: SwitchableUpstream;
  /** The nginx in front (throws in a lab started with `gateway: 'haproxy'`). */
  nginx: Nginx;
  gateway: LabGateway;
  t: TestService;
  /** The site as created (id, upstreams with ids). */
  site: { id: number; upstreams: { id: number; name: string }[] } & Record<string, unknown>;
  /** The upstream app-1's id, as checks name it in `target`. */
  upstreamTarget: string;
  /** Checks of the site, oldest first. */
  checks(): Promise<CheckView[]>;
  /** The site's checks (target 'site') started after `since`, oldest first. */
  siteChecksSince(since: number): Promise<CheckView[]>;
  /** Waits for `n` site checks, started from now on, that match `match`; returns them. */
  waitForRounds(n: number, match?: (c: CheckView) => boolean, opts?: { timeoutMs?: number; message?: string }): Promise<CheckView[]>;
  /** Waits until the site's state is `state`. */
  waitForState(state: string, timeoutMs?: number): Promise<void>;
  /** Waits for the site's open incident (list entry with topCause). */
  waitForOpenIncident(timeoutMs?: number): Promise<any>;
  /** Waits until the incident is resolved and the site is `up`; returns the incident detail. */
  waitForResolved(incidentId: number, timeoutMs?: number): Promise<any>;
  /** The recorded timeline and nginx's error log, for failure messages. */
  report(): Promise<string>;
  close(): Promise<void>;
}

/** A check that came back `ok`. */
export const ok = (c: CheckView) => c.outcome === 'ok';

/** A healthy baseline: the site up after `rounds` good rounds. */
export async function healthyBaseline(l: Lab, rounds: number) {
  await l.waitForRounds(rounds, ok, { message: `${rounds} healthy rounds` });
  // Waited for, not asserted at once: one slow check on a busy machine may show `degraded` for a round.
  await l.waitForState('up');
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function formatChecks(checks: CheckView[]): string {
  return checks
    .map((c) =>
      [
        time(c.startedAt),
        c.target === 'site' ? 'site ' : `up:${c.targetName}`,
        c.outcome.padEnd(16),
        c.statusCode ?? '-',
        `addr=${c.address ?? '-'}`,
        `connect=${c.connectMs ?? '-'}`,
        `ttfb=${c.ttfbMs ?? '-'}`,
        `total=${c.totalMs ?? '-'}`,
        c.gateway ? `gw=${c.gateway}` : '',
        c.errorMessage ?? '',
      ].join(' '),
    )
    .join('\n');
}

/** Starts DNS, upstream, nginx and Gatewatch, and adds the site; see the file's comment. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const started: { close(): Promise<void> }[] = [];
  try {
    const dns = await startDnsServer();
    started.push(dns);
    const upstream = await startSwitchableUpstream('127.0.0.1', options.upstream);
    started.push(upstream);
    dns.setA(UPSTREAM_HOST, ['127.0.0.1']);
    dns.setA(SITE_HOST, ['127.0.0.1']);
    const gateway = options.gateway === 'haproxy' ? await haproxyGateway(upstream.port) : await nginxGateway(upstream.port, dns.port, options.nginx);
    started.push({ close: () => gateway.stop() });
    const nginx = gateway.nginx;
    const t = createTestService({ DNS_SERVERS: dns.servers.join(',') });
    started.push({ close: () => t.close() });
    t.svc.scheduler.start();

    const created = await t.call('POST', '/api/sites', {
      name: 'shop',
      url: `http://${SITE_HOST}:${gateway.port}/`,
      upstreams: [{ name: 'app-1', url: `http://${UPSTREAM_HOST}:${upstream.port}/health` }],
      intervalSeconds: 1,
      // Above nginx's proxy_read_timeout (2 s), so a stalled upstream shows as nginx's answer.
      timeoutMs: 3000,
      failureThreshold: 3,
      recoveryThreshold: 2,
      ...options.site,
    });
    if (created.status !== 201) throw new Error(`could not add the site: ${created.status} ${JSON.stringify(created.body)}`);
    const site = created.body;
    const upstreamTarget = String(site.upstreams[0].id);

    const checks = async (): Promise<CheckView[]> => {
      const res = await t.call('GET', `/api/sites/${site.id}/checks?limit=1000`);
      return (res.body.checks as CheckView[]).slice().reverse();
    };
    const siteChecksSince = async (since: number) =>
      (await checks()).filter((c) => c.target === 'site' && c.startedAt > since);
    const report = async () => {
      const all = await checks().catch(() => []);
      const incidents = await t.call('GET', `/api/incidents?siteId=${site.id}`).catch(() => null);
      return [
        `checks (oldest first):\n${formatChecks(all)}`,
        `incidents: ${JSON.stringify(incidents?.body?.incidents?.map((i: any) => ({ id: i.id, state: i.state, kind: i.kind, causes: i.causes.map((c: any) => `${c.code} ${c.confidence}: ${c.summary}`) })), null, 2)}`,
        `${gateway.kind} log (last lines):\n${gateway.log().split('\n').filter((l) => !/\[notice\]|\[info\].*(closed keepalive|client \S+ closed)/.test(l)).slice(-25).join('\n')}`,
      ].join('\n\n');
    };
    /** waitFor, with the lab's report in the error. */
    const wait = async <T>(condition: () => Promise<T | null>, timeoutMs: number, message: string): Promise<T> => {
      try {
        return (await waitFor(condition, { timeoutMs, intervalMs: 100, message })) as T;
      } catch (error) {
        throw new Error(`${(error as Error).message}\n\n${await report()}`);
      }
    };

    return {
      dns,
      upstream,
      get nginx(): Nginx {
        if (!nginx()) throw new Error('this lab runs HAProxy, not nginx');
        return nginx()!;
      },
      gateway,
      t,
      site,
      upstreamTarget,
      checks,
      siteChecksSince,
      report,
      async waitForRounds(n, match = () => true, opts = {}) {
        const since = Date.now();
        return wait(
          async () => {
            const recent = (await siteChecksSince(since)).filter(match);
            return recent.length >= n ? recent : null;
          },
          opts.timeoutMs ?? 30_000,
          opts.message ?? `${n} matching rounds`,
        );
      },
      async waitForState(state, timeoutMs = 10_000) {
        await wait(
          async () => ((await t.call('GET', `/api/sites/${site.id}`)).body.state === state ? true : null),
          timeoutMs,
          `the site ${state}`,
        );
      },
      waitForOpenIncident(timeoutMs = 30_000) {
        return wait(
          async () => (await t.call('GET', `/api/incidents?siteId=${site.id}&state=open`)).body.incidents[0] ?? null,
          timeoutMs,
          'an open incident',
        );
      },
      async waitForResolved(incidentId, timeoutMs = 30_000) {
        return wait(
          async () => {
            const incident = (await t.call('GET', `/api/incidents/${incidentId}`)).body;
            const state = (await t.call('GET', `/api/sites/${site.id}`)).body.state;
            return incident.state === 'resolved' && state === 'up' ? incident : null;
          },
          timeoutMs,
          `incident ${incidentId} resolved and the site up`,
        );
      },
      async close() {
        for (const s of started.reverse()) await s.close().catch(() => {});
      },
    };
  } catch (error) {
    for (const s of started.reverse()) await s.close().catch(() => {});
    throw error;
  }
}

type GatewayHandle = LabGateway & { nginx: () => Nginx | undefined };

/** A gateway process that stops and starts again (through `again`, from the stopped one) on one port. */
function restartable<G extends { port: number; stop(): Promise<void> }>(kind: LabGateway['kind'], first: G, log: (g: G) => string, again: (stopped: G) => Promise<G>) {
  let current: G | undefined = first;
  let stopped = first;
  let lastLog = '';
  return {
    kind,
    port: first.port,
    current: () => current,
    async stop() {
      if (!current) return;
      stopped = current;
      lastLog = log(current);
      await current.stop();
      current = undefined;
    },
    async start() {
      current ??= await again(stopped);
    },
    log: () => (current ? log(current) : lastLog),
  };
}

/** nginx in front of the upstream name, resolved through the lab's DNS server; stop/start on one port. */
async function nginxGateway(upstreamPort: number, resolverPort: number, extra: Partial<NginxOptions> = {}): Promise<GatewayHandle> {
  const first = await startNginx({ upstreamHost: UPSTREAM_HOST, upstreamPort, resolverPort, ...extra });
  const handle = restartable('nginx', first, (g) => g.errorLog(), (g) => startNginx({ ...g.options, listenPort: g.port }));
  return { ...handle, nginx: handle.current };
}

/**
 * HAProxy in front of the upstream's address (it resolves server names only at start). Connect time-out 1 s
 * and one retry: a dead upstream is answered within two connect time-outs, inside the probe's deadline.
 */
async function haproxyGateway(upstreamPort: number): Promise<GatewayHandle> {
  const first: Gateway = await startGateway('haproxy', { upstreamPort, timeoutSeconds: 2, connectTimeoutMs: 1000, retries: 1 });
  const handle = restartable('haproxy', first, (g) => g.log(), (g) => startGateway('haproxy', g.options));
  return { ...handle, nginx: () => undefined };
}
