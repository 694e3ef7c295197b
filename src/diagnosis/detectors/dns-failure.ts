import type { TimelineCheck } from '../diagnosis.types.js';
import type { TargetView } from '../context.js';
import { formatAddresses } from '../format.js';
import type { Detector } from './detector.types.js';
import { labelOf, plural, roundsWhereUpstream, tally } from './helpers.js';

const isDnsFailure = (c: TimelineCheck): boolean => c.outcome === 'dns_nxdomain' || c.outcome === 'dns_error';

/** The site's or an upstream's name stopped resolving. */
export const dnsFailure: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let nxdomain = false;
  let siteFails = false;

  for (const target of [ctx.site, ...ctx.upstreams]) {
    const t = tally(target.window, isDnsFailure);
    if (!t.first) continue;
    hops.push(target);
    onset = Math.min(onset, t.first.startedAt);
    const rest = target.window.filter((c) => c.startedAt >= t.first!.startedAt && isDnsFailure(c));
    const nx = rest.filter((c) => c.outcome === 'dns_nxdomain').length;
    nxdomain ||= nx > 0;
    const what = nx === rest.length ? 'NXDOMAIN' : nx === 0 ? 'resolver errors' : `NXDOMAIN ${nx}, resolver errors ${rest.length - nx}`;
    evidence.push(
      `${target.label}: ${target.host} did not resolve (${what}) in ${t.hits} of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}`,
    );
    const lastResolved = target.checks.filter((c) => c.addresses.length > 0 && c.startedAt < t.first!.startedAt).at(-1);
    if (lastResolved) {
      evidence.push(`${target.host} last resolved to ${formatAddresses(lastResolved.addresses)} at ${ctx.at(lastResolved.startedAt)}`);
    }
    if (target.key === 'site') {
      siteFails = true;
      ctx.failing.filter((r) => isDnsFailure(r.site)).forEach((r) => explains.add(r.at));
    } else {
      roundsWhereUpstream(ctx, target, isDnsFailure).forEach((r) => explains.add(r.at));
    }
  }
  if (hops.length === 0) return null;

  const names = hops.map((h) => h.host).join(', ');
  const advice = [
    `Look the ${plural(hops.length, 'name')} up yourself (\`dig ${hops[0].host}\`), from the gateway's host and through another resolver; restore the record if it was deleted, or renew the domain if it lapsed.`,
  ];
  if (!nxdomain) {
    advice.push(
      "Errors rather than NXDOMAIN point at the resolvers or the zone's name servers: check the resolvers the gateway and Gatewatch use (DNS_SERVERS) and the zone's delegation and DNSSEC signatures.",
    );
  }
  if (hops.some((h) => h.key !== 'site')) {
    advice.push("After the fix, reload the gateway: nginx looks names in proxy_pass up at start-up unless a `resolver` is configured.");
  }
  const upstreamHops = hops.filter((h) => h.key !== 'site');
  const summary = siteFails
    ? `the name of ${ctx.site.label} (${ctx.site.host}) ${nxdomain ? 'does not exist in DNS' : 'does not resolve'}`
    : `the name of ${labelOf(upstreamHops)} (${names}) ${nxdomain ? 'no longer exists in DNS' : 'no longer resolves'}, so ${ctx.symptom}`;
  return { code: 'dns_failure', strength: nxdomain ? 0.85 : 0.7, explains, onset, hops: hops.map((h) => h.key), summary, evidence, advice };
};
