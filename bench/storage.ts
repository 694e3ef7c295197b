/**
 * node --import tsx bench/storage.ts [--sites 10000] [--upstreams 1] [--interval 60] [--minutes 5] [--tick 100]
 *                                   [--days 0] [--page-size 4096]
 *
 * What storage costs per check, without the network: the real recorder (raw checks, hour rollups,
 * status snapshot, diagnosis, site state) fed synthetic rounds in the batches the scheduler
 * makes (every `tick` ms, the rounds due in it), on a fake clock, in this process on a temp
 * database. Reports bytes written per check (/proc/self/io: `wchar` is every write() of SQLite,
 * WAL frames and checkpoints included; `write_bytes` what reached the block layer), CPU per
 * check of the recording path, and dbstat's bytes per row of each table.
 *
 * `--days N` then simulates N days of history at one round per target per `interval` (written
 * straight through the recorder in bulk, housekeeping run every simulated hour) and prints the
 * file size and its freelist each day: flat once retention is reached means freed pages reused.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { tableSizes } from './lib/db-figures.js';
import { createFleet } from './lib/fleet.js';
import { ioWritten } from './lib/threads.js';
import { round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '10000' },
    upstreams: { type: 'string', default: '1' },
    interval: { type: 'string', default: '60' },
    minutes: { type: 'string', default: '5' },
    tick: { type: 'string', default: '100' },
    days: { type: 'string', default: '0' },
    'raw-hours': { type: 'string', default: '48' },
    'hourly-days': { type: 'string', default: '90' },
    'daily-days': { type: 'string', default: '730' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node --import tsx bench/storage.ts [--sites 10000] [--upstreams 1] [--interval 60] [--minutes 5] [--tick 100] [--days 0]');
  console.log('  [--raw-hours 48] [--hourly-days 90] [--daily-days 730] [--keep]: bytes written and stored per check (see the comment at the top)');
  process.exit(0);
}
const sites = Number(args.sites);
const upstreams = Number(args.upstreams);
const intervalMs = Number(args.interval) * 1000;
const tickMs = Number(args.tick);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const dir = mkdtempSync(join(os.tmpdir(), 'gw-storage-'));
const file = join(dir, 'gw.db');
const clock = { at: Math.floor(Date.now() / DAY) * DAY - 30 * DAY, now: () => clock.at };
const svc = buildService(
  loadConfig({
    DATABASE_PATH: file,
    API_TOKEN: 'storage-bench-0123456789abcdef',
    LOG_LEVEL: 'silent',
    RETENTION_RAW_HOURS: args['raw-hours'],
    RETENTION_HOURLY_DAYS: args['hourly-days'],
    RETENTION_DAILY_DAYS: args['daily-days'],
  }),
  silentLogger,
  { clock },
);
const sqlite = svc.db.$client;

const fleet = await createFleet(svc, clock, { sites, upstreams, intervalMs });
const run = fleet.run;

const tables = () => {
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  return tableSizes(sqlite);
};

const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
console.log(`${sites} sites x ${1 + upstreams} targets @ ${intervalMs / 1000} s, ticks of ${tickMs} ms, page size ${pageSize}`);
// Warm-up: one interval, so every site has its snapshot row and the tables their first pages.
const start = clock.at;
run(start, start + intervalMs, tickMs);
sqlite.pragma('wal_checkpoint(TRUNCATE)');
const io0 = ioWritten();
const cpu0 = cpuMs();
const t0 = performance.now();
const minutes = Number(args.minutes);
const written = run(start + intervalMs, start + intervalMs + minutes * 60_000, tickMs);
const cpu1 = cpuMs();
const io1 = ioWritten();
const wallMs = performance.now() - t0;
console.log(
  `recorded ${written} checks in ${round(wallMs / 1000, 1)} s: ${round(((cpu1 - cpu0) / written) * 1000, 1)} µs CPU per check; ` +
    `written per check ${round((io1.wchar - io0.wchar) / written, 0)} B (wchar), ${round((io1.writeBytes - io0.writeBytes) / written, 0)} B to storage`,
);
/** Prints dbstat's table and the raw checks' bytes per check, all included (rows, dictionary, chunks). */
const report = (title: string) => {
  const t = tables();
  console.log(`${title} (bytes, rows, bytes per row):`);
  for (const [name, e] of Object.entries(t).sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`  ${name.padEnd(22)} ${String(e.bytes).padStart(11)} ${String(e.rows).padStart(9)} ${e.bytesPerRow ?? ''}`);
  const raw = ['raw_checks', 'check_details', 'check_chunks'].reduce((n, tbl) => n + (t[tbl]?.bytes ?? 0), 0);
  const rows = t.raw_checks?.rows ?? 0;
  if (rows) console.log(`  raw checks all included: ${round(raw / rows, 1)} B per check`);
};
report('dbstat');

const days = Number(args.days);
if (days > 0) {
  // History at the real rate, one simulated hour at a time, in ticks of a minute (the same rows, bigger batches).
  console.log(`simulating ${days} days: file size and freelist after each day`);
  let at = clock.at;
  for (let d = 1; d <= days; d++) {
    for (let h = 0; h < 24; h++) {
      run(at, at + HOUR, 60_000);
      at += HOUR;
      clock.at = at + 5 * 60_000;
      svc.recorder.record([]);
      await svc.housekeeping.runOnce();
    }
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    const free = sqlite.pragma('freelist_count', { simple: true }) as number;
    const pages = sqlite.pragma('page_count', { simple: true }) as number;
    const counts = ['raw_checks', 'rollup_hours', 'rollup_days'].map((tbl) => `${tbl} ${(sqlite.prepare(`SELECT COUNT(*) AS n FROM ${tbl}`).get() as { n: number }).n}`);
    console.log(`  day ${d}: file ${round(statSync(file).size / 1e6, 1)} MB, ${pages} pages, ${free} free; ${counts.join(', ')}`);
  }
  report('dbstat after the simulated days');
  // Per-site reads on the pruned database: the newest page of checks, and the last hour (what a rebuild reads).
  const ids = (sqlite.prepare('SELECT id FROM sites').all() as { id: number }[]).map((r) => r.id);
  const timed = (read: (id: number) => unknown) =>
    ids
      .map((id) => {
        const t = performance.now();
        read(id);
        return performance.now() - t;
      })
      .sort((a, b) => a - b);
  const pct = (ms: number[], p: number) => round(ms[Math.min(ms.length - 1, Math.floor(ms.length * p))], 2);
  const page = timed((id) => svc.checks.list(id, { limit: 50 }));
  const hour = timed((id) => svc.checks.window(id, clock.at - HOUR, 1000));
  console.log(`per-site reads: list 50 p50 ${pct(page, 0.5)} ms p99 ${pct(page, 0.99)} ms; window 1 h p50 ${pct(hour, 0.5)} ms p99 ${pct(hour, 0.99)} ms`);
}

svc.status.stop();
closeDatabase(svc.db);
if (!args.keep) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${file}`);
