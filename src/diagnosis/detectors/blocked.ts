import type { TimelineCheck } from '../diagnosis.types.js';
import type { TargetView } from '../context.js';
import { formatAddresses } from '../format.js';
import type { Detector } from './detector.types.js';
import { labelOf, lastMessage, plural, roundsWhereUpstream, tally } from './helpers.js';

const isBlocked = (c: TimelineCheck): boolean => c.outcome === 'blocked';

/**
 * Gatewatch's own target policy refused the address a name resolved to, so the hop was not
 * probed: a configuration error (of the DNS record, or of ALLOW_TARGETS / DENY_TARGETS), never an
 * unknown cause. On the site it is what the failures are; on an upstream it is why that hop
 * cannot be told apart.
 */
export const blocked: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;

  for (const target of [ctx.site, ...ctx.upstreams]) {
    const t = tally(target.window, isBlocked);
    if (!t.first) continue;
    hops.push(target);
    onset = Math.min(onset, t.first.startedAt);
    const rounds = target.key === 'site' ? ctx.failing.filter((r) => isBlocked(r.site)) : roundsWhereUpstream(ctx, target, isBlocked);
    rounds.forEach((r) => explains.add(r.at));
    const message = lastMessage(target.window.filter((c) => c.startedAt >= t.first!.startedAt && isBlocked(c)));
    evidence.push(
      `${target.label}: ${target.host} resolved to ${formatAddresses(t.last?.addresses ?? [])}, refused by the target policy in ${t.hits} of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}${message ? ` (${message})` : ''}`,
    );
    const lastProbed = target.checks.filter((c) => c.startedAt < t.first!.startedAt && c.addresses.length > 0 && !isBlocked(c)).at(-1);
    if (lastProbed) evidence.push(`${target.host} resolved to ${formatAddresses(lastProbed.addresses)} at ${ctx.at(lastProbed.startedAt)}`);
  }
  if (hops.length === 0) return null;

  const siteBlocked = hops.some((h) => h.key === 'site');
  const names = [...new Set(hops.map((h) => h.host))].join(', ');
  return {
    code: 'blocked',
    strength: siteBlocked ? 0.95 : 0.5,
    explains,
    onset,
    hops: hops.map((h) => h.key),
    summary: `Gatewatch's target policy refused the address of ${labelOf(hops)} (${names}), so ${siteBlocked ? 'the site' : 'it'} was not probed: a configuration error`,
    evidence,
    advice: [
      `If the address is wrong, correct the DNS record of ${names} (\`dig ${hops[0].host}\`): link-local and cloud metadata addresses are denied because a monitor must never be turned against them.`,
      'If the address is right, allow it: add it or its range to ALLOW_TARGETS (a comma-separated list of CIDRs, e.g. ALLOW_TARGETS=169.254.10.0/24) and restart Gatewatch; check DENY_TARGETS does not list it, since a deny entry wins over an allow.',
    ],
  };
};
