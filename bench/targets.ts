/**
 * The load side of the benchmark, in its own process (forked by bench/run.ts) so that the
 * service's process.cpuUsage() counts only the service: loopback HTTP targets, the DNS server
 * for `*.bench.test`, and the API clients (site creation, the status poller, window C's mixed
 * clients in lib/mixed.ts, window D's Prometheus scraper in lib/scrape.ts).
 *
 * Targets are raw TCP servers that answer every connection with a canned `200 ok` and close: a
 * healthy origin that costs as little as possible, so that the machine's two cores go to the
 * service. Everything listens on 127.0.0.x only. Commands arrive over IPC; each gets one reply.
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { startBenchDns } from './lib/dns.js';
import { runMixed, type ApiRequest, type MixedOptions } from './lib/mixed.js';
import { scrapeMetrics } from './lib/scrape.js';
import { hostAddress, hostIndexOf, siteBody } from './lib/names.js';
import { quantile, round } from './lib/stats.js';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');

export type TargetsCommand =
  | { cmd: 'start'; hosts: number; ports: number }
  | { cmd: 'create'; api: string; token: string; from: number; count: number; upstreams: number; intervalSeconds: number; timeoutMs: number; concurrency: number; paused: boolean }
  | { cmd: 'status'; api: string; durationMs: number; pauseMs: number; maxCalls: number; pageSize: number | null; sites: number; token: string | null }
  | ({ cmd: 'mixed' } & MixedOptions)
  | { cmd: 'scrape'; api: string; token: string; everyMs: number; durationMs: number }
  | { cmd: 'counters' }
  | { cmd: 'stop' };

interface Envelope {
  id: number;
  body: TargetsCommand;
}

let connections = 0;
let ports: number[] = [];
let hosts = 0;
const servers: net.Server[] = [];
let dns: Awaited<ReturnType<typeof startBenchDns>> | undefined;

const onSocket = (socket: net.Socket) => {
  connections++;
  socket.on('error', () => {});
  socket.once('data', () => socket.end(RESPONSE));
};

const listenOn = (host: string, port: number) =>
  new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer(onSocket);
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });

/** `count` servers per address, the same port numbers on every address. */
async function startTargets(hostCount: number, portCount: number) {
  hosts = hostCount;
  for (let p = 0; p < portCount; p++) {
    for (let attempt = 0; ; attempt++) {
      const first = await listenOn(hostAddress(0), 0);
      const port = (first.address() as net.AddressInfo).port;
      const started = [first];
      try {
        for (let h = 1; h < hostCount; h++) started.push(await listenOn(hostAddress(h), port));
        servers.push(...started);
        ports.push(port);
        break;
      } catch (error) {
        for (const s of started) s.close();
        if (attempt > 20) throw error;
      }
    }
  }
  dns = await startBenchDns((name) => {
    const index = hostIndexOf(name, hosts);
    return index === null ? null : hostAddress(index);
  });
  return { ports, hosts, dnsPort: dns.port };
}

const REQUEST_TIMEOUT_MS = 60_000;

/** One JSON request; resolves with status and body text (all of it with `keepBody`, else only an error's start). */
const request: ApiRequest = (agent, url, { method, body, token, keepBody }) =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          const text = keepBody ? buf.toString('utf8') : status === 201 || status === 200 ? '' : buf.toString('utf8', 0, 300);
          resolve({ status, bytes: buf.length, text });
        });
        res.on('error', reject);
      },
    );
    // Every loop of the bench stops by itself: a service that never answers is an error, not a hang.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });

/** Creates sites `from`..`from+count-1` with `concurrency` requests in flight; measures the rate. */
async function create(c: Extract<TargetsCommand, { cmd: 'create' }>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c.concurrency });
  let next = c.from;
  const end = c.from + c.count;
  let created = 0;
  const errors: string[] = [];
  const latencies: number[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const worker = async () => {
    while (next < end) {
      const i = next++;
      const body = siteBody(i, { ports, upstreams: c.upstreams, intervalSeconds: c.intervalSeconds, timeoutMs: c.timeoutMs, paused: c.paused });
      const s = performance.now();
      try {
        const res = await request(agent, `${c.api}/api/sites`, { method: 'POST', body, token: c.token });
        latencies.push(performance.now() - s);
        if (res.status === 201) created++;
        else if (errors.length < 5) errors.push(`${res.status} ${res.text}`);
      } catch (error) {
        if (errors.length < 5) errors.push(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  return {
    created,
    /** This (load) process's CPU while creating: the client, and the targets answering the new sites' first rounds. */
    loadProcessPctOfOneCore: round(((cpu.user + cpu.system) / 1000 / ms) * 100, 1),
    failed: c.count - created,
    errors,
    ms: round(ms, 1),
    perSecond: round((created / ms) * 1000, 1),
    latencyMs: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)), max: round(quantile(latencies, 1)) },
  };
}

/** GET /api/status in a loop (one at a time, a pause between calls) until time or count runs out. */
async function statusLoop(c: Extract<TargetsCommand, { cmd: 'status' }>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let bytes = 0;
  let failures = 0;
  const until = performance.now() + c.durationMs;
  for (let n = 0; n < c.maxCalls && performance.now() < until; n++) {
    const query = c.pageSize ? `?limit=${c.pageSize}&offset=${Math.floor(Math.random() * Math.max(1, c.sites - c.pageSize))}` : '';
    const s = performance.now();
    try {
      const res = await request(agent, `${c.api}/api/status${query}`, { method: 'GET', token: c.token ?? undefined });
      latencies.push(performance.now() - s);
      bytes = Math.max(bytes, res.bytes);
      if (res.status !== 200) failures++;
    } catch {
      failures++;
    }
    await new Promise((r) => setTimeout(r, c.pauseMs));
  }
  agent.destroy();
  return {
    calls: latencies.length,
    failures,
    pageSize: c.pageSize,
    maxBytes: bytes,
    latencyMs: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)), max: round(quantile(latencies, 1)) },
  };
}

async function handle(body: TargetsCommand): Promise<unknown> {
  switch (body.cmd) {
    case 'start':
      return startTargets(body.hosts, body.ports);
    case 'create':
      return create(body);
    case 'status':
      return statusLoop(body);
    case 'mixed':
      return runMixed(body, { request, ports });
    case 'scrape':
      return scrapeMetrics(body);
    case 'counters': {
      const cpu = process.cpuUsage();
      return { connections, dnsQueries: dns?.queries() ?? 0, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'stop':
      for (const s of servers) s.close();
      await dns?.close();
      setTimeout(() => process.exit(0), 50).unref();
      return { stopped: true };
  }
}

process.on('message', (msg: Envelope) => {
  handle(msg.body).then(
    (result) => process.send!({ id: msg.id, ok: true, result }),
    (error: unknown) => process.send!({ id: msg.id, ok: false, error: String(error) }),
  );
});
// The parent going away ends the targets too: nothing is left listening.
process.on('disconnect', () => process.exit(0));
