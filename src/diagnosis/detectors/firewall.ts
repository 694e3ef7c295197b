import type { TimelineCheck } from '../diagnosis.types.js';
import type { TargetView } from '../context.js';
import { formatMs } from '../format.js';
import { median } from '../stats.js';
import type { Detector } from './detector.types.js';
import {
  connected,
  isUnreachable,
  labelOf,
  namesOf,
  plural,
  resetAtConnect,
  roundsWhereUpstream,
  tally,
} from './helpers.js';
import { latencyRise } from './overload.js';

/** A connect that never completed (packets dropped) or was reset before completing (reject rule). */
const blockedConnect = (c: TimelineCheck): boolean =>
  (c.outcome === 'conn_timeout' && !isUnreachable(c)) || resetAtConnect(c);

/**
 * TCP connects to an upstream time out or are reset at connect, without the target having slowed
 * down first (that is overload): packets dropped or rejected on the way.
 */
export const firewall: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let hostAnswers = false;
  let resets = false;
  let firstAddress: string | null = null;

  for (const upstream of ctx.upstreams) {
    if (latencyRise(ctx, upstream)) continue;
    const t = tally(upstream.window, blockedConnect);
    if (!t.first) continue;
    hops.push(upstream);
    onset = Math.min(onset, t.first.startedAt);
    const rounds = roundsWhereUpstream(ctx, upstream, blockedConnect);
    rounds.forEach((r) => explains.add(r.at));
    const rest = upstream.window.filter((c) => c.startedAt >= t.first!.startedAt && blockedConnect(c));
    const reset = rest.filter((c) => c.outcome === 'conn_reset').length;
    resets ||= reset > 0;
    const address = t.first.address ?? upstream.host;
    firstAddress ??= address;
    const how =
      reset === rest.length
        ? 'was reset while connecting'
        : reset === 0
          ? 'could not complete the TCP connect'
          : 'could not connect (time-outs and resets)';
    const before = median(
      upstream.baseline.map((c) => c.connectMs).filter((ms): ms is number => ms !== null),
    );
    evidence.push(
      `${upstream.label} (${address}:${upstream.port}) ${how} in ${t.hits} of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}${Number.isNaN(before) ? '' : `; it used to connect in ${formatMs(before)}`}`,
    );
    // Another target on the same host still connects: the host is up, only this port is cut off.
    const neighbour = rounds
      .flatMap((r) => [r.site, ...r.upstreams.values()])
      .find((c) => c.target !== upstream.key && c.address === address && connected(c));
    if (neighbour) {
      hostAnswers = true;
      const other = neighbour.target === 'site' ? ctx.site : ctx.upstreams.find((u) => u.key === neighbour.target)!;
      evidence.push(`the same host ${address} answered ${other.label} in the same rounds, so it is up and only port ${upstream.port} is cut off`);
    }
  }

  const siteRounds = latencyRise(ctx, ctx.site) ? [] : ctx.failing.filter((r) => blockedConnect(r.site));
  siteRounds.forEach((r) => explains.add(r.at));
  if (siteRounds.length) {
    onset = Math.min(onset, siteRounds[0].at);
    evidence.push(
      `${ctx.site.label} (${siteRounds[0].site.address ?? ctx.site.host}:${ctx.site.port}): the TCP connect failed in ${siteRounds.length} of ${ctx.failing.length} failing checks since ${ctx.at(siteRounds[0].at)}`,
    );
  }
  if (hops.length === 0 && siteRounds.length === 0) return null;

  const ports = [...new Set(hops.map((u) => u.port))].join('/') || ctx.site.port;
  const peer = firstAddress ? `${firstAddress} ${hops[0]?.port ?? ctx.site.port}` : `${ctx.site.host} ${ctx.site.port}`;
  const summary = hops.length
    ? `connections to ${labelOf(hops)} ${resets ? 'are rejected at connect' : 'time out at connect'}: packets are being ${resets ? 'rejected' : 'dropped'}, most likely by a firewall, so ${ctx.symptom}`
    : `connections to ${ctx.site.label} (${ctx.site.endpoint}) do not complete: a firewall drops them, or the host is down`;
  return {
    code: 'firewall',
    strength: hostAnswers ? 0.75 : hops.length ? 0.55 : 0.5,
    explains,
    onset,
    hops: [...hops.map((h) => h.key), ...(siteRounds.length ? ['site'] : [])],
    summary,
    evidence,
    advice: [
      hops.length
        ? `Review the firewall, security-group and network-policy rules between the gateway and ${namesOf(hops)} on port ${ports}; a rule changed around ${ctx.at(onset)} is the usual suspect.`
        : `Review the firewall and security-group rules in front of ${ctx.site.host} on port ${ports}, and whether the host is up.`,
      `From the ${hops.length ? "gateway's host" : 'outside'}, try \`nc -vz ${peer}\`: a hang means packets are dropped, an immediate refusal or reset means a reject rule or nothing listening.`,
      "If the host itself is down (no answer on any port), bring it back or take it out of the gateway's pool.",
    ],
  };
};
