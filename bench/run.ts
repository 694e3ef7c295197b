/**
 * npm run bench -- [--sites 10000] [--interval 60] [--duration 120] [--upstreams 1] [--probe-threads auto|0-16] [--label x]
 *                  [--pages-duration 30] [--pages-requests 200] [--pages-pause 100] (0: no pages window)
 *
 * Starts loopback targets and a DNS server in a forked process, the real service in this one
 * (temp database, real probes through DNS_SERVERS, real scheduler and recorder), creates the
 * sites through the HTTP API, lets the schedule settle, then measures a window of `duration`
 * seconds: checks due and done on time, schedule lag, CPU of this process, RSS; window B with a
 * status poller (its latency) and window C with `--clients` API clients writing and reading
 * (5xx, lost writes, latency per operation); the pages window (GET / with 50 and 1,000 public
 * sites, then polled every second during window P); then database bytes per check. Prints a summary
 * and writes bench/results/<date>-<label>.json. See bench/README.md for what each figure means.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import type { HeapProfiler } from 'node:inspector';
import { OUTCOMES } from '../src/probes/probes.types.js';
import { packageRoot } from '../src/shared/paths.js';
import { lagBucketUpperMs, type SchedulerStats } from '../src/scheduler/scheduler.js';
import { measureCeiling, type Ceiling } from './lib/ceiling.js';
import { forkTargets } from './lib/child.js';
import { hostAddress, siteName } from './lib/names.js';
import type { MixedReport } from './lib/mixed.js';
import { dbFigures } from './lib/db-figures.js';
import { prefill, type PrefillReport } from './lib/prefill.js';
import { scrapeMetrics, type ScrapeReport } from './lib/scrape.js';
import { measurePage, pollPage, seedHistory, setPublicSites } from './lib/pages.js';
import { diffThreads, ioWritten, threadCpu } from './lib/threads.js';
import { BENCH_TOKEN, closeDatabase, startBenchService } from './lib/service.js';
import { histQuantile, round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    interval: { type: 'string', default: '60' },
    duration: { type: 'string', default: '120' },
    upstreams: { type: 'string', default: '1' },
    warmup: { type: 'string' },
    label: { type: 'string' },
    hosts: { type: 'string', default: '8' },
    ports: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '16' },
    'timeout-ms': { type: 'string', default: '5000' },
    'status-pause': { type: 'string', default: '1000' },
    'status-duration': { type: 'string', default: '30' },
    'status-page': { type: 'string' },
    /** Window B reads the list without the token (the public list), as runs before 10k-status-h3-token did. */
    'status-anonymous': { type: 'boolean', default: false },
    /** The first status reads before window A (runs before wip-fixed), not after it. */
    'status-read-before-a': { type: 'boolean', default: false },
    clients: { type: 'string', default: '16' },
    'clients-duration': { type: 'string', default: '30' },
    'client-pause': { type: 'string', default: '50' },
    /** Window D: GET /metrics every --scrape-every s for --scrape-duration s (0: no window D). */
    'scrape-every': { type: 'string', default: '15' },
    'scrape-duration': { type: 'string', default: '60' },
    /**
     * Window D's scraper in the service's own process, as runs before 10k-60s-v06 had it (with
     * GW_SCRAPE_PROFILE=DIR, a CPU profile of its scrapes); by default it runs in the load process,
     * as a Prometheus server is a process of its own.
     */
    'scrape-in-process': { type: 'boolean', default: false },
    ceiling: { type: 'string', default: '2000' },
    /** Paced ceiling stretches after the first one (their median is the ceiling), and their length in s. */
    'ceiling-blocks': { type: 'string', default: '5' },
    'ceiling-block-seconds': { type: 'string', default: '5' },
    prefill: { type: 'boolean', default: true },
    'no-prefill': { type: 'boolean', default: false },
    'max-probes': { type: 'string' },
    /** PROBE_THREADS: auto (the default, as in config), 0 (main thread only), 1-16 workers. */
    'probe-threads': { type: 'string', default: 'auto' },
    'keep-db': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    profile: { type: 'string' },
    'heap-profile': { type: 'string' },
    'heap-profile-include': { type: 'string', default: 'live' },
    /** --heap-snapshot FILE: a V8 heap snapshot (after a full collection) at the end of window A. */
    'heap-snapshot': { type: 'string' },
    pragma: { type: 'string', multiple: true },
    paused: { type: 'boolean', default: false },
    'pages-duration': { type: 'string', default: '30' },
    'pages-requests': { type: 'string', default: '200' },
    'pages-pause': { type: 'string', default: '100' },
  },
  strict: true,
});

const int = (name: string, v: string | undefined, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
  return n;
};

const sites = int('sites', args.sites, 1, 200_000);
const intervalS = int('interval', args.interval, 1, 3600);
const durationS = int('duration', args.duration, 5, 1800);
const upstreams = int('upstreams', args.upstreams, 0, 5);
const hosts = int('hosts', args.hosts, 1, 200);
const portCount = int('ports', args.ports, 1, 32);
const concurrency = int('concurrency', args.concurrency, 1, 256);
const timeoutMs = int('timeout-ms', args['timeout-ms'], 100, 60_000);
const statusPauseMs = int('status-pause', args['status-pause'], 0, 60_000);
const statusS = int('status-duration', args['status-duration'], 0, 600);
const statusPage = args['status-page'] !== undefined ? int('status-page', args['status-page'], 1, 100_000) : sites > 20_000 ? 1000 : null;
const clients = int('clients', args.clients, 0, 256);
const clientsS = int('clients-duration', args['clients-duration'], 2, 1800);
const clientPauseMs = int('client-pause', args['client-pause'], 0, 60_000);
const ceilingRequests = int('ceiling', args.ceiling, 100, 100_000);
const ceilingBlocks = int('ceiling-blocks', args['ceiling-blocks'], 1, 50);
const ceilingBlockS = int('ceiling-block-seconds', args['ceiling-block-seconds'], 1, 120);
const doPrefill = args.prefill && !args['no-prefill'];
const pagesS = int('pages-duration', args['pages-duration'], 0, 1800);
const pagesRequests = int('pages-requests', args['pages-requests'], 1, 10_000);
const pagesPauseMs = int('pages-pause', args['pages-pause'], 0, 60_000);
const label = args.label ?? `${sites >= 1000 ? `${sites / 1000}k` : sites}-${intervalS}s`;
const targetsPerRound = 1 + upstreams;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** After window A, between the first status reads and a second pass of them, before window B. */
const STATUS_SETTLE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

function gitInfo() {
  try {
    const commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain -- src bench', { encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

interface Snapshot {
  at: number;
  cpu: NodeJS.CpuUsage;
  due: number;
  started: number;
  done: number;
  skipped: number;
  hist: Uint32Array;
}
const snap = (s: SchedulerStats): Snapshot => ({
  at: Date.now(),
  cpu: process.cpuUsage(),
  due: s.roundsDue,
  started: s.roundsStarted,
  done: s.roundsDone,
  skipped: s.roundsSkipped,
  hist: Uint32Array.from(s.lagHistogram),
});

async function main() {
  const dir = mkdtempSync(join(os.tmpdir(), 'gw-bench-'));
  const dbPath = join(dir, 'gw.db');
  const targets = forkTargets();
  let service: Awaited<ReturnType<typeof startBenchService>> | undefined;
  const cleanup = async () => {
    await service?.stop().catch(() => {});
    await targets.stop();
    if (!args['keep-db']) rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    log(`${sites} sites x ${targetsPerRound} targets every ${intervalS} s; window ${durationS} s; ${hosts} addresses x ${portCount} ports`);
    const t = await targets.send<{ ports: number[]; dnsPort: number }>({ cmd: 'start', hosts, ports: portCount });

    log(`ceiling: ${ceilingRequests} bare GETs back to back, then paced as the scheduler fires`);
    const ceiling: Ceiling = await measureCeiling({
      host: hostAddress(0),
      port: t.ports[0],
      name: siteName(0),
      dnsPort: t.dnsPort,
      requests: ceilingRequests,
      perSecond: (sites * targetsPerRound) / intervalS,
      blocks: ceilingBlocks,
      blockSeconds: ceilingBlockS,
    });
    log(`  bare GET ${ceiling.bareGetCpuMs} ms CPU, with DNS ${ceiling.bareGetDnsCpuMs} ms; paced ${ceiling.pacedPerSecond}/s with DNS ${ceiling.pacedGetDnsCpuMs} ms (median of ${ceiling.pacedBlocksCpuMs.join(', ')}; the first stretch alone, the old method: ${ceiling.pacedGetDnsFirstCpuMs} ms)`);

    service = await startBenchService({
      DATABASE_PATH: dbPath,
      DNS_SERVERS: `127.0.0.1:${t.dnsPort}`,
      ...(args['max-probes'] ? { MAX_CONCURRENT_PROBES: args['max-probes'] } : {}),
      PROBE_THREADS: args['probe-threads'],
    });
    const { svc } = service;
    // --pragma "cache_size=-65536": an experiment on the service's connection (reported in params).
    for (const p of args.pragma ?? []) svc.db.$client.pragma(p);

    // RSS and heap, sampled each second for the whole run; and before any site exists.
    const rssAtStart = process.memoryUsage.rss();
    let rssPeak = 0;
    // Which part of the run is on, and each part's highest RSS with the heap figures of that moment.
    let phase = 'creation';
    const memoryByPhase: Record<string, { rss: number; heapTotal: number; heapUsed: number; external: number }> = {};
    const sampleMemory = () => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      if (m.rss > (memoryByPhase[phase]?.rss ?? 0)) {
        memoryByPhase[phase] = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external };
      }
    };
    const rssTimer = setInterval(sampleMemory, 1000);

    log(`creating ${sites} sites through the API (${concurrency} in flight)`);
    const creation = await targets.send<{ created: number; perSecond: number; failed: number; errors: string[] }>({
      cmd: 'create',
      api: service.api,
      token: BENCH_TOKEN,
      from: 0,
      count: sites,
      upstreams,
      intervalSeconds: intervalS,
      timeoutMs,
      concurrency,
      paused: args.paused,
    });
    log(`  created ${creation.created} (${creation.perSecond}/s)${creation.failed ? `, ${creation.failed} failed: ${creation.errors.join(' | ')}` : ''}`);

    // A whole interval and a little: every site has had its first round before window A. A first
    // round writes what a site writes once (its target keys, its first dictionary rows, its state
    // leaving 'unknown'); with half an interval, ~40 % of those landed in window A and tripled
    // its bytes written per check (1,361 B against 467 B at 10,000 sites @ 60 s).
    const warmupS = args.warmup !== undefined ? int('warmup', args.warmup, 0, 3600) : intervalS + 15;
    let prefillReport: PrefillReport | null = null;
    if (doPrefill) {
      log('prefill: expired checks and rollups for housekeeping to prune at the steady-state rate');
      prefillReport = prefill(svc.db, { sites, intervalS, targetsPerRound, windowS: warmupS + durationS + 30, now: Date.now() });
      log(`  ${prefillReport.checks} checks, ${prefillReport.hourRollups} hour and ${prefillReport.dayRollups} day rollups in ${prefillReport.ms} ms`);
    }

    log(`warm-up ${warmupS} s`);
    phase = 'warm-up';
    await sleep(warmupS * 1000);
    // A status page already open for windows B on: the list (or its first page, as window B reads
    // it) read once, with and without the token, so that window B measures reads of a warm list
    // (the first read after a start renders every entry). Read after window A, which is the
    // service alone: a read keeps the service rendering changed entries in the background for a
    // while (1 to 5 minutes since 10k-60s-v06, 5 before: the status service's KEEP_WARM_*), which
    // runs before wip-fixed measured in window A (at 1,000 sites @ 20 s: ~0.1 s of CPU a minute
    // plus the collections of what it renders). `--status-read-before-a` reads before window A,
    // as those runs did.
    const warmStatus = async () => {
      for (const headers of [{ authorization: `Bearer ${BENCH_TOKEN}` }, {}] as Record<string, string>[]) {
        const t0 = performance.now();
        const res = await fetch(`${service!.api}/api/status${statusPage ? `?limit=${statusPage}` : ''}`, { headers });
        await res.arrayBuffer();
        log(`  first status read${'authorization' in headers ? ' (token)' : ''}: ${res.status} in ${round(performance.now() - t0, 1)} ms`);
      }
    };
    if (args['status-read-before-a']) await warmStatus();

    // ---- the measuring windows: A, the service alone; B, with the status poller; C, with API clients ----
    const sqlite = svc.db.$client;
    /** Measures the service over window `window` of `seconds` while `load` (if any) runs in the load process, for one second less. */
    const measure = async <L>(
      window: 'A' | 'B' | 'C' | 'D' | 'P',
      seconds: number,
      load: ((durationMs: number) => Promise<L>) | null,
      profileFile?: string,
      heapProfileFile?: string,
    ) => {
      const childCpu0 = (await targets.send<{ cpuMs: number }>({ cmd: 'counters' })).cpuMs;
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      // --profile FILE: a CPU profile of this process over window A (open it in Chrome DevTools).
      // --heap-profile FILE: V8's sampling heap profile over window A: what is in the heap at its
      // end (garbage not yet collected included), by allocation site (open it in Chrome DevTools).
      const heapProfiler = heapProfileFile ? new Session() : null;
      if (heapProfiler) {
        heapProfiler.connect();
        await heapProfiler.post('HeapProfiler.enable');
        // live: what is still in the heap at the end (uncollected garbage included); promoted:
        // also what a full collection freed, i.e. everything that survived the young generation;
        // all: every allocation (the allocation rate by site).
        const include = args['heap-profile-include'];
        // (Node 20's typings predate the two include options; V8 11.3 takes them.)
        const sampling: HeapProfiler.StartSamplingParameterType & Record<string, unknown> = {
          samplingInterval: 16_384,
          includeObjectsCollectedByMajorGC: include === 'promoted' || include === 'all',
          includeObjectsCollectedByMinorGC: include === 'all',
        };
        await heapProfiler.post('HeapProfiler.startSampling', sampling);
      }
      const profiler = profileFile ? new Session() : null;
      if (profiler) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 1000 });
        await profiler.post('Profiler.start');
      }
      phase = window;
      const threads0 = threadCpu(true);
      const io0 = ioWritten();
      const s0 = snap(svc.scheduler.stats());
      const metricsPass0 = svc.metrics.counts().passMs;
      const loadRun = load ? load(seconds * 1000 - 1000) : null;
      await sleep(seconds * 1000);
      const s1 = snap(svc.scheduler.stats());
      const metricsPassMs = svc.metrics.counts().passMs - metricsPass0;
      const threadsByTid = diffThreads(threads0, threadCpu(true));
      const threads: Record<string, number> = {};
      for (const [k, v] of Object.entries(threadsByTid)) {
        const name = k.replace(/\+\d+$/, '');
        threads[name] = (threads[name] ?? 0) + v;
      }
      const io1 = ioWritten();
      loop.disable();
      if (heapProfiler) {
        const { profile } = await heapProfiler.post('HeapProfiler.stopSampling');
        writeFileSync(heapProfileFile!, JSON.stringify(profile));
        heapProfiler.disconnect();
        log(`wrote the heap profile to ${heapProfileFile}`);
      }
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        writeFileSync(profileFile!, JSON.stringify(profile));
        profiler.disconnect();
        log(`wrote the CPU profile to ${profileFile}`);
      }
      const loadResult = await loadRun;
      const childCpu1 = (await targets.send<{ cpuMs: number }>({ cmd: 'counters' })).cpuMs;

      const windowMs = s1.at - s0.at;
      const cpuUsed = (s1.cpu.user - s0.cpu.user + s1.cpu.system - s0.cpu.system) / 1000;
      const hist = s1.hist.map((n, i) => n - s0.hist[i]);
      let onTime = 0;
      for (let i = 0; i < hist.length && lagBucketUpperMs(i) <= 1000; i++) onTime += hist[i];
      const due = s1.due - s0.due;
      const lag = (p: number) => histQuantile(hist, lagBucketUpperMs, p);
      let maxBucket = 0;
      hist.forEach((n, i) => n > 0 && (maxBucket = i));
      const recorded = sqlite
        .prepare('SELECT o AS code, COUNT(*) AS n FROM raw_checks WHERE t >= ? AND t < ? GROUP BY o')
        .all(s0.at, s1.at)
        .map((r) => ({ outcome: OUTCOMES[(r as { code: number }).code], n: (r as { n: number }).n }));
      const checksRecorded = recorded.reduce((a, r) => a + r.n, 0);
      const checksExpected = Math.round((sites * targetsPerRound * windowMs) / (intervalS * 1000));
      const perCheck = cpuUsed / Math.max(1, checksRecorded);
      return {
        window: {
          seconds: round(windowMs / 1000, 1),
          roundsDue: due,
          roundsStarted: s1.started - s0.started,
          roundsDone: s1.done - s0.done,
          roundsSkipped: s1.skipped - s0.skipped,
          roundsOnTime: onTime,
          onTimePct: round((onTime / Math.max(1, due)) * 100, 3),
          checksExpected,
          checksRecorded,
          recordedPct: round((checksRecorded / Math.max(1, checksExpected)) * 100, 2),
          outcomes: Object.fromEntries(recorded.map((r) => [r.outcome, r.n])),
        },
        lagMs: { p50: lag(0.5), p99: lag(0.99), p999: lag(0.999), max: lagBucketUpperMs(maxBucket) },
        eventLoopDelayMs: { p50: round(loop.percentile(50) / 1e6, 1), p99: round(loop.percentile(99) / 1e6, 1), max: round(loop.max / 1e6, 1) },
        cpu: {
          pctOfOneCore: round((cpuUsed / windowMs) * 100, 2),
          msPerCheck: round(perCheck, 4),
          ratioToBareGet: round(perCheck / ceiling.bareGetCpuMs, 2),
          ratioToBareGetDns: round(perCheck / ceiling.bareGetDnsCpuMs, 2),
          ratioToPacedGetDns: round(perCheck / ceiling.pacedGetDnsCpuMs, 2),
          /**
           * What the process spends beyond the checks themselves (timers, housekeeping, snapshot,
           * recorder, GC): whole-process CPU minus checks x the paced GET+DNS ceiling, % of one core.
           */
          fixedPctOfOneCore: round(((cpuUsed - checksRecorded * ceiling.pacedGetDnsCpuMs) / windowMs) * 100, 2),
          /** The same two figures against the old ceiling (one paced stretch, runs before wip-fixed). */
          ratioToPacedGetDnsFirst: round(perCheck / ceiling.pacedGetDnsFirstCpuMs, 2),
          fixedPctOfOneCoreFirst: round(((cpuUsed - checksRecorded * ceiling.pacedGetDnsFirstCpuMs) / windowMs) * 100, 2),
          loadProcessPctOfOneCore: round(((childCpu1 - childCpu0) / windowMs) * 100, 1),
          /** CPU ms in the window by thread (Linux), 10 ms resolution. */
          byThreadMs: threads,
          /** The metrics' background passes (rendering the lines of the sites just checked, scraped or not): ms in the window, and their share of its CPU. */
          metricsPassMs: round(metricsPassMs, 1),
          metricsPassPctOfCpu: round((metricsPassMs / Math.max(1, cpuUsed)) * 100, 2),
          /** The same by thread: name+offset of its tid from the main thread's. */
          byTidMs: threadsByTid,
        },
        io: {
          /** Bytes handed to write() in the window per recorded check: WAL frames, checkpoints, sockets. */
          writtenPerCheck: Math.round((io1.wchar - io0.wchar) / Math.max(1, checksRecorded)),
          storageBytesPerCheck: Math.round((io1.writeBytes - io0.writeBytes) / Math.max(1, checksRecorded)),
        },
        load: loadResult,
      };
    };

    log(`window A: the service alone, ${durationS} s`);
    const a = await measure('A', durationS, null, args.profile, args['heap-profile']);
    if (args['heap-snapshot']) log(`wrote the heap snapshot to ${writeHeapSnapshot(args['heap-snapshot'])}`);
    if (!args['status-read-before-a']) {
      // As warm as window B found the list when the reads came before window A: read, let the
      // background renders catch up with the rounds since, read again (the route's code warm too).
      await warmStatus();
      await sleep(STATUS_SETTLE_MS);
      await warmStatus();
    }
    log(`window B: the same with GET /api/status${statusPage ? `?limit=${statusPage}` : ''} (${args['status-anonymous'] ? 'no token' : 'token'}) every ${statusPauseMs} ms, ${statusS} s`);
    const pollStatus = (durationMs: number) =>
      targets.send<{ calls: number; failures: number; pageSize: number | null; maxBytes: number; latencyMs: { p50: number; p99: number; max: number } }>({
        cmd: 'status',
        api: service!.api,
        durationMs,
        pauseMs: statusPauseMs,
        maxCalls: 10_000,
        pageSize: statusPage,
        sites,
        // Issue 16's figure is the whole list with the token; before 10k-status-h3-token the poller sent none.
        token: args['status-anonymous'] ? null : BENCH_TOKEN,
      });
    const b = statusS > 0 ? await measure('B', statusS, pollStatus) : null;
    const runClients = (durationMs: number) =>
      targets.send<MixedReport>({
        cmd: 'mixed',
        api: service!.api,
        token: BENCH_TOKEN,
        clients,
        durationMs,
        pauseMs: clientPauseMs,
        sites,
        upstreams,
        intervalSeconds: intervalS,
        timeoutMs,
      });
    if (clients > 0) log(`window C: the same with ${clients} API clients writing and reading, ${clientPauseMs} ms between each one's requests, ${clientsS} s`);
    const c = clients > 0 ? await measure('C', clientsS, runClients) : null;
    const scrapeS = int('scrape-duration', args['scrape-duration'], 0, 3600);
    const scrapeEveryS = int('scrape-every', args['scrape-every'], 1, 600);
    if (scrapeS > 0) log(`window D: the same with GET /metrics every ${scrapeEveryS} s, ${scrapeS} s`);
    const d =
      scrapeS > 0
        ? await measure('D', scrapeS, (durationMs) => {
            const scrape = { api: service!.api, token: BENCH_TOKEN, everyMs: scrapeEveryS * 1000, durationMs };
            return args['scrape-in-process'] ? scrapeMetrics(scrape) : targets.send<ScrapeReport>({ cmd: 'scrape', ...scrape });
          })
        : null;
    let pages: Record<string, unknown> | null = null;
    if (pagesS > 0) {
      // The pages window: GET / server time and bytes with 50, then 1,000 public sites (the others
      // private), then window P with / loaded every second (1,000 public sites).
      const seeded = seedHistory(sqlite, svc.rollups, Date.now());
      const large = Math.min(1000, sites);
      const figures = [];
      for (const n of [Math.min(50, sites), large]) {
        setPublicSites(sqlite, n);
        await measurePage(svc.app, n, 2, 0); // the first load after a change renders every card
        log(`pages: GET / with ${n} public sites, ${pagesRequests} loads ${pagesPauseMs} ms apart`);
        figures.push(await measurePage(svc.app, n, pagesRequests, pagesPauseMs));
      }
      log(`window P: GET / (${large} public sites) every 1000 ms, ${pagesS} s`);
      const p = await measure('P', pagesS, (durationMs) => pollPage(svc.app, durationMs, 1000));
      pages = {
        historyRowsSeeded: seeded,
        figures,
        poll: p.load,
        window: { seconds: p.window.seconds, onTimePct: p.window.onTimePct, roundsDue: p.window.roundsDue, lagMs: p.lagMs, eventLoopDelayMs: p.eventLoopDelayMs, cpuPctOfOneCore: p.cpu.pctOfOneCore },
        cpuPctOfOneCoreAdded: round(p.cpu.pctOfOneCore! - a.cpu.pctOfOneCore!, 2),
      };
      setPublicSites(sqlite, sites);
    }
    sampleMemory();
    const rssEnd = process.memoryUsage.rss();
    clearInterval(rssTimer);
    const heapUsed = process.memoryUsage().heapUsed;

    log('stopping the service');
    await service.stop();
    service = undefined;
    const db = dbFigures(sqlite, { sites, intervalS, targetsPerRound });
    closeDatabase(svc.db);

    const result = {
      label,
      date: new Date().toISOString(),
      git: gitInfo(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((x) => round(x, 2)) },
      params: {
        sites,
        intervalS,
        durationS,
        statusS,
        warmupS,
        upstreams,
        hosts,
        ports: portCount,
        concurrency,
        timeoutMs,
        statusPauseMs,
        statusPage,
        statusWithToken: !args['status-anonymous'],
        scrapeInProcess: args['scrape-in-process'],
        statusReadBeforeA: args['status-read-before-a'],
        ceilingBlocks,
        ceilingBlockS,
        clients,
        clientsS,
        clientPauseMs,
        prefill: doPrefill,
        pragmas: args.pragma ?? [],
        paused: args.paused,
        probeThreads: svc.probes.stats().threads,
      },
      creation,
      ceiling,
      window: a.window,
      lagMs: a.lagMs,
      eventLoopDelayMs: a.eventLoopDelayMs,
      cpu: a.cpu,
      io: a.io,
      memoryMB: {
        rssAtStart: mb(rssAtStart),
        rssPeak: mb(rssPeak),
        rssEnd: mb(rssEnd),
        heapUsed: mb(heapUsed),
        /** Each part's highest RSS, with V8's heap (total, used) and external memory at that second. */
        byPhase: Object.fromEntries(
          Object.entries(memoryByPhase).map(([k, v]) => [k, { rss: mb(v.rss), heapTotal: mb(v.heapTotal), heapUsed: mb(v.heapUsed), external: mb(v.external) }]),
        ),
      },
      status: b
        ? {
            ...b.load!,
            sites,
            /** Window B: the service while the poller ran (compare with window A for what the status calls cost). */
            window: { seconds: b.window.seconds, onTimePct: b.window.onTimePct, lagMs: b.lagMs, eventLoopDelayMs: b.eventLoopDelayMs, cpuPctOfOneCore: b.cpu.pctOfOneCore },
            cpuPctOfOneCoreAdded: round(b.cpu.pctOfOneCore! - a.cpu.pctOfOneCore!, 2),
          }
        : null,
      clients: c
        ? {
            ...c.load!,
            /** Window C: the service while the clients ran (its own sites' rounds included). */
            window: {
              seconds: c.window.seconds,
              onTimePct: c.window.onTimePct,
              roundsDue: c.window.roundsDue,
              lagMs: c.lagMs,
              eventLoopDelayMs: c.eventLoopDelayMs,
              cpuPctOfOneCore: c.cpu.pctOfOneCore,
              loadProcessPctOfOneCore: c.cpu.loadProcessPctOfOneCore,
            },
            cpuPctOfOneCoreAdded: round(c.cpu.pctOfOneCore! - a.cpu.pctOfOneCore!, 2),
          }
        : null,
      /** Window D: GET /metrics scraped as Prometheus would, and the scheduler meanwhile. */
      metrics: d
        ? {
            ...d.load!,
            window: { seconds: d.window.seconds, onTimePct: d.window.onTimePct, lagMs: d.lagMs, eventLoopDelayMs: d.eventLoopDelayMs, cpuPctOfOneCore: d.cpu.pctOfOneCore },
          }
        : null,
      prefill: prefillReport,
      pages,
      db,
    };
    printSummary(result);
    if (result.clients && (result.clients.serverErrors > 0 || result.clients.lostWrites > 0)) {
      // A measurement, not a test: the run still succeeds, but this must not go unseen.
      log(`WINDOW C FOUND ${result.clients.serverErrors} 5xx and ${result.clients.lostWrites} lost writes: see "clients" in the summary above`);
    }
    if (!args['no-write']) {
      const outDir = join(packageRoot(), 'bench', 'results');
      mkdirSync(outDir, { recursive: true });
      const file = join(outDir, `${result.date.slice(0, 10)}-${label}.json`);
      writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
      log(`wrote ${file}`);
    }
  } finally {
    await cleanup();
  }
}

function printSummary(r: any) {
  const w = r.window;
  const lines = [
    `== ${r.label}: ${r.params.sites} sites x ${1 + r.params.upstreams} targets @ ${r.params.intervalS} s, window ${w.seconds} s ==`,
    `on time (started <= 1 s after due): ${w.onTimePct} %  (${w.roundsOnTime}/${w.roundsDue} rounds; skipped ${w.roundsSkipped})`,
    `checks recorded: ${w.checksRecorded} of ~${w.checksExpected} expected (${w.recordedPct} %)  outcomes ${JSON.stringify(w.outcomes)}`,
    `schedule lag ms: p50 ${r.lagMs.p50}  p99 ${r.lagMs.p99}  p99.9 ${r.lagMs.p999}  max ${r.lagMs.max}   event-loop delay p99 ${r.eventLoopDelayMs.p99} max ${r.eventLoopDelayMs.max}`,
    `CPU: ${r.cpu.pctOfOneCore} % of one core, ${r.cpu.msPerCheck} ms per check = ${r.cpu.ratioToBareGet}x bare GET (${r.ceiling.bareGetCpuMs} ms), ${r.cpu.ratioToBareGetDns}x GET+DNS (${r.ceiling.bareGetDnsCpuMs} ms), ${r.cpu.ratioToPacedGetDns}x GET+DNS paced as probes (${r.ceiling.pacedGetDnsCpuMs} ms); fixed costs ${r.cpu.fixedPctOfOneCore} % of one core; load process ${r.cpu.loadProcessPctOfOneCore} %`,
    `  against the old ceiling (one paced stretch, ${r.ceiling.pacedGetDnsFirstCpuMs} ms): ${r.cpu.ratioToPacedGetDnsFirst}x, fixed costs ${r.cpu.fixedPctOfOneCoreFirst} %; the paced stretches: ${r.ceiling.pacedBlocksCpuMs?.join(', ')} ms`,
    `CPU by thread (ms): ${JSON.stringify(r.cpu.byThreadMs)}; metrics background passes ${r.cpu.metricsPassMs} ms (${r.cpu.metricsPassPctOfCpu} % of the CPU); written per check: ${r.io.writtenPerCheck} B (${r.io.storageBytesPerCheck} B to storage)`,
    `RSS MB: peak ${r.memoryMB.rssPeak}  end ${r.memoryMB.rssEnd}  (heap ${r.memoryMB.heapUsed}; ${r.memoryMB.rssAtStart} before any site)`,
    `  peak by part (rss / V8 heap total / used): ${Object.entries(r.memoryMB.byPhase ?? {})
      .map(([k, v]: [string, any]) => `${k} ${v.rss} / ${v.heapTotal} / ${v.heapUsed}`)
      .join(', ')}`,
    ...(r.status
      ? [
          `GET /api/status${r.status.pageSize ? `?limit=${r.status.pageSize}` : ''}: p50 ${r.status.latencyMs.p50} ms  p99 ${r.status.latencyMs.p99} ms  max ${r.status.latencyMs.max} ms  (${r.status.calls} calls, ${Math.round(r.status.maxBytes / 1024)} KiB, ${r.status.failures} failed)`,
          `  while polling: CPU ${r.status.window.cpuPctOfOneCore} % (+${r.status.cpuPctOfOneCoreAdded}), lag p99 ${r.status.window.lagMs.p99} ms max ${r.status.window.lagMs.max} ms, on time ${r.status.window.onTimePct} %`,
        ]
      : []),
    ...(r.clients ? clientsSummary(r.clients) : []),
    ...(r.metrics
      ? [
          `GET /metrics every ${r.metrics.everyMs / 1000} s (Accept-Encoding: gzip, answered ${r.metrics.encoding}): p50 ${r.metrics.ms.p50} ms  p99 ${r.metrics.ms.p99} ms  max ${r.metrics.ms.max} ms  (${r.metrics.scrapes} scrapes, ${r.metrics.lines} lines, ${Math.round(r.metrics.bytes / 1024)} KiB, ${Math.round(r.metrics.wireBytes / 1024)} KiB sent, ${r.metrics.failures} failed)`,
          `  each scrape (ms): ${r.metrics.each.join(', ')}; from the third on: p50 ${r.metrics.steady?.p50 ?? '-'} ms, max ${r.metrics.steady?.max ?? '-'} ms`,
          `  one identity scrape after the window: ${r.metrics.identity ? `${r.metrics.identity.ms} ms, ${Math.round(r.metrics.identity.bytes / 1024)} KiB` : 'failed'}`,
          `  while scraping: lag p99 ${r.metrics.window.lagMs.p99} ms max ${r.metrics.window.lagMs.max} ms, on time ${r.metrics.window.onTimePct} %, event-loop p99 ${r.metrics.window.eventLoopDelayMs.p99} ms, CPU ${r.metrics.window.cpuPctOfOneCore} %`,
        ]
      : []),
    ...(r.pages ? pagesSummary(r.pages) : []),
    `POST /api/sites: ${r.creation.perSecond} /s (${r.params.concurrency} in flight)`,
    `DB: ${r.db.bytesPerCheck} bytes per check (file / raw checks), raw check with its index share ${r.db.checkRowBytes} B; hour rollup row ${r.db.tables.rollup_hours?.bytesPerRow} B, day rollup row ${r.db.tables.rollup_days?.bytesPerRow} B`,
    ...r.db.steadyState.map(
      (s: any) =>
        `steady state for ${s.sites} sites: raw 48 h ${s.rawChecksGB} GB + hour rollups 90 d ${s.hourRollupsGB} GB + day rollups 730 d ${s.dayRollupsGB} GB + per site ${s.fixedGB} GB = ${s.totalGB} GB`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** The pages window's lines: GET / per public-site count, then the scheduler while / was polled. */
function pagesSummary(p: any): string[] {
  return [
    ...p.figures.map(
      (f: any) =>
        `GET / with ${f.publicSites} public sites: server p50 ${f.serverMs.p50} ms  p99 ${f.serverMs.p99} ms  max ${f.serverMs.max} ms (${f.requests} loads ${f.pauseMs} ms apart, ${f.changedLoads} of a changed page); ${Math.round(f.bytes.html / 1024)} KiB HTML, ${round(f.bytes.br / 1024, 1)} KiB br, ${round(f.bytes.gzip / 1024, 1)} KiB gzip\n` +
        `  slowest: ${f.slowest.map((l: any) => `${l.ms} ms (gc ${l.gcMs} ms${l.gcKinds.length ? ` ${l.gcKinds.join('+')}` : ''}, ${l.changed ? 'changed' : 'same'} page)`).join(', ')}`,
    ),
    `  window P, / every second (${p.poll.calls} loads, ${p.poll.failures} failed, server p99 ${p.poll.serverMs.p99} ms): on time ${p.window.onTimePct} % of ${p.window.roundsDue} rounds, lag p99 ${p.window.lagMs.p99} ms, event-loop p99 ${p.window.eventLoopDelayMs.p99} ms, CPU ${p.window.cpuPctOfOneCore} % (+${p.cpuPctOfOneCoreAdded})`,
  ];
}

/** Window C's lines: the rate, what went wrong (loudly, if anything), status latency, the service meanwhile. */
function clientsSummary(c: any): string[] {
  const count = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
  const ops = Object.entries(c.operations as Record<string, any>);
  const network = ops.reduce((a, [, o]) => a + o.networkErrors, 0);
  const unexpected = ops.reduce((a, [, o]) => a + count(o.unexpected), 0);
  const { list, page } = c.statusLatencyMs;
  const lines = [
    `window C, ${c.clients} API clients (${c.pauseMs} ms pause), ${c.seconds} s: ${c.requestsPerSecond} req/s (${c.requests}); 5xx ${c.serverErrors}, lost writes ${c.lostWrites} of ${c.writes.sitesChecked} sites checked (${c.writes.created} created, ${c.writes.renamed} renamed, ${c.writes.deleted} deleted), other unexpected ${unexpected}, network errors ${network}`,
    `  status p50/p99/max ms: list ${list.p50}/${list.p99}/${list.max} (${list.calls} calls), page of ${page.limit} ${page.p50}/${page.p99}/${page.max} (${page.calls}); while the clients ran: on time ${c.window.onTimePct} %, lag p99 ${c.window.lagMs.p99} ms, event-loop p99 ${c.window.eventLoopDelayMs.p99} ms, CPU ${c.window.cpuPctOfOneCore} % (+${c.cpuPctOfOneCoreAdded}), load process ${c.window.loadProcessPctOfOneCore} %`,
    `  p50/p99 ms by operation: ${ops.map(([key, o]) => `${key} ${round(o.latencyMs.p50, 1)}/${round(o.latencyMs.p99, 1)}`).join(', ')}`,
  ];
  if (c.serverErrors > 0 || c.lostWrites > 0 || unexpected > 0 || network > 0) {
    lines.push(`  !! window C: ${c.serverErrors} 5xx, ${c.lostWrites} lost writes, ${unexpected} other unexpected statuses, ${network} network errors`);
    for (const [key, o] of ops) {
      if (o.serverErrors || o.networkErrors || count(o.unexpected)) {
        lines.push(`  !! ${key}: ${o.count} requests, 5xx ${o.serverErrors}, unexpected ${JSON.stringify(o.unexpected)}, network errors ${o.networkErrors}`);
      }
    }
    for (const e of [...c.lostWriteExamples, ...c.errorExamples]) lines.push(`  !! ${e}`);
  }
  return lines;
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
