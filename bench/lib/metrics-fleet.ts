/**
 * The fleet the metrics benches scrape and render (bench/metrics.ts, bench/render-full.ts): sites
 * made through the service's own sites repository, with names that need escaping now and then,
 * every third one https, and rounds of realistic last checks handed to the real recorder and, as
 * the scheduler does, to the metrics.
 */
import type { RoundResult } from '../../src/scheduler/scheduler.js';
import type { buildService } from '../../src/service.js';
import { siteCreateSchema } from '../../src/sites/sites.schemas.js';
import type { SiteView } from '../../src/sites/sites.repository.js';

type Service = ReturnType<typeof buildService>;

/** `sites` sites @ 60 s with `upstreams` upstreams each: one name in 50 with a quote and a backslash, one URL in 3 https. */
export async function createMetricsFleet(svc: Service, sites: number, upstreams: number): Promise<SiteView[]> {
  const views: SiteView[] = [];
  for (let i = 0; i < sites; i++) {
    const body = siteCreateSchema.parse({
      name: i % 50 === 0 ? `shop "eu-${i}" \\ main` : `bench-${i}`,
      url: i % 3 === 0 ? `https://site-${i}.bench.test/` : `http://site-${i}.bench.test/`,
      intervalSeconds: 60,
      upstreams: Array.from({ length: upstreams }, (_, k) => ({ name: `app-${k + 1}`, url: `http://app-${k + 1}.site-${i}.bench.test:8080/health` })),
    });
    views.push(await svc.sites.create(body));
  }
  return views;
}

/** A realistic last check: https sites have tls and a certificate, one site in 20 answers 502; `k` (a running count) varies the timings. */
const check = (site: SiteView, target: string, name: string, at: number, k: number) => {
  const https = target === 'site' && site.url.startsWith('https:');
  const bad = site.id % 20 === 0;
  return {
    siteId: site.id,
    target,
    targetName: name,
    startedAt: at,
    outcome: bad ? ('bad_gateway' as const) : ('ok' as const),
    statusCode: bad ? 502 : 200,
    errorMessage: null,
    addresses: ['10.0.0.1'],
    address: '10.0.0.1',
    dnsMs: 1 + (k % 5),
    connectMs: 3 + (k % 3),
    tlsMs: https ? 9 + (k % 4) : null,
    ttfbMs: 15 + (k % 7),
    totalMs: 16 + (k % 11),
    gateway: bad ? ('nginx' as const) : null,
    ...(https ? { certExpiresAt: Date.now() + 40 * 86_400_000, certIssuer: 'Bench CA' } : {}),
  };
};

let k = 0;
/** Records one round for each of `list` through `svc`'s recorder, and hands the stored checks to its metrics as the scheduler does. */
export function recordRounds(svc: Service, list: SiteView[]): void {
  const at = Date.now();
  for (let i = 0; i < list.length; i += 500) {
    const rounds: RoundResult[] = list.slice(i, i + 500).map((site) => ({
      site,
      startedAt: at,
      checks: [check(site, 'site', site.name, at, k++), ...site.upstreams.map((u) => check(site, String(u.id), u.name, at, k++))],
    }));
    for (const rows of svc.recorder.record(rounds).values()) svc.metrics.observe(rows as never);
  }
}
