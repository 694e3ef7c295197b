import { isIP } from 'node:net';
import type { PolicyDecision } from '../probes/target-policy.js';
import { validationFailed } from '../shared/errors.js';

/** What creation needs of the target policy. */
export interface AddressPolicy {
  check(address: string): PolicyDecision;
}

/** The IP address of a URL whose host is an IP literal, else null (a name is judged when resolved). */
const literalAddress = (url: string): string | null => {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return null;
  }
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) ? bare : null;
};

/**
 * Refuses (400, naming the field) a site or upstream URL whose host is an IP literal the policy
 * denies: such a site could only ever give `blocked` checks. Names are judged on every probe.
 */
export function assertTargetsAllowed(policy: AddressPolicy, body: { url?: string; upstreams?: { url: string }[] }): void {
  const fields: [string, string][] = [];
  if (body.url !== undefined) fields.push(['url', body.url]);
  body.upstreams?.forEach((u, i) => fields.push([`upstreams.${i}.url`, u.url]));
  const refused = fields.flatMap(([field, url]) => {
    const address = literalAddress(url);
    const decision = address ? policy.check(address) : { allowed: true as const };
    if (decision.allowed) return [];
    // DENY_TARGETS wins over ALLOW_TARGETS: a denied address is allowed only by taking it out of DENY_TARGETS.
    const how = /DENY_TARGETS/.test(decision.reason) ? 'remove it from DENY_TARGETS' : 'add it (or its range) to ALLOW_TARGETS';
    return [{ field, message: `the target policy refuses it: ${decision.reason}; to monitor it, ${how}` }];
  });
  if (refused.length) throw validationFailed(`invalid body: ${refused.map((r) => `${r.field}: ${r.message}`).join('; ')}`, refused);
}
