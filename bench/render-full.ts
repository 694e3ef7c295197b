/**
 * node --expose-gc --import tsx bench/render-full.ts [--sites 10000] [--rounds 10] [--profile FILE]
 *
 * What a full render of the metrics' per-target lines costs, in this process, with nothing else
 * on the event loop: `sites` sites with one upstream, a last check per target through the real
 * recorder, then `rounds` times two sites of every group marked edited (what a burst of edits or
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
import type { RoundResult } from '../src/scheduler/scheduler.js';
import { buildService } from '../src/service.js';
import { silentLogger } from '../src/shared/logger.js';
import { siteCreateSchema } from '../src/sites/sites.schemas.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { quantile, round } from './lib/stats.js';

const { values: args } = parseArgs({ options: { sites: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '10' }, profile: { type: 'string' } } });
const dir = mkdtempSync(join(os.tmpdir(), 'gw-render-'));
const svc = buildService(loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: 'render-bench-0123456789abcdef', LOG_LEVEL: 'silent' }), silentLogger);
const views: SiteView[] = [];
for (let i = 0; i < Number(args.sites); i++) {
  const body = siteCreateSchema.parse({
    name: i % 50 === 0 ? `shop "eu-${i}" \\ main` : `bench-${i}`,
    url: i % 3 === 0 ? `https://site-${i}.bench.test/` : `http://site-${i}.bench.test/`,
    upstreams: [{ name: 'app-1', url: `http://app-1.site-${i}.bench.test:8080/health` }],
  });
  views.push(await svc.sites.create(body));
}
const at = Date.now();
for (let i = 0; i < views.length; i += 500) {
  const rounds: RoundResult[] = views.slice(i, i + 500).map((site, n) => ({
    site,
    startedAt: at,
    checks: [{ t: 'site', name: site.name }, { t: String(site.upstreams[0].id), name: 'app-1' }].map(({ t, name }) => ({
      siteId: site.id,
      target: t,
      targetName: name,
      startedAt: at,
      outcome: 'ok' as const,
      statusCode: 200,
      errorMessage: null,
      addresses: ['10.0.0.1'],
      address: '10.0.0.1',
      dnsMs: 1 + (n % 5),
      connectMs: 3 + (n % 3),
      tlsMs: t === 'site' && site.url.startsWith('https:') ? 9 + (n % 4) : null,
      ttfbMs: 15 + (n % 7),
      totalMs: 16 + (n % 11),
      gateway: null,
      ...(t === 'site' && site.url.startsWith('https:') ? { certExpiresAt: at + 40 * 86_400_000, certIssuer: 'Bench CA' } : {}),
    })),
  }));
  for (const rows of svc.recorder.record(rounds).values()) svc.metrics.observe(rows as never);
}
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
