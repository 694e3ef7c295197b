/**
 * node --expose-gc --import tsx bench/render-full.ts [--sites 10000] [--rounds 10] [--profile FILE]
 *
 * What a full render of the metrics' per-target lines costs, in this process, with nothing else
 * on the event loop: `sites` sites with one upstream (bench/lib/metrics-fleet.ts), a last check
 * per target through the real recorder, then `rounds` times two sites of every group marked edited (what a burst of edits or
 * deletions across the fleet leaves to a scrape) and every group rendered again. `--profile`
 * writes a CPU profile of the renders (.cpuprofile).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { closeDatabase } from '../src/db/client.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { createMetricsFleet, recordRounds } from './lib/metrics-fleet.js';
import { quantile, round } from './lib/stats.js';

const { values: args } = parseArgs({ options: { sites: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '10' }, profile: { type: 'string' } } });
const dir = mkdtempSync(join(os.tmpdir(), 'gw-render-'));
const svc = buildService(loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: 'render-bench-0123456789abcdef', LOG_LEVEL: 'silent' }), silentLogger);
const views = await createMetricsFleet(svc, Number(args.sites), 1);
recordRounds(svc, views);
await svc.metrics.renderStale();
const byGroup = new Map<number, SiteView[]>();
for (const v of views) byGroup.set(svc.metrics.groupOf(v.id), [...(byGroup.get(svc.metrics.groupOf(v.id)) ?? []), v]);
const ms: number[] = [];
const session = args.profile ? new Session() : null;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
for (let r = 0; r < Number(args.rounds); r++) {
  for (const list of byGroup.values()) for (const v of list.slice(r % 8, (r % 8) + 2)) svc.metrics.siteChanged(v.id);
  global.gc?.();
  const t0 = performance.now();
  await svc.metrics.renderStale();
  ms.push(performance.now() - t0);
}
if (session) writeFileSync(args.profile!, JSON.stringify((await session.post('Profiler.stop')).profile));
console.log(
  JSON.stringify({ sites: views.length, groups: svc.metrics.counts().groups, keptKb: round(svc.metrics.counts().keptBytes / 1024, 0), ms: ms.map((x) => round(x, 1)), p50: round(quantile(ms, 0.5), 1) }),
);
svc.metrics.stop();
svc.status.stop();
svc.stopStorage();
closeDatabase(svc.db);
rmSync(dir, { recursive: true, force: true });
