/**
 * flock /tmp/bench.lock node --import tsx bench/prune-week.ts [--sites 500] [--upstreams 1] [--interval 60] [--days 7]
 *                                       [--housekeeping-every 60] [--tick 60] [--first-rowid 0] [--ttfb-ms 3] [--compare bench/results/<run>.json] [--keep]
 *
 * A week of pruning on a database already at retention (issue 16): does the file stay flat, and
 * does the full bench's steady-state projection (bench/lib/db-figures.ts) match a real pruned
 * database? Everything runs in this process on a temp database, through the real migrations and
 * the service's own code, on a fake clock:
 *
 * `--first-rowid N` starts raw_checks' rowids above N (its AUTOINCREMENT sequence, as an instance
 * that has stored N checks has it: about 1e10 after a year at 10,000 sites), since rowids and the
 * ids listed in check_chunks take more bytes as they grow. `--ttfb-ms` sets the synthetic checks'
 * latency (3 ms by default; a wider latency histogram makes longer rollup rows).
 *
 * 1. Aged rows (older than the raw retention): day rollups for the days beyond the hour
 *    retention (730 days back to 90) written by the rollups repository's `writeDays`, and hour
 *    rollups for 90 days written by its `writeHours`, each from accumulators of synthetic checks
 *    (the same checks as below, summed as the recorder sums an open hour); the day rollups of those 90 days are
 *    then folded from them by housekeeping itself. The WAL of this bulk load is checkpointed away.
 * 2. The last RETENTION_RAW_HOURS (48 h) at the real rate through the real recorder (raw checks,
 *    check chunks and details, hour rollups, status snapshot, diagnosis), `--tick` seconds of
 *    rounds per batch, with housekeeping's `runOnce` (what its cron calls every minute: rollups,
 *    pruning) every `--housekeeping-every` simulated seconds and the snapshot written every 5 min.
 * 3. `--days` more days the same way; after each simulated day: the main file and the WAL as they
 *    are on disk (no forced checkpoint), page_count and freelist_count, rows of the growing tables.
 *
 * Then the verdict (flat: grew < 2 % from day 0, when every retention is reached, to the last
 * day), dbstat's bytes per row, and the projection of bench/run.ts applied to this database,
 * against the file itself and against the numbers of a full bench run (`--compare`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DAY, HOUR } from '../src/checks/rollups.repository.js';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import { settingsStore } from '../src/db/settings.table.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { DAY_WATERMARK_KEY, HOUR_WATERMARK_KEY } from '../src/status/status.service.js';
import { SNAPSHOT_FLUSH_EVERY_MS } from '../src/status/status.snapshot.js';
import { dbFigures } from './lib/db-figures.js';
import { createFleet, rollupVariants } from './lib/fleet.js';
import { round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '500' },
    upstreams: { type: 'string', default: '1' },
    interval: { type: 'string', default: '60' },
    days: { type: 'string', default: '7' },
    'housekeeping-every': { type: 'string', default: '60' },
    tick: { type: 'string', default: '60' },
    'first-rowid': { type: 'string', default: '0' },
    'ttfb-ms': { type: 'string', default: '3' },
    compare: { type: 'string', default: 'bench/results/2026-12-06-10k-60s-v04.json' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node --import tsx bench/prune-week.ts [--sites 500] [--upstreams 1] [--interval 60] [--days 7] [--housekeeping-every 60] [--tick 60]');
  console.log('  [--compare RESULT.json] [--keep]: a simulated week of pruning on a prefilled database (see the comment at the top)');
  process.exit(0);
}
const sites = Number(args.sites);
const upstreams = Number(args.upstreams);
const intervalMs = Number(args.interval) * 1000;
const days = Number(args.days);
const housekeepingMs = Number(args['housekeeping-every']) * 1000;
const tickMs = Number(args.tick) * 1000;
if (HOUR % housekeepingMs !== 0 || housekeepingMs % tickMs !== 0 || SNAPSHOT_FLUSH_EVERY_MS % housekeepingMs !== 0) {
  throw new Error('--housekeeping-every must divide an hour and 5 min, and --tick must divide it');
}

const dir = mkdtempSync(join(os.tmpdir(), 'gw-prune-week-'));
const file = join(dir, 'gw.db');
// The raw phase starts at a midnight a month ago, so that days close on simulated midnights.
const rawStart = Math.floor(Date.now() / DAY) * DAY - 30 * DAY;
const clock = { at: rawStart, now: () => clock.at };
const config = loadConfig({ DATABASE_PATH: file, API_TOKEN: 'prune-week-bench-0123456789abcdef', LOG_LEVEL: 'silent' });
const svc = buildService(config, silentLogger, { clock });
const sqlite = svc.db.$client;
const rawMs = config.RETENTION_RAW_HOURS * HOUR;
const hourlyDays = config.RETENTION_HOURLY_DAYS;
const dailyDays = config.RETENTION_DAILY_DAYS;
const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
const targetsPerRound = 1 + upstreams;
const perHour = Math.round(HOUR / intervalMs);

const t0 = performance.now();
const ttfbMs = Number(args['ttfb-ms']);
const fleet = await createFleet(svc, clock, { sites, upstreams, intervalMs, ttfbMs });
console.log(
  `${sites} sites x ${targetsPerRound} targets @ ${intervalMs / 1000} s; retention raw ${config.RETENTION_RAW_HOURS} h, hours ${hourlyDays} d, days ${dailyDays} d; ` +
    `auto_vacuum ${sqlite.pragma('auto_vacuum', { simple: true })}, page size ${pageSize}, wal_autocheckpoint ${sqlite.pragma('wal_autocheckpoint', { simple: true })}`,
);

// 1. Aged rows. One hour of one target as the recorder would sum it: perHour synthetic checks.
// A few variants, so that neighbouring rows differ as real ones do.
const { hours: hourVariants, days: dayVariants } = rollupVariants(perHour, targetsPerRound, ttfbMs);
const keys = fleet.targets.map((t) => svc.rollups.keyOf(t.siteId, t.target, true));
const hoursFrom = rawStart - hourlyDays * DAY;
const daysFrom = rawStart - dailyDays * DAY;
let agedDays = 0;
let agedHours = 0;
for (let day = daysFrom; day < hoursFrom; day += DAY) {
  const rows = keys.map((key, i) => ({ key, f: dayVariants[(i + day / DAY) % dayVariants.length], worst: null }));
  sqlite.transaction(() => svc.rollups.writeDays(day, rows))();
  agedDays += rows.length;
}
for (let day = hoursFrom; day < rawStart; day += DAY) {
  sqlite.transaction(() => {
    for (let hour = day; hour < day + DAY; hour += HOUR) {
      const accs = fleet.targets.map((t, i) => ({ ...hourVariants[(i + hour / HOUR) % hourVariants.length], siteId: t.siteId, target: t.target, bucket: hour }));
      svc.rollups.writeHours(accs);
      agedHours += accs.length;
    }
  })();
}
// As on a service that has run this long: every hour before the raw phase is rolled up, and the
// days of the hour retention are left for housekeeping to fold (the days before it are written).
const marks = settingsStore(sqlite);
marks.set(HOUR_WATERMARK_KEY, rawStart);
marks.set(DAY_WATERMARK_KEY, hoursFrom);
const firstRowid = Number(args['first-rowid']);
if (firstRowid > 0) sqlite.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('raw_checks', ?)").run(firstRowid);
sqlite.pragma('wal_checkpoint(TRUNCATE)');
console.log(`aged rows: ${agedDays} day rollups, ${agedHours} hour rollups in ${round((performance.now() - t0) / 1000, 1)} s`);

// 2 and 3. Rounds through the recorder, housekeeping as its cron runs it, one day at a time.
interface DayFigures {
  day: number;
  mainMB: number;
  walMB: number;
  totalMB: number;
  pages: number;
  free: number;
  rows: Record<string, number>;
  /** dbstat bytes of the tables that grow with time, and the newest raw rowid. */
  bytes: Record<string, number>;
  maxRowid: number;
  checks: number;
  seconds: number;
}
const grown = ['raw_checks', 'check_chunks', 'rollup_hours', 'rollup_days'];
const counted = ['raw_checks', 'check_chunks', 'check_details', 'rollup_hours', 'rollup_days', 'status_snapshot'];
const sizeOf = (path: string) => (existsSync(path) ? statSync(path).size : 0);
const figures: DayFigures[] = [];
let at = rawStart;
const simulateDay = async (label: number) => {
  const t = performance.now();
  let checks = 0;
  for (const end = at + DAY; at < end; at += housekeepingMs) {
    checks += fleet.run(at, at + housekeepingMs, tickMs);
    clock.at = at + housekeepingMs;
    svc.recorder.record([]);
    if (clock.at % SNAPSHOT_FLUSH_EVERY_MS === 0) await svc.snapshot.flush();
    await svc.housekeeping.runOnce();
  }
  const main = sizeOf(file);
  const wal = sizeOf(`${file}-wal`);
  const rows = Object.fromEntries(counted.map((tbl) => [tbl, (sqlite.prepare(`SELECT COUNT(*) AS n FROM "${tbl}"`).get() as { n: number }).n]));
  const inUse = new Map((sqlite.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]).map((r) => [r.name, r.bytes]));
  const bytes = Object.fromEntries(grown.map((tbl) => [tbl, inUse.get(tbl) ?? 0]));
  const f: DayFigures = {
    day: label,
    mainMB: round(main / 1e6, 2)!,
    walMB: round(wal / 1e6, 2)!,
    totalMB: round((main + wal) / 1e6, 2)!,
    pages: sqlite.pragma('page_count', { simple: true }) as number,
    free: sqlite.pragma('freelist_count', { simple: true }) as number,
    rows,
    bytes,
    maxRowid: (sqlite.prepare('SELECT MAX(id) AS id FROM raw_checks').get() as { id: number }).id,
    checks,
    seconds: round((performance.now() - t) / 1000, 1)!,
  };
  figures.push(f);
  console.log(
    `day ${String(label).padStart(2)}: main ${f.mainMB} MB + WAL ${f.walMB} MB = ${f.totalMB} MB; ${f.pages} pages (${round((f.pages * pageSize) / 1e6, 2)} MB), ${f.free} free; ` +
      `${counted.map((tbl) => `${tbl} ${rows[tbl]}`).join(', ')}; ${checks} checks in ${f.seconds} s`,
  );
  console.log(`        dbstat bytes per row: ${grown.map((tbl) => `${tbl} ${round(bytes[tbl] / Math.max(1, rows[tbl]), 2)}`).join(', ')}; newest raw rowid ${f.maxRowid}`);
};
const rawDays = Math.ceil(rawMs / DAY);
console.log(`raw phase (${rawDays} days up to retention), then ${days} days at retention; after each simulated day:`);
for (let d = -rawDays + 1; d <= days; d++) await simulateDay(d);

// Verdict: from day 0 (every retention reached) to the last day.
const base = figures.find((f) => f.day === 0)!;
const last = figures[figures.length - 1];
const growth = (a: number, b: number) => round(((b - a) / a) * 100, 2)!;
const fileGrowth = growth(base.totalMB, last.totalMB);
const pageGrowth = growth(base.pages, last.pages);
// The verdict reads page_count: the database's own size, which the main file reaches at each
// checkpoint (on disk the main file lags it by the pages still only in the WAL, whose file keeps
// the size of the largest run between checkpoints).
const flat = pageGrowth < 2;
const atRetention = figures.filter((f) => f.day >= 0);
console.log(
  `verdict: ${flat ? 'FLAT' : 'NOT FLAT'} (< 2 %): pages ${base.pages} -> ${last.pages} (${pageGrowth} %) from day 0 to day ${last.day}; on disk main + WAL ${base.totalMB} -> ${last.totalMB} MB ` +
    `(${fileGrowth} %; from day 1 ${growth(figures.find((f) => f.day === 1)?.totalMB ?? base.totalMB, last.totalMB)} %), WAL ${Math.min(...atRetention.map((f) => f.walMB))}-${Math.max(...atRetention.map((f) => f.walMB))} MB; ` +
    `free pages ${Math.min(...atRetention.map((f) => f.free))}-${Math.max(...atRetention.map((f) => f.free))}`,
);

// The projection of bench/run.ts on this database (it checkpoints the WAL first).
const db = dbFigures(sqlite, { sites, intervalS: intervalMs / 1000, targetsPerRound });
console.log('dbstat after the week (bytes, rows, bytes per row):');
for (const [name, e] of Object.entries(db.tables).sort((a, b) => b[1].bytes - a[1].bytes)) {
  if (e.bytes > 0) console.log(`  ${name.padEnd(22)} ${String(e.bytes).padStart(11)} ${String(e.rows).padStart(9)} ${e.bytesPerRow ?? ''}`);
}
const bytes = (...tbls: string[]) => tbls.reduce((n, t) => n + (db.tables[t]?.bytes ?? 0), 0);
const realParts = {
  raw: bytes('raw_checks', 'check_chunks'),
  hours: bytes('rollup_hours'),
  days: bytes('rollup_days'),
  fixed: bytes('sites', 'upstreams', 'status_snapshot', 'rollup_targets', 'check_details'),
};
const fileBytes = db.fileBytes;
const freeBytes = (sqlite.pragma('freelist_count', { simple: true }) as number) * pageSize;
const [atFleet, at10k] = db.steadyState;
const pct = (projected: number, real: number) => `${round(((projected - real) / real) * 100, 1)} %`;
console.log(`projection (bench/run.ts's formula: check ${db.checkRowBytes} B all included, hour row ${db.tables.rollup_hours?.bytesPerRow} B, day row ${db.tables.rollup_days?.bytesPerRow} B) against this database:`);
const line = (what: string, projected: number, real: number) =>
  console.log(`  ${what.padEnd(28)} projected ${String(round(projected / 1e6, 2)).padStart(8)} MB, real ${String(round(real / 1e6, 2)).padStart(8)} MB: ${pct(projected, real)}`);
const projected = atFleet.bytes;
const projectedTotal = projected.raw + projected.hours + projected.days + projected.fixed;
line('raw checks (+ chunks)', projected.raw, realParts.raw);
line('hour rollups', projected.hours, realParts.hours);
line('day rollups', projected.days, realParts.days);
line('per site', projected.fixed, realParts.fixed);
line('total vs file', projectedTotal, fileBytes);
line('total vs file less freelist', projectedTotal, fileBytes - freeBytes);
const scale = 10_000 / sites;
console.log(
  `at 10,000 sites: projected from this database ${at10k.totalGB} GB; this file scaled x${scale}: ${round((fileBytes * scale) / 1e9, 2)} GB ` +
    `(projection ${pct((at10k.totalGB ?? 0) * 1e9, fileBytes * scale)}); plus the WAL, which does not grow with the fleet: at most ${Math.max(...figures.map((f) => f.walMB))} MB this week`,
);
if (args.compare && existsSync(args.compare)) {
  const full = JSON.parse(readFileSync(args.compare, 'utf8')) as { label?: string; db: { checkRowBytes: number; tables: Record<string, { bytesPerRow: number | null }>; steadyState: { sites: number; rawChecksGB: number; hourRollupsGB: number; dayRollupsGB: number; fixedGB: number; totalGB: number }[] } };
  const theirs = full.db.steadyState.find((s) => s.sites === 10_000);
  if (theirs) {
    console.log(
      `full bench ${full.label ?? args.compare}: check ${full.db.checkRowBytes} B, hour row ${full.db.tables.rollup_hours?.bytesPerRow} B, day row ${full.db.tables.rollup_days?.bytesPerRow} B -> ` +
        `raw ${theirs.rawChecksGB} + hours ${theirs.hourRollupsGB} + days ${theirs.dayRollupsGB} + per site ${theirs.fixedGB} = ${theirs.totalGB} GB at 10,000 sites; ` +
        `against this file scaled: ${pct(theirs.totalGB * 1e9, fileBytes * scale)} (raw ${pct(theirs.rawChecksGB * 1e9, realParts.raw * scale)}, hours ${pct(theirs.hourRollupsGB * 1e9, realParts.hours * scale)}, days ${pct(theirs.dayRollupsGB * 1e9, realParts.days * scale)})`,
    );
  }
}
console.log(`total ${round((performance.now() - t0) / 1000, 1)} s`);

svc.status.stop();
svc.stopStorage();
closeDatabase(svc.db);
if (!args.keep) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${file}`);
