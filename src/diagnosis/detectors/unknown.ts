import type { DiagnosisContext } from '../context.js';
import { describeCheck, gatewayName } from '../format.js';
import type { Finding } from './detector.types.js';
import { plural } from './helpers.js';

/**
 * What to say when the detectors explain nothing (or only part of the failures): honestly that the
 * cause is unknown, and what is missing to tell.
 */
export function explainUnknown(ctx: DiagnosisContext, findings: Finding[]): Finding | null {
  const explained = new Set(findings.flatMap((f) => [...f.explains]));
  const unexplained = ctx.failing.filter((r) => !explained.has(r.at));
  if (ctx.failing.length > 0 && unexplained.length * 2 < ctx.failing.length) return null;
  if (ctx.failing.length === 0 && findings.length > 0) return null;

  const gw = gatewayName(ctx.gateway);
  const evidence: string[] = [];
  const first = unexplained[0] ?? ctx.failing[0];
  if (first) {
    evidence.push(
      `${ctx.site.label} failed ${unexplained.length} of ${ctx.failing.length} ${plural(ctx.failing.length, 'check')} since ${ctx.at(first.at)} in a way no cause above explains; last: ${describeCheck(unexplained.at(-1)?.site ?? first.site)}`,
    );
  }

  let missing: string;
  if (ctx.upstreams.length === 0) {
    missing = `no upstreams are configured for ${ctx.site.name}, so the failing hop behind ${gw} cannot be told apart`;
  } else if (unexplained.every((r) => r.upstreams.size === 0)) {
    missing = 'no upstream checks were recorded during the failures, so the failing hop cannot be told apart';
  } else {
    const blocked = ctx.upstreams.filter((u) => unexplained.some((r) => r.upstreams.get(u.key)?.outcome === 'blocked'));
    missing = blocked.length
      ? `${blocked.map((u) => u.label).join(', ')} could not be probed: Gatewatch's target policy (ALLOW_TARGETS/DENY_TARGETS) blocks ${blocked.length === 1 ? 'its address' : 'their addresses'}`
      : 'the upstreams answered in a way that fits no known pattern';
    for (const u of ctx.upstreams) {
      const c = unexplained.at(-1)?.upstreams.get(u.key);
      if (c) evidence.push(`${u.label} at the last such check: ${describeCheck(c)}`);
    }
  }
  if (unexplained.some((r) => r.site.outcome === 'blocked')) {
    missing = `the site's address is blocked by Gatewatch's target policy (ALLOW_TARGETS/DENY_TARGETS), so the site was not probed`;
  }
  const partial = findings.some((f) => f.explains.size > 0);
  return {
    code: 'unknown',
    strength: partial ? 0.25 : findings.length ? 0.35 : 0.5,
    explains: new Set(unexplained.map((r) => r.at)),
    onset: first?.at ?? ctx.firstFailureAt,
    hops: [],
    summary: partial ? `part of the failures fit no known cause: ${missing}` : `cause unknown: ${missing}`,
    evidence,
    advice: [
      ctx.upstreams.length === 0
        ? `Add the origins behind the gateway to ${ctx.site.name} as upstreams (their own URLs or health paths), so the next incident names the failing hop.`
        : 'Check that every origin the gateway forwards to is configured as an upstream, with a URL that reaches it directly.',
      `Read ${gw === 'the gateway' ? "the gateway's" : `${gw}'s`} error log from ${ctx.at(first?.at ?? ctx.firstFailureAt)} on: it names the upstream it tried and the error it got.`,
    ],
  };
}
