/**
 * A synthetic fleet for the storage benches (bench/storage.ts, bench/prune-week.ts): sites made
 * through the service's own sites repository, each probed every `intervalMs` on its own phase,
 * and rounds of plausible checks (every target up, a few ms of latency that varies from check to
 * check) handed to the real recorder on a fake clock, in the batches the scheduler would make.
 */
import type { NewCheckRow } from '../../src/checks/checks.table.js';
import type { Folded } from '../../src/checks/rollups.repository.js';
import { bucketOf, latencyOf, mergeHist, type RollupAcc } from '../../src/checks/rollups.js';
import type { RoundResult } from '../../src/scheduler/scheduler.js';
import type { buildService } from '../../src/service.js';
import { siteCreateSchema } from '../../src/sites/sites.schemas.js';
import type { SiteView } from '../../src/sites/sites.repository.js';

type Service = ReturnType<typeof buildService>;

/**
 * One synthetic check; `k` (a running count) varies the timings as a real target's do, over seven
 * steps from `ttfbMs` (3 ms: a target on the same network; 1/6 of it apart when higher).
 */
export const syntheticCheck = (siteId: number, target: string, name: string, at: number, k: number, ttfbMs = 3) => ({
  siteId,
  target,
  targetName: name,
  startedAt: at,
  outcome: 'ok' as const,
  statusCode: 200,
  errorMessage: null,
  addresses: [`10.0.${(siteId >> 8) & 255}.${siteId & 255}`],
  address: `10.0.${(siteId >> 8) & 255}.${siteId & 255}`,
  dnsMs: 1,
  connectMs: 1 + (k % 3),
  tlsMs: null,
  ttfbMs: ttfbMs + (k % 7) * Math.max(1, Math.round(ttfbMs / 6)),
  totalMs: ttfbMs + 1 + (k % 7) * Math.max(1, Math.round(ttfbMs / 6)),
  gateway: null,
}) satisfies NewCheckRow;

/** One hour of one target summed as the recorder's open hour sums it (its row's figures). */
function hourOf(checks: NewCheckRow[]): RollupAcc {
  const acc: RollupAcc = { siteId: 0, target: '', bucket: 0, count: 0, okCount: 0, failures: {}, latencySumMs: 0, latencyHist: [] };
  for (const row of checks) {
    acc.count++;
    if (row.outcome === 'ok') acc.okCount++;
    else acc.failures[row.outcome] = (acc.failures[row.outcome] ?? 0) + 1;
    const latency = latencyOf(row);
    if (latency === null) continue;
    acc.latencySumMs += latency;
    const b = bucketOf(latency);
    while (acc.latencyHist.length <= b) acc.latencyHist.push(0);
    acc.latencyHist[b]++;
  }
  return acc;
}

/**
 * Rollup rows as the service makes them from `syntheticCheck`s: seven hours of one target
 * (`perHour` checks each, as a target among `targetsPerRound` sees them), and seven days, each
 * the sum of 24 of those hours. Neighbouring rows differ as real ones do, and their histograms
 * span the buckets real checks fill, so rows prefilled from them have real rows' bytes.
 */
export function rollupVariants(perHour: number, targetsPerRound: number, ttfbMs = 3): { hours: RollupAcc[]; days: Folded[] } {
  const hours = Array.from({ length: 7 }, (_, v) =>
    hourOf(Array.from({ length: perHour }, (_, j) => syntheticCheck(0, 'site', '', 0, v + j * targetsPerRound, ttfbMs))),
  );
  const days = hours.map((_, v) => {
    const f: Folded = { count: 0, okCount: 0, failures: {}, latencySumMs: 0, latencyHist: [] };
    for (let h = 0; h < 24; h++) {
      const a = hours[(v + h) % hours.length];
      f.count += a.count;
      f.okCount += a.okCount;
      f.latencySumMs += a.latencySumMs;
      f.latencyHist = mergeHist(f.latencyHist, a.latencyHist);
    }
    return f;
  });
  return { hours, days };
}

export interface Fleet {
  views: SiteView[];
  /** Every (site, target) pair, in site order: 'site' then the upstreams' ids. */
  targets: { siteId: number; target: string }[];
  /**
   * Records every round due in [from, to) through the service's recorder, in batches of `tick`
   * ms, moving `clock.at` to the end of each batch; returns the checks written.
   */
  run(from: number, to: number, tick: number): number;
}

export async function createFleet(svc: Service, clock: { at: number }, p: { sites: number; upstreams: number; intervalMs: number; ttfbMs?: number }): Promise<Fleet> {
  const views: SiteView[] = [];
  for (let i = 0; i < p.sites; i++) {
    const body = siteCreateSchema.parse({
      name: `bench-${i}`,
      url: `http://site-${i}.bench.test/`,
      intervalSeconds: p.intervalMs / 1000,
      upstreams: Array.from({ length: p.upstreams }, (_, k) => ({ name: `app-${k + 1}`, url: `http://app-${k + 1}.site-${i}.bench.test:8080/health` })),
    });
    views.push(await svc.sites.create(body));
  }
  const phases = views.map((_, i) => Math.floor(((i * 0.6180339887498949) % 1) * p.intervalMs));
  const targets = views.flatMap((v) => [{ siteId: v.id, target: 'site' }, ...v.upstreams.map((u) => ({ siteId: v.id, target: String(u.id) }))]);
  let k = 0;

  const run = (from: number, to: number, tick: number): number => {
    let checks = 0;
    for (let t = from; t < to; t += tick) {
      const rounds: RoundResult[] = [];
      for (let i = 0; i < views.length; i++) {
        const site = views[i];
        // Rounds of this site due in [t, t + tick).
        const first = Math.ceil((t - phases[i]) / p.intervalMs) * p.intervalMs + phases[i];
        for (let at = first; at < t + tick; at += p.intervalMs) {
          rounds.push({
            site,
            startedAt: at,
            checks: [
              syntheticCheck(site.id, 'site', site.name, at, k++, p.ttfbMs),
              ...site.upstreams.map((u) => syntheticCheck(site.id, String(u.id), u.name, at, k++, p.ttfbMs)),
            ],
          });
        }
      }
      clock.at = t + tick;
      if (rounds.length) {
        svc.recorder.record(rounds);
        checks += rounds.length * (1 + p.upstreams);
      }
    }
    return checks;
  };
  return { views, targets, run };
}
