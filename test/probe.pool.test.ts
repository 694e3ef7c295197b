import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import {
  createProbePool,
  createProbeRunner,
  MAIN_THREAD_PROBES_PER_SECOND,
  routeProbe,
  type HttpProbe,
  type ProbeOptions,
  type ProbePool,
  type ProbeResult,
} from '../src/probes/index.js';
import { fullBudget } from '../src/probes/probe.pool.js';
import { startService, type RunningService } from '../src/service.js';
import { createLogger, silentLogger } from '../src/shared/logger.js';
import { startDnsServer } from './support/dns-server.js';
import {
  getRefusingPort,
  listen,
  okTarget,
  startCountingServer,
  startHealthyServer,
  startSlowServer,
  trackForCleanup,
} from './support/http-servers.js';
import { waitFor } from './support/wait.js';

const track = trackForCleanup();

const target = okTarget;

function pool(threads: number, options: ProbeOptions = {}): ProbePool {
  return track(createProbePool({ threads, options, logger: silentLogger }));
}

/** OS threads of this process (Linux). */
const threadCount = () => readdirSync('/proc/self/task').length;

describe('probe pool: probes on real worker threads', () => {
  it('probes a healthy server: ok, with the timings, answered by a worker', async () => {
    const server = track(await startHealthyServer());
    const probes = pool(2);
    const result = await probes(target(server.url));
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200, address: '127.0.0.1', addresses: ['127.0.0.1'] });
    expect(result.totalMs).not.toBeNull();
    expect(probes.stats()).toMatchObject({ threads: 2, live: 2, inFlight: 0, answered: 1, ranLocally: 0, crashes: 0 });
  });

  it('a closed port is conn_refused', async () => {
    const closed = await getRefusingPort();
    const result = await pool(1)(target(closed.url));
    expect(result).toMatchObject({ outcome: 'conn_refused', statusCode: null });
  });

  it('resolves a name through the DNS servers it was given', async () => {
    const dns = track(await startDnsServer());
    const server = track(await startHealthyServer());
    dns.setA('app.pool.test', ['127.0.0.1']);
    const probes = pool(1, { dnsServers: dns.servers });
    const result = await probes(target(`http://app.pool.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', addresses: ['127.0.0.1'] });
    expect(dns.queries.some((q) => q.name === 'app.pool.test' && q.type === 'A')).toBe(true);
    expect(probes.stats().answered).toBe(1);
  });

  it('enforces DENY_TARGETS inside the worker: blocked, and no connection reaches the address', async () => {
    const dns = track(await startDnsServer());
    const hidden = track(await startCountingServer({ host: '127.0.0.5' }));
    dns.setA('rebind.pool.test', ['127.0.0.5']);
    const probes = pool(1, { dnsServers: dns.servers, denyTargets: ['127.0.0.5/32'] });
    const byName = await probes(target(`http://rebind.pool.test:${hidden.port}/`));
    const byAddress = await probes(target(hidden.url));
    for (const result of [byName, byAddress]) expect(result).toMatchObject({ outcome: 'blocked', address: null, connectMs: null });
    expect(byName.errorMessage).toMatch(/127\.0\.0\.5/);
    expect(hidden.connections()).toBe(0);
    expect(probes.stats()).toMatchObject({ answered: 2, ranLocally: 0 });
  });

  it('a server slower than the time-out is timeout', async () => {
    const slow = track(await startSlowServer(10_000));
    const result = await pool(1)(target(slow.url, 300));
    expect(result).toMatchObject({ outcome: 'timeout', statusCode: null });
  });

  it('a worker killed mid-probe: every probe in it still gets a result, and the pool keeps working', async () => {
    // The first three requests are held until the worker holding them dies; later ones are answered.
    const held: http.ServerResponse[] = [];
    const server = track(
      await listen(
        http.createServer((_req, res) => {
          if (held.length < 3) held.push(res);
          else res.end('ok');
        }),
      ),
    );
    const probes = pool(1);
    const results = Promise.all([1, 2, 3].map(() => probes(target(server.url))));
    await waitFor(() => held.length === 3, { timeoutMs: 20_000, message: 'three probes held by the server' });
    expect(probes.stats()).toMatchObject({ live: 1, inFlight: 3 });

    await probes.crashWorker(0);
    const after = await results;
    expect(after.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
    expect(probes.stats()).toMatchObject({ ranLocally: 3, crashes: 1, answered: 0 });

    await waitFor(() => probes.stats().live === 1, { timeoutMs: 20_000, message: 'the worker restarted' });
    expect((await probes(target(server.url))).outcome).toBe('ok');
    expect(probes.stats()).toMatchObject({ answered: 1, ranLocally: 3 });
  });

  it('close() ends every worker; later probes run on this thread', async () => {
    const server = track(await startHealthyServer());
    const before = threadCount();
    const probes = createProbePool({ threads: 2, options: {}, logger: silentLogger });
    expect((await probes(target(server.url))).outcome).toBe('ok');
    expect(threadCount()).toBeGreaterThanOrEqual(before + 2);
    await probes.close();
    expect(probes.stats()).toMatchObject({ live: 0, inFlight: 0 });
    await waitFor(() => threadCount() <= before, { timeoutMs: 10_000, message: 'the worker threads gone' });
    expect((await probes(target(server.url))).outcome).toBe('ok');
    expect(probes.stats()).toMatchObject({ live: 0, ranLocally: 1 });
  });

  it('with idleMs, ends workers that probe nothing for that long and starts them again on the next probe', async () => {
    const server = track(await startHealthyServer());
    const before = threadCount();
    const probes = track(createProbePool({ threads: 2, options: {}, logger: silentLogger, idleMs: 1000 }));
    expect((await probes(target(server.url))).outcome).toBe('ok');
    // Both workers started with the first probe. The one that answered nothing may already have
    // ended when that probe took longer than idleMs (a loaded machine: worker start-up under tsx).
    const first = probes.stats();
    expect(first).toMatchObject({ answered: 1, crashes: 0 });
    expect(first.live + first.retired).toBe(2);

    await waitFor(() => probes.stats().live === 0, { timeoutMs: 20_000, message: 'the idle workers ended' });
    expect(probes.stats()).toMatchObject({ retired: 2, crashes: 0, inFlight: 0 });
    await waitFor(() => threadCount() <= before, { timeoutMs: 10_000, message: 'their threads gone' });

    // The next probe starts them again and is answered by a worker, not run on this thread.
    expect((await probes(target(server.url))).outcome).toBe('ok');
    const again = probes.stats();
    expect(again).toMatchObject({ answered: 2, ranLocally: 0, crashes: 0 });
    // Both started again (the idle one may have ended once more, as above).
    expect(again.live + again.retired - 2).toBe(2);
  });

  it('keeps the process alive while a probe is in flight, and lets it exit when idle', async () => {
    const slow = track(await startSlowServer(300));
    const script = `
      import { createProbePool } from ${JSON.stringify(new URL('../src/probes/probe.pool.ts', import.meta.url).href)};
      import { silentLogger } from ${JSON.stringify(new URL('../src/shared/logger.ts', import.meta.url).href)};
      const probes = createProbePool({ threads: 1, options: {}, logger: silentLogger });
      probes({ url: ${JSON.stringify(slow.url)}, timeoutMs: 5000, expectedStatus: [200, 299] })
        .then((r) => process.stdout.write(r.outcome + ' ' + probes.stats().answered));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(killer);
    expect(out).toBe('ok 1');
    expect(code).toBe(0);
  });
});

describe('PROBE_THREADS=auto routing', () => {
  const perSecond = MAIN_THREAD_PROBES_PER_SECOND;

  /** Routes probes at `rate` per second for `seconds` from time 0; the routes taken, in order. */
  function drive(rate: number, seconds: number): ('main' | 'pool')[] {
    let budget = fullBudget(perSecond);
    const routes: ('main' | 'pool')[] = [];
    for (let i = 0; i < rate * seconds; i++) {
      const next = routeProbe(budget, (i * 1000) / rate, perSecond);
      budget = next.budget;
      routes.push(next.route);
    }
    return routes;
  }

  it('10,000 sites at 60 s (333/s) stay on the main thread', () => {
    expect(drive(10_000 / 60, 120).every((r) => r === 'main')).toBe(true);
    expect(drive(333, 60).every((r) => r === 'main')).toBe(true);
  });

  it('a steady rate over the budget: the main thread keeps the budget, the pool takes the excess', () => {
    const routes = drive(1_500, 20);
    const lastTen = routes.slice(-15_000);
    expect(lastTen.filter((r) => r === 'main').length).toBeGreaterThanOrEqual(perSecond * 10 - 1);
    expect(lastTen.filter((r) => r === 'main').length).toBeLessThanOrEqual(perSecond * 10 + 1);
  });

  it('absorbs a burst of up to one second of budget, then refills at the budget rate', () => {
    let budget = fullBudget(perSecond);
    const take = (now: number) => {
      const next = routeProbe(budget, now, perSecond);
      budget = next.budget;
      return next.route;
    };
    const burst = Array.from({ length: perSecond + 1 }, () => take(1_000));
    expect(burst.filter((r) => r === 'main')).toHaveLength(perSecond);
    expect(burst.at(-1)).toBe('pool');
    // 100 ms later: a tenth of the budget is back.
    const later = Array.from({ length: perSecond }, () => take(1_100));
    expect(later.filter((r) => r === 'main')).toHaveLength(perSecond / 10);
    // A clock that steps back gives no tokens and takes none away.
    expect(take(900)).toBe('pool');
  });

  it('the runner starts the pool only on the first probe over the budget, and only once', async () => {
    const now = { t: 0 };
    const ran: string[] = [];
    const fake = (where: string): HttpProbe => async () => {
      ran.push(where);
      return { outcome: 'ok' } as ProbeResult;
    };
    let poolsCreated = 0;
    const runner = createProbeRunner({
      threads: 'auto',
      options: {},
      logger: silentLogger,
      clock: { now: () => now.t },
      local: fake('main'),
      createPool: () => {
        poolsCreated++;
        return Object.assign(fake('pool'), {
          close: async () => {},
          stats: () => ({ threads: 2, live: 2, inFlight: 0, answered: 0, ranLocally: 0, crashes: 0, retired: 0 }),
          crashWorker: async () => {},
        });
      },
    });
    for (let i = 0; i < 333 * 30; i++) {
      now.t = (i * 1000) / 333;
      await runner.probe(target('http://127.0.0.1/'));
    }
    expect(poolsCreated).toBe(0);
    expect(runner.stats()).toMatchObject({ threads: 'auto', onMainThread: 333 * 30, pool: null });

    ran.length = 0;
    for (let i = 0; i < 2_000; i++) {
      now.t = 40_000 + i / 2; // 2,000/s for one second
      await runner.probe(target('http://127.0.0.1/'));
    }
    expect(poolsCreated).toBe(1);
    expect(ran.filter((w) => w === 'pool').length).toBeGreaterThan(0);
    // One second at 2,000/s: the full bucket plus about one second of refill on the main thread.
    expect(ran.filter((w) => w === 'main').length).toBeLessThanOrEqual(2 * perSecond + 1);
  });
});

describe('the service with PROBE_THREADS=2', () => {
  let running: RunningService | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('probes sites over HTTP through the pool and stops the workers on stop()', async () => {
    const server = track(await startHealthyServer());
    dir = mkdtempSync(join(tmpdir(), 'gw-pool-'));
    const token = 'pool-test-token-0123456789';
    const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), PORT: '0', HOST: '127.0.0.1', API_TOKEN: token, PROBE_THREADS: '2' });
    expect(config.PROBE_THREADS).toBe(2);
    running = await startService(config, createLogger('silent'));
    const base = `http://127.0.0.1:${running.port}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const ids: number[] = [];
    for (const name of ['one', 'two']) {
      const res = await fetch(`${base}/api/sites`, { method: 'POST', headers, body: JSON.stringify({ name, url: server.url, intervalSeconds: 1 }) });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    for (const id of ids) {
      await waitFor(
        async () => ((await (await fetch(`${base}/api/status/${id}`)).json()) as { state: string }).state === 'up',
        { timeoutMs: 30_000, intervalMs: 200, message: `site ${id} up` },
      );
    }
    const stats = running.probes.stats();
    expect(stats).toMatchObject({ threads: 2, onMainThread: 0, pool: { threads: 2, live: 2, ranLocally: 0 } });
    expect(stats.pool!.answered).toBeGreaterThanOrEqual(2);

    await running.stop();
    expect(running.probes.stats().pool).toMatchObject({ live: 0 });
    running = undefined;
  });
});

describe('PROBE_THREADS configuration', () => {
  it('is auto by default and takes 0 to 16', () => {
    expect(loadConfig({}).PROBE_THREADS).toBe('auto');
    expect(loadConfig({ PROBE_THREADS: ' AUTO ' }).PROBE_THREADS).toBe('auto');
    expect(loadConfig({ PROBE_THREADS: '0' }).PROBE_THREADS).toBe(0);
    expect(loadConfig({ PROBE_THREADS: '16' }).PROBE_THREADS).toBe(16);
  });

  it.each(['17', '-1', '2.5', 'many', 'on'])('refuses %j and names the variable', (value) => {
    expect(() => loadConfig({ PROBE_THREADS: value })).toThrow(/PROBE_THREADS: PROBE_THREADS must be auto or an integer from 0 to 16/);
  });
});
