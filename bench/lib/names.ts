/**
 * How bench sites map to loopback targets: names under `bench.test`, each resolved by the bench's
 * own DNS server to one of `hosts` loopback addresses (127.0.0.10, .11, ...), every address
 * serving the same `ports`. Spreading connections over addresses and ports keeps each
 * (address, port) pair's share of ephemeral ports and TIME_WAIT entries small.
 */
export const BENCH_DOMAIN = 'bench.test';
export const FIRST_HOST = 10;

export const hostAddress = (index: number) => `127.0.0.${FIRST_HOST + index}`;

export const siteName = (i: number) => `site-${i}.${BENCH_DOMAIN}`;
export const upstreamName = (i: number, k: number) => `up-${i}-${k}.${BENCH_DOMAIN}`;

const NAME = /^(site|up)-(\d+)(?:-(\d+))?\.bench\.test$/;

/** The index (into the address list) that a bench name resolves to, or null for an unknown name. */
export function hostIndexOf(name: string, hosts: number): number | null {
  const m = NAME.exec(name);
  if (!m) return null;
  const i = Number(m[2]);
  return m[1] === 'site' ? i % hosts : (i + Number(m[3] ?? 0) + 1) % hosts;
}

export interface SiteBody {
  name: string;
  url: string;
  upstreams: { name: string; url: string }[];
  intervalSeconds: number;
  timeoutMs: number;
  paused?: boolean;
}

/** The API body that creates bench site `i`. */
export function siteBody(i: number, opts: { ports: number[]; upstreams: number; intervalSeconds: number; timeoutMs: number; paused?: boolean }): SiteBody {
  const port = (n: number) => opts.ports[n % opts.ports.length];
  return {
    name: `bench-${i}`,
    url: `http://${siteName(i)}:${port(i)}/`,
    upstreams: Array.from({ length: opts.upstreams }, (_, k) => ({
      name: `app-${k + 1}`,
      url: `http://${upstreamName(i, k)}:${port(i + k + 1)}/health`,
    })),
    intervalSeconds: opts.intervalSeconds,
    timeoutMs: opts.timeoutMs,
    ...(opts.paused ? { paused: true } : {}),
  };
}
