import type { TimelineCheck } from '../diagnosis.types.js';
import { formatMs, gatewayName } from '../format.js';
import { median } from '../stats.js';
import type { Detector } from './detector.types.js';
import { answeredStatus, namesOf, plural } from './helpers.js';

/** The gateway answered a 5xx (a 502 whose body was cut by a reset is still one). */
const gatewayError = (c: TimelineCheck): boolean => answeredStatus(c, 500, 599);

/** Every upstream answers fine when probed directly, yet the gateway fails: look at the gateway. */
export const gatewayMisconfig: Detector = (ctx) => {
  // Upstreams that were failing long before, while the site was fine, are not what the gateway uses.
  const upstreams = ctx.upstreams.filter((u) => !ctx.chronic.has(u.key));
  if (upstreams.length === 0) return null;
  const rounds = ctx.failing.filter(
    (r) => gatewayError(r.site) && upstreams.every((u) => r.upstreams.get(u.key)?.outcome === 'ok'),
  );
  if (rounds.length === 0) return null;

  const gw = gatewayName(ctx.gateway);
  const statuses = [...new Set(rounds.map((r) => r.site.statusCode ?? 502))].join('/');
  const evidence = [
    `${gw} answered ${statuses} in ${rounds.length} of ${ctx.failing.length} failing ${plural(ctx.failing.length, 'check')} since ${ctx.at(rounds[0].at)}, while every upstream (${namesOf(upstreams)}) answered fine when probed directly in the same rounds`,
    ...upstreams.map((u) => {
      const checks = rounds.map((r) => r.upstreams.get(u.key)!);
      const ttfb = median(checks.map((c) => c.ttfbMs).filter((ms): ms is number => ms !== null));
      return `${u.label} (${u.endpoint}) answered ${checks[checks.length - 1].statusCode ?? 'fine'}${Number.isNaN(ttfb) ? '' : ` in ${formatMs(ttfb)} (median)`} in those rounds`;
    }),
  ];
  return {
    code: 'gateway_misconfig',
    strength: 0.7,
    explains: new Set(rounds.map((r) => r.at)),
    onset: rounds[0].at,
    hops: ['site'],
    summary: `${gw} answers ${statuses} although every upstream is healthy when probed directly: the fault is in the gateway or its path to them`,
    evidence,
    advice: [
      `Read ${gw === 'the gateway' ? "the gateway's" : `${gw}'s`} error log at ${ctx.at(rounds[0].at)}: it names the upstream and the error (nginx logs "upstream prematurely closed", "upstream sent too big header", "no live upstreams"; HAProxy logs a termination state).`,
      `Check that proxy_pass, the upstream block or the backend lines point at the same host, port and scheme as the upstream URLs (${ctx.upstreams.map((u) => u.endpoint).join(', ')}).`,
      "Look for what only bites through the gateway: response headers too big for the proxy buffers, a wrong Host header, an old address the gateway resolved at start-up, or a firewall rule that blocks the gateway's address but not Gatewatch's.",
      'If its configuration changed recently, validate it (`nginx -t`, `haproxy -c -f ...`) and roll it back.',
    ],
  };
};
