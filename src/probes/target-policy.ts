import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

/** Every allowed address's verdict: one shared object (the verdicts are kept per address, up to DECISIONS_KEPT). */
const ALLOWED: PolicyDecision = Object.freeze({ allowed: true });

/** The SSRF guard: asked about every resolved address before the probe connects to it. */
export interface TargetPolicy {
  check(address: string): PolicyDecision;
}

export interface TargetPolicyOptions {
  /** CIDRs (or bare addresses) exempt from the built-in denials below (`ALLOW_TARGETS`). */
  allow?: string[];
  /** CIDRs (or bare addresses) denied on top of the built-in ones (`DENY_TARGETS`). */
  deny?: string[];
}

/**
 * Denied unless `allow` covers the address. Private ranges and loopback stay allowed: probing
 * origins on a private network is what Gatewatch is for. Metadata endpoints come first so the
 * reason names them rather than the link-local range around them.
 */
export const DEFAULT_DENIED: readonly { cidr: string; reason: string }[] = [
  { cidr: '169.254.169.254/32', reason: 'cloud metadata endpoint' },
  { cidr: 'fd00:ec2::254/128', reason: 'cloud metadata endpoint (AWS IPv6)' },
  { cidr: '100.100.100.200/32', reason: 'cloud metadata endpoint (Alibaba Cloud)' },
  { cidr: '169.254.0.0/16', reason: 'link-local address' },
  { cidr: 'fe80::/10', reason: 'link-local address' },
];

/** NAT64 well-known prefix: on a NAT64 network 64:ff9b::a9fe:a9fe reaches 169.254.169.254. */
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');

function parseEntry(entry: string): Range {
  const text = entry.trim();
  const [addressText, bits, ...rest] = text.split('/');
  const valid =
    rest.length === 0 &&
    (bits === undefined || /^\d{1,3}$/.test(bits)) &&
    (ipaddr.IPv4.isValidFourPartDecimal(addressText) || ipaddr.IPv6.isValid(addressText));
  if (!valid) {
    throw new Error(`invalid CIDR "${entry}": expected an address or a range such as 10.0.0.0/8 or fd00::/8`);
  }
  const address = ipaddr.parse(addressText);
  const max = address.kind() === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) {
    throw new Error(`invalid CIDR "${entry}": prefix length ${prefix} is larger than ${max}`);
  }
  return [address, prefix];
}

const rangeText = ([address, bits]: Range): string => `${address.toString()}/${bits}`;

/**
 * Parses a comma-separated list of CIDRs (a bare address counts as /32 or /128), as in
 * `ALLOW_TARGETS=10.0.0.0/8, fd00::/8`. Returns them normalised (`10.0.0.0/8`); empty entries
 * are skipped. Throws an Error naming the first bad entry.
 */
export function parseCidrList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => rangeText(parseEntry(entry)));
}

/** The address itself plus, for IPv4-mapped and NAT64 IPv6, the IPv4 address it stands for. */
function forms(address: Address): Address[] {
  if (address.kind() !== 'ipv6') return [address];
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return [v6, v6.toIPv4Address()];
  if (v6.match(NAT64)) {
    const bytes = v6.toByteArray().slice(12);
    return [v6, ipaddr.fromByteArray(bytes)];
  }
  return [v6];
}

const within = (address: Address, [network, bits]: Range): boolean =>
  address.kind() === network.kind() && address.match(network, bits);

/** Addresses whose verdict a policy keeps (see `check`). */
const DECISIONS_KEPT = 50_000;

/**
 * Builds the SSRF policy. Order of precedence: an explicit `deny` entry always wins, then an
 * `allow` entry, then the built-in denials (`DEFAULT_DENIED`); everything else is allowed.
 * So `allow: ['169.254.0.0/16'], deny: ['169.254.169.254/32']` opens link-local but keeps the
 * metadata endpoint shut. IPv4-mapped (`::ffff:169.254.169.254`) and NAT64 forms are judged
 * as the IPv4 address they carry. Throws on a bad CIDR, naming it.
 */
export function createTargetPolicy(options: TargetPolicyOptions = {}): TargetPolicy {
  const allow = (options.allow ?? []).map(parseEntry);
  const deny = (options.deny ?? []).map(parseEntry);
  const defaults = DEFAULT_DENIED.map((d) => ({ range: parseEntry(d.cidr), reason: d.reason }));

  const judge = (text: string): PolicyDecision => {
    const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
    let address: Address;
    try {
      address = ipaddr.parse(bare.split('%')[0]);
    } catch {
      return { allowed: false, reason: `"${text}" is not an IP address` };
    }
    const candidates = forms(address);
    for (const range of deny) {
      if (candidates.some((a) => within(a, range))) {
        return { allowed: false, reason: `${text} is in denied range ${rangeText(range)} (DENY_TARGETS)` };
      }
    }
    if (allow.some((range) => candidates.some((a) => within(a, range)))) return ALLOWED;
    for (const { range, reason } of defaults) {
      if (candidates.some((a) => within(a, range))) {
        return { allowed: false, reason: `${text} is a ${reason} (${rangeText(range)}), denied unless ALLOW_TARGETS covers it` };
      }
    }
    return ALLOWED;
  };

  // A monitor meets the same few addresses again and again: the verdict on an address never
  // changes, so it is kept (up to DECISIONS_KEPT addresses, then forgotten all at once).
  const decided = new Map<string, PolicyDecision>();
  return {
    check(text) {
      let decision = decided.get(text);
      if (decision === undefined) {
        if (decided.size >= DECISIONS_KEPT) decided.clear();
        decision = judge(text);
        decided.set(text, decision);
      }
      return decision;
    },
  };
}
