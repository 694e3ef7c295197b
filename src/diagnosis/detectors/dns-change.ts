import type { TimelineCheck } from '../diagnosis.types.js';
import { BASELINE_MS, DNS_LOOKBACK_MS, type DiagnosisContext, type TargetView } from '../context.js';
import { describeCheck, formatAddresses, formatDuration, gatewayName } from '../format.js';
import type { Detector, Finding } from './detector.types.js';
import { answeredStatus, plural } from './helpers.js';

export interface AddressChange {
  /** The first check that saw the new addresses. */
  check: TimelineCheck;
  /** The check before it that still saw the old ones. */
  previous: TimelineCheck;
  before: string[];
  after: string[];
}

const key = (addresses: string[]): string => [...addresses].sort().join(' ');

/** Changes of the resolved address set between consecutive checks that resolved at all. */
export function addressChanges(checks: TimelineCheck[]): AddressChange[] {
  const changes: AddressChange[] = [];
  let previous: TimelineCheck | null = null;
  for (const check of checks) {
    if (check.addresses.length === 0) continue;
    if (previous && key(previous.addresses) !== key(check.addresses)) {
      changes.push({ check, previous, before: [...previous.addresses].sort(), after: [...check.addresses].sort() });
    }
    previous = check;
  }
  return changes;
}

const isBadGatewayLike = (c: TimelineCheck): boolean => answeredStatus(c, 500, 599);

function relation(ctx: DiagnosisContext, at: number): string {
  const delta = ctx.firstFailureAt - at;
  return delta >= 0 ? `${formatDuration(delta)} before the first failure` : `${formatDuration(-delta)} after the first failure`;
}

/** Looks at one target's address history; null when nothing changed near the streak. */
function findingFor(ctx: DiagnosisContext, target: TargetView): Finding | null {
  const changes = addressChanges(target.checks);
  const lookback = ctx.firstFailureAt - DNS_LOOKBACK_MS;
  const recent = changes.filter((c) => c.check.startedAt >= lookback);
  if (recent.length === 0) return null;
  // A name that changes all the time (round-robin, CDN edges) changing once more says nothing.
  const earlier = changes.filter((c) => c.check.startedAt < lookback && c.check.startedAt >= lookback - BASELINE_MS);
  if (earlier.length >= 2) return null;

  const change = recent[0];
  // The round's time, not the check's: an upstream's check starts a moment after the site's in
  // the same round, and a change seen in the first failing round is not after the failure.
  const changedAt = ctx.roundAt(change.check.startedAt);
  const arrow = `${formatAddresses(change.before)} -> ${formatAddresses(change.after)}`;
  const evidence = [
    `${target.label} (${target.host}) resolved to ${formatAddresses(change.before)} at ${ctx.at(change.previous.startedAt)}, then to ${formatAddresses(change.after)} at ${ctx.at(changedAt)}, ${relation(ctx, changedAt)}`,
  ];
  if (recent.length > 1) evidence.push(`it changed ${recent.length - 1} more ${plural(recent.length - 1, 'time')} since`);
  const advice = [
    `Check the record (\`dig ${target.host}\`): if ${formatAddresses(change.after)} is not where ${target.name} should be, put back ${formatAddresses(change.before)}.`,
    target.key === 'site'
      ? `If the move was intended, check that the new address serves ${target.host} with the same gateway configuration and certificate as the old one.`
      : "Find out which address the gateway really uses: nginx resolves names in proxy_pass and upstream blocks once, at start-up, and keeps them until a reload unless a `resolver` is set and the name is in a variable; reload the gateway after a move.",
    'For planned moves, lower the TTL beforehand and keep the old address serving until the old TTL has run out.',
  ];
  const after = ctx.failing.filter((r) => r.at >= changedAt);

  if (target.key === 'site') {
    // Failures that went to an address the name did not have before the change.
    const newAddressFailures = after.filter((r) => r.site.address !== null && !change.before.includes(r.site.address));
    if (newAddressFailures.length) {
      evidence.push(`${newAddressFailures.length} of ${ctx.failing.length} failing checks went to the new address`);
    }
    return {
      code: 'dns_change',
      strength: newAddressFailures.length ? 0.5 : 0.2,
      explains: new Set(newAddressFailures.map((r) => r.at)),
      onset: changedAt,
      hops: [target.key],
      summary: newAddressFailures.length
        ? `the address of ${target.label} changed (${arrow}) ${relation(ctx, changedAt)}, and the new address fails`
        : `the address of ${target.label} changed (${arrow}), but the failures are not tied to the new address`,
      evidence,
      advice,
    };
  }

  const own = after.map((r) => r.upstreams.get(target.key)).filter((c): c is TimelineCheck => c !== undefined);
  const failedAtNew = after.filter((r) => {
    const c = r.upstreams.get(target.key);
    return c !== undefined && c.outcome !== 'ok';
  });
  // The upstream is healthy at its new address, yet the gateway fails while every upstream is
  // fine: the gateway is likely still sending to the old address it resolved earlier.
  const stale = after.filter(
    (r) =>
      isBadGatewayLike(r.site) &&
      ctx.upstreams.every((u) => r.upstreams.get(u.key)?.outcome === 'ok'),
  );
  if (failedAtNew.length) {
    const sample = failedAtNew[failedAtNew.length - 1].upstreams.get(target.key)!;
    evidence.push(
      `since then ${target.label} failed ${failedAtNew.length} of ${own.length} checks at its new address (${describeCheck(sample)})`,
    );
    return {
      code: 'dns_change',
      strength: 0.85,
      explains: new Set(failedAtNew.map((r) => r.at)),
      onset: changedAt,
      hops: [target.key],
      summary: `the address of ${target.label} changed (${arrow}) ${relation(ctx, changedAt)}, and the new address fails, so ${ctx.symptom}`,
      evidence,
      advice,
    };
  }
  if (stale.length) {
    evidence.push(
      `${target.label} answered fine at its new address in the ${stale.length} failing rounds since, as did every other upstream, yet ${ctx.symptom}`,
    );
    return {
      code: 'dns_change',
      strength: 0.6,
      explains: new Set(stale.map((r) => r.at)),
      onset: changedAt,
      hops: [target.key],
      summary: `the address of ${target.label} changed (${arrow}) ${relation(ctx, changedAt)}; ${gatewayName(ctx.gateway)} probably still sends to the old address`,
      evidence,
      advice,
    };
  }
  evidence.push(`${target.label} stayed healthy at its new address, and the failures have another explanation`);
  return {
    code: 'dns_change',
    strength: 0.2,
    explains: new Set(),
    onset: changedAt,
    hops: [target.key],
    summary: `the address of ${target.label} changed (${arrow}), but it stayed healthy: probably unrelated`,
    evidence,
    advice: advice.slice(0, 1),
  };
}

/** The addresses of the site's or an upstream's name changed shortly before or during the streak. */
export const dnsChange: Detector = (ctx) => {
  const findings = [ctx.site, ...ctx.upstreams]
    .map((target) => findingFor(ctx, target))
    .filter((f): f is Finding => f !== null);
  if (findings.length === 0) return null;
  // One cause per code: the change that accounts for most failures leads, the others add evidence.
  findings.sort((a, b) => b.explains.size * b.strength - a.explains.size * a.strength || a.onset - b.onset);
  const [lead, ...rest] = findings;
  return {
    ...lead,
    explains: new Set(findings.flatMap((f) => [...f.explains])),
    hops: findings.flatMap((f) => f.hops),
    evidence: [...lead.evidence, ...rest.flatMap((f) => f.evidence)],
  };
};
