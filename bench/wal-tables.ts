/**
 * node --import tsx bench/wal-tables.ts [--sites 10000] [--upstreams 1] [--interval 60] [--minutes 23]
 *
 * Which table the bytes written per check go to: the real recorder fed synthetic rounds on a fake
 * clock (as bench/storage.ts), in batches of 100 ms, committed once a simulated second (as the
 * scheduler's held rounds are), the status snapshot flushed every SNAPSHOT_FLUSH_EVERY_MS (as housekeeping does); no checkpoint during the
 * window. Then the WAL's frames are counted by page and the pages mapped to tables with dbstat.
 * 23 minutes take in two writes of closed check chunks; rollup hours (written once an hour) are
 * not in it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { SNAPSHOT_FLUSH_EVERY_MS } from '../src/status/status.snapshot.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { siteCreateSchema } from '../src/sites/sites.schemas.js';
const { values: args } = parseArgs({ options: { sites: { type: 'string', default: '10000' }, interval: { type: 'string', default: '60' }, minutes: { type: 'string', default: '23' }, upstreams: { type: 'string', default: '1' } } });
const sites = Number(args.sites), intervalMs = Number(args.interval) * 1000, upstreams = Number(args.upstreams), tickMs = 100;
const DAY = 86_400_000;
const dir = mkdtempSync(join(os.tmpdir(), 'gw-walstat-'));
const file = join(dir, 'gw.db');
const clock = { at: Math.floor(Date.now() / DAY) * DAY - 30 * DAY, now: () => clock.at };
const svc = buildService(loadConfig({ DATABASE_PATH: file, API_TOKEN: 'walstat-0123456789abcdef0123', LOG_LEVEL: 'silent' }), silentLogger, { clock });
const sqlite = svc.db.$client;
const views: SiteView[] = [];
for (let i = 0; i < sites; i++) {
  views.push(await svc.sites.create(siteCreateSchema.parse({ name: `bench-${i}`, url: `http://site-${i}.bench.test/`, intervalSeconds: intervalMs / 1000,
    upstreams: Array.from({ length: upstreams }, (_, k) => ({ name: `app-${k + 1}`, url: `http://app-${k + 1}.site-${i}.bench.test:8080/health` })) })));
}
const phases = views.map((_, i) => Math.floor(((i * 0.6180339887498949) % 1) * intervalMs));
const check = (siteId: number, target: string, name: string, at: number, k: number) => ({ siteId, target, targetName: name, startedAt: at, outcome: 'ok' as const, statusCode: 200, errorMessage: null,
  addresses: [`10.0.${(siteId >> 8) & 255}.${siteId & 255}`], address: `10.0.${(siteId >> 8) & 255}.${siteId & 255}`, dnsMs: 1, connectMs: 1 + (k % 3), tlsMs: null, ttfbMs: 3 + (k % 7), totalMs: 4 + (k % 7), gateway: null });
let nextFlush = 0;
async function run(from: number, to: number): Promise<number> {
  let checks = 0, k = 0;
  for (let t = from; t < to; t += tickMs) {
    const rounds: RoundResult[] = [];
    for (let i = 0; i < views.length; i++) {
      const site = views[i];
      const first = Math.ceil((t - phases[i]) / intervalMs) * intervalMs + phases[i];
      for (let at = first; at < t + tickMs; at += intervalMs) rounds.push({ site, startedAt: at, checks: [check(site.id, 'site', site.name, at, k++), ...site.upstreams.map((u) => check(site.id, String(u.id), u.name, at, k++))] });
    }
    clock.at = t + tickMs;
    if (rounds.length) { svc.recorder.record(rounds, true); checks += rounds.length * (1 + upstreams); }
    if (clock.at % 1000 === 0) svc.recorder.record([]);
    if (clock.at >= nextFlush) { nextFlush = clock.at + SNAPSHOT_FLUSH_EVERY_MS; await svc.snapshot.flush(); }
  }
  return checks;
}
const start = clock.at;
await run(start, start + intervalMs);
svc.recorder.record([]);
sqlite.pragma('wal_checkpoint(TRUNCATE)');
sqlite.pragma('wal_autocheckpoint = 0');
const written = await run(start + intervalMs, start + intervalMs + Number(args.minutes) * 60_000);
const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
const wal = readFileSync(file + '-wal');
const frames = new Map<number, number>();
let n = 0;
for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) { const pg = wal.readUInt32BE(off); frames.set(pg, (frames.get(pg) ?? 0) + 1); n++; }
const owner = new Map<number, string>();
const idx = new Map((sqlite.prepare("SELECT name, tbl_name AS tbl FROM sqlite_master WHERE type IN ('table','index')").all() as { name: string; tbl: string }[]).map((r) => [r.name, r.tbl]));
for (const r of sqlite.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[]) owner.set(r.pageno, `${idx.get(r.name) ?? r.name}${idx.get(r.name) && idx.get(r.name) !== r.name ? ` (${r.name})` : ''}`);
const by = new Map<string, { frames: number; pages: number }>();
for (const [pg, f] of frames) { const name = pg === 1 ? 'header page 1' : (owner.get(pg) ?? 'freelist/other'); const e = by.get(name) ?? { frames: 0, pages: 0 }; e.frames += f; e.pages++; by.set(name, e); }
console.log(`${sites} sites x ${1 + upstreams} @ ${intervalMs / 1000} s, ${args.minutes} min: ${written} checks, ${n} WAL frames = ${Math.round((n * (24 + pageSize)) / written)} B per check in the WAL (+ a checkpoint writes each distinct page once: ${Math.round(([...frames.keys()].length * pageSize) / written)} B per check)`);
for (const [name, e] of [...by].sort((a, b) => b[1].frames - a[1].frames)) console.log(`  ${name.padEnd(40)} ${String(e.frames).padStart(8)} frames  ${String(Math.round((e.frames * (24 + pageSize)) / written)).padStart(5)} B/check   ${e.pages} distinct pages`);
closeDatabase(svc.db);
rmSync(dir, { recursive: true, force: true });
