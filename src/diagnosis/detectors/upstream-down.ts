import type { TimelineCheck } from '../diagnosis.types.js';
import type { Round, TargetView } from '../context.js';
import { gatewayName } from '../format.js';
import type { Detector } from './detector.types.js';
import { isUnreachable, labelOf, namesOf, plural, roundsWhereUpstream, tally } from './helpers.js';

const isDown = (c: TimelineCheck): boolean => c.outcome === 'conn_refused' || isUnreachable(c);

/**
 * The hop behind the gateway is not there: its port refuses connections (nothing listens) or its
 * host cannot be reached at all. (The site's own address refusing is `gateway_down`.)
 */
export const upstreamDown: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const downHops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let unreachable = false;

  for (const upstream of ctx.upstreams) {
    const refused = tally(upstream.window, (c) => c.outcome === 'conn_refused');
    const gone = tally(upstream.window, isUnreachable);
    if (!refused.first && !gone.first) continue;
    downHops.push(upstream);
    roundsWhereUpstream(ctx, upstream, isDown).forEach((r) => explains.add(r.at));
    for (const [t, verb] of [
      [refused, 'refused'],
      [gone, 'could not be reached (no route to host) in'],
    ] as const) {
      if (!t.first) continue;
      onset = Math.min(onset, t.first.startedAt);
      const where = t.first.address ? `${t.first.address}:${upstream.port}` : upstream.endpoint;
      evidence.push(
        `${upstream.label} (${where}) ${verb} ${t.hits} of ${t.total} ${plural(t.total, 'connection')} since ${ctx.at(t.first.startedAt)}`,
      );
    }
    if (gone.first) unreachable = true;
    const firstDown = Math.min(refused.first?.startedAt ?? Infinity, gone.first?.startedAt ?? Infinity);
    const lastGood = upstream.checks.filter((c) => c.outcome === 'ok' && c.startedAt < firstDown).at(-1);
    if (lastGood) evidence.push(`${upstream.label} last answered fine at ${ctx.at(lastGood.startedAt)}`);
  }

  // The site's own address refusing is the gateway (or the site's server) down: gateway_down.
  if (downHops.length === 0) return null;

  const gw = gatewayName(ctx.gateway);
  // When every upstream is down in a failing round the gateway had nowhere to send the request;
  // with one of several down, a gateway that retries the next one should have hidden it.
  const downIn = (r: Round, u: TargetView): boolean => {
    const c = r.upstreams.get(u.key);
    return c !== undefined && isDown(c);
  };
  const upstreamRounds = ctx.failing.filter((r) => downHops.some((u) => downIn(r, u)));
  const allDown = upstreamRounds.filter((r) => ctx.upstreams.every((u) => downIn(r, u)));
  const share = upstreamRounds.length ? allDown.length / upstreamRounds.length : 0;
  const names = namesOf(downHops);
  const one = downHops.length === 1;
  const verb = unreachable
    ? one ? 'is unreachable' : 'are down or unreachable'
    : one ? 'refuses connections' : 'refuse connections';
  const ports = [...new Set(downHops.map((u) => u.port))].join('/');
  const advice = [
    `Check that ${names} ${one ? 'is' : 'are'} running and listening on port ${ports} (on the host: \`ss -ltnp\`); start or restart ${one ? 'it' : 'them'}.`,
    `${gw === 'the gateway' ? "The gateway's" : `${gw}'s`} error log should show the failed connects to ${downHops.map((u) => u.endpoint).join(', ')} (nginx writes "connect() failed (111: Connection refused) while connecting to upstream").`,
    "If it crashed, its own log and the kernel log (OOM kills) say why; if it was stopped for a deploy or maintenance, take it out of the gateway's pool first next time.",
  ];
  if (unreachable) {
    advice.push(
      'No route to the host means the machine, VM or container itself is gone or moved: check it is up and still has the address the probes used.',
    );
  }
  return {
    code: 'upstream_down',
    strength: 0.6 + 0.3 * share,
    explains,
    onset,
    hops: downHops.map((u) => u.key),
    summary: `${labelOf(downHops)} ${verb}, so ${ctx.symptom}`,
    evidence,
    advice,
  };
};
