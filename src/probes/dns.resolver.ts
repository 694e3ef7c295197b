import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export type DnsFailureKind = 'dns_nxdomain' | 'dns_error';

/**
 * A name that did not resolve. `kind` is the probe outcome it maps to:
 * - `dns_nxdomain`: the answer was authoritative and holds no address — the name does not exist
 *   (NXDOMAIN), or it exists but has neither an A nor an AAAA record (NOERROR with no data).
 *   Both mean "this name gives no address", which is what an owner has to fix in the zone.
 * - `dns_error`: no usable answer — SERVFAIL, REFUSED, a resolver time-out, the probe deadline
 *   or another abort, an unreachable DNS server.
 * `code` is the resolver's code (`ENOTFOUND`, `ENODATA`, `ESERVFAIL`, `EREFUSED`, `ETIMEOUT`,
 * `ECONNREFUSED`, ...) or `ABORTED` when the signal ended the query.
 */
export class DnsFailure extends Error {
  override readonly name = 'DnsFailure';
  constructor(
    readonly kind: DnsFailureKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Resolver {
  /**
   * Every IPv4 and IPv6 address of `hostname`, deduplicated and sorted (see `sortAddresses`).
   * An IP literal (also `[::1]`) comes back as itself without a query. Rejects only with
   * `DnsFailure`; a stalled server cannot hold it past the abort of `signal`.
   */
  resolve(hostname: string, signal: AbortSignal): Promise<string[]>;
}

export interface ResolverOptions {
  /**
   * DNS servers as `host[:port]` (IPv6 as `[::1]:53`). Empty or absent: the system resolver
   * (`dns.lookup`, i.e. getaddrinfo with /etc/hosts and nsswitch).
   */
  servers?: string[];
  /** Per-try time-out of a query to `servers`, in ms (c-ares default when absent). */
  queryTimeoutMs?: number;
  /** Tries per server (c-ares default when absent). */
  tries?: number;
  /**
   * Once A or AAAA has answered with addresses, how long to wait for the other family before
   * going on without it (default 500 ms).
   */
  familyGraceMs?: number;
}

/**
 * Sort order of address lists everywhere in Gatewatch: IPv4 before IPv6, then by numeric value
 * (so `10.0.0.9` comes before `10.0.0.10`). Deduplicates.
 */
export function sortAddresses(addresses: Iterable<string>): string[] {
  return [...new Set(addresses)].sort(compareAddresses);
}

function compareAddresses(a: string, b: string): number {
  const fa = isIP(a);
  const fb = isIP(b);
  if (fa !== fb) return fa - fb;
  const ka = addressKey(a);
  const kb = addressKey(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    if (ka[i] !== kb[i]) return ka[i] - kb[i];
  }
  return ka.length - kb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Numeric parts of an address for ordering; unparsable strings sort by text after the parts. */
function addressKey(address: string): number[] {
  if (isIP(address) === 4) return address.split('.').map(Number);
  if (isIP(address) !== 6) return [];
  const [head, tail = ''] = address.split('%')[0].split('::');
  const toGroups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (g.includes('.')) {
            const o = g.split('.').map(Number);
            return [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
          }
          return [parseInt(g, 16)];
        });
  const left = toGroups(head);
  const right = address.includes('::') ? toGroups(tail) : [];
  return [...left, ...new Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0), ...right];
}

/** `[::1]` -> `::1`; names keep their case-insensitive text, lower-cased. */
function bareHost(hostname: string): string {
  const h = hostname.trim();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h.toLowerCase();
}

/** RFC 6761: `localhost` and `*.localhost` are loopback, never asked of a DNS server. */
function isLocalhostName(name: string): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n === 'localhost' || n.endsWith('.localhost');
}

/** Loopback addresses this machine has (`::1` only where IPv6 loopback exists). */
function loopbackAddresses(): string[] {
  try {
    const present = new Set(
      Object.values(networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((i) => i.internal)
        .map((i) => i.address),
    );
    const found = ['127.0.0.1', '::1'].filter((a) => present.has(a));
    return found.length > 0 ? found : ['127.0.0.1'];
  } catch {
    return ['127.0.0.1', '::1'];
  }
}

function abortFailure(hostname: string, signal: AbortSignal): DnsFailure {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new DnsFailure(
    'dns_error',
    'ABORTED',
    timedOut ? `DNS resolution of ${hostname} did not finish before the deadline` : `DNS resolution of ${hostname} was aborted`,
  );
}

/** Resolves when `work` does, or rejects with `DnsFailure` as soon as `signal` aborts. */
function raceAbort<T>(work: Promise<T>, hostname: string, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort();
    work.catch(() => {});
    return Promise.reject(abortFailure(hostname, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(abortFailure(hostname, signal));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

const MAX_IDLE_CHANNELS = 32;
const DEFAULT_FAMILY_GRACE_MS = 500;

interface FamilyAnswer {
  addresses: string[];
  code: string | null;
}

/**
 * Both answers; but once one family has addresses, the other gets only `graceMs` more (a server
 * that drops AAAA queries must not eat the probe's deadline). `cutShort` says it was left out.
 */
function settleBoth(
  v4: Promise<FamilyAnswer>,
  v6: Promise<FamilyAnswer>,
  graceMs: number,
  signal: AbortSignal,
): Promise<{ answers: [FamilyAnswer, FamilyAnswer]; cutShort: boolean }> {
  return new Promise((resolve) => {
    const got: [FamilyAnswer | undefined, FamilyAnswer | undefined] = [undefined, undefined];
    let grace: NodeJS.Timeout | undefined;
    const stop = () => clearTimeout(grace);
    signal.addEventListener('abort', stop, { once: true });
    const late: FamilyAnswer = { addresses: [], code: 'ETIMEOUT' };
    const check = () => {
      if (got[0] && got[1]) {
        stop();
        signal.removeEventListener('abort', stop);
        resolve({ answers: [got[0], got[1]], cutShort: false });
      } else if (!grace && got.some((answer) => answer && answer.addresses.length > 0)) {
        grace = setTimeout(() => {
          signal.removeEventListener('abort', stop);
          resolve({ answers: [got[0] ?? late, got[1] ?? late], cutShort: true });
        }, graceMs);
      }
    };
    void v4.then((answer) => {
      got[0] = answer;
      check();
    });
    void v6.then((answer) => {
      got[1] = answer;
      check();
    });
  });
}

const NO_ADDRESS_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

const codeOf = (error: unknown): string =>
  typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'EUNKNOWN';

const DNS_ERROR_WORDS: Record<string, string> = {
  ESERVFAIL: 'server failure (SERVFAIL)',
  EREFUSED: 'query refused (REFUSED)',
  ETIMEOUT: 'DNS server did not answer in time',
  ECONNREFUSED: 'DNS server refused the connection',
  EBADRESP: 'bad DNS response',
  EFORMERR: 'DNS server rejected the query as malformed (FORMERR)',
  ENOTIMP: 'DNS server does not implement the query (NOTIMP)',
  EAI_AGAIN: 'temporary resolver failure',
  ECANCELLED: 'DNS query cancelled',
};

function failureFromCode(hostname: string, code: string): DnsFailure {
  if (code === 'ENOTFOUND' || code === 'ENONAME') {
    return new DnsFailure('dns_nxdomain', code, `${hostname} does not exist (NXDOMAIN)`);
  }
  if (code === 'ENODATA') {
    return new DnsFailure('dns_nxdomain', code, `${hostname} has no A or AAAA record`);
  }
  return new DnsFailure('dns_error', code, `DNS lookup of ${hostname} failed: ${DNS_ERROR_WORDS[code] ?? code}`);
}

/** Validates `host[:port]` entries and turns them into what `Resolver#setServers` accepts. */
function normalizeServers(servers: string[]): string[] {
  return servers.map((entry) => {
    const s = entry.trim();
    let host = s;
    let port: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (bracketed) {
      host = bracketed[1];
      port = bracketed[2];
    } else if (isIP(s) !== 6) {
      const m = /^([^:]+)(?::(\d+))?$/.exec(s);
      if (m) {
        host = m[1];
        port = m[2];
      }
    }
    const family = isIP(host);
    const portNumber = port === undefined ? 53 : Number(port);
    if (family === 0 || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
      throw new Error(`invalid DNS server "${entry}": expected an IP address with an optional port, e.g. 10.0.0.2:53 or [::1]:53`);
    }
    return family === 6 ? `[${host}]:${portNumber}` : `${host}:${portNumber}`;
  });
}

/**
 * Builds the resolver the probes use.
 *
 * With `servers`, A and AAAA are asked in parallel of those servers (c-ares; a channel serves one
 * call at a time, so that cancelling one probe's queries never cancels another's). An answer in either
 * family is enough (once one family has answered, the other gets `familyGraceMs` more, then is
 * left out); the name is `dns_nxdomain` when the server says it does not exist, or when
 * both families come back empty (NOERROR, no data); anything else without an address is
 * `dns_error`. Without servers, the system resolver (`dns.lookup`) is used; it cannot be
 * cancelled, so the abort only stops waiting for it.
 *
 * `localhost` and `*.localhost` resolve to this machine's loopback addresses without a query.
 * Throws at once when a server entry is not `ip[:port]`.
 */
export function createResolver(options: ResolverOptions = {}): Resolver {
  const servers = normalizeServers(options.servers ?? []);
  const graceMs = options.familyGraceMs ?? DEFAULT_FAMILY_GRACE_MS;
  let loopback: string[] | undefined;

  // Idle c-ares channels. A channel serves one call at a time, so that `cancel()` (which ends every
  // query of its channel) only ever ends that call's queries; reusing channels saves creating one
  // per probe (about 60 µs of CPU each). A cancelled channel is dropped, not reused.
  const idle: InstanceType<typeof dns.Resolver>[] = [];
  const takeChannel = () => {
    const reused = idle.pop();
    if (reused) return reused;
    const channel = new dns.Resolver({ timeout: options.queryTimeoutMs ?? -1, tries: options.tries ?? 4 });
    channel.setServers(servers);
    return channel;
  };

  const viaServers = async (hostname: string, signal: AbortSignal): Promise<string[]> => {
    const resolver = takeChannel();
    let cancelled = false;
    const settle = (query: Promise<string[]>): Promise<FamilyAnswer> =>
      query.then(
        (addresses) => ({ addresses, code: null }),
        (error: unknown) => ({ addresses: [], code: codeOf(error) }),
      );
    const both = settleBoth(settle(resolver.resolve4(hostname)), settle(resolver.resolve6(hostname)), graceMs, signal);
    const { answers, cutShort } = await raceAbort(both, hostname, signal, () => {
      cancelled = true;
      resolver.cancel();
    });
    if (cutShort) resolver.cancel();
    else if (!cancelled && idle.length < MAX_IDLE_CHANNELS) idle.push(resolver);
    const [v4, v6] = answers;
    const addresses = [...v4.addresses, ...v6.addresses];
    if (addresses.length > 0) return sortAddresses(addresses);
    const codes = [v4.code, v6.code].filter((c): c is string => c !== null);
    // NXDOMAIN in either family is the server saying the name does not exist.
    if (codes.includes('ENOTFOUND')) throw failureFromCode(hostname, 'ENOTFOUND');
    const failure = codes.find((c) => !NO_ADDRESS_CODES.has(c));
    throw failureFromCode(hostname, failure ?? 'ENODATA');
  };

  const viaSystem = async (hostname: string, signal: AbortSignal): Promise<string[]> => {
    const lookup = dns.lookup(hostname, { all: true, verbatim: true });
    let found: { address: string }[];
    try {
      found = await raceAbort(lookup, hostname, signal, () => {});
    } catch (error) {
      if (error instanceof DnsFailure) throw error;
      throw failureFromCode(hostname, codeOf(error));
    }
    if (found.length === 0) throw failureFromCode(hostname, 'ENODATA');
    return sortAddresses(found.map((entry) => entry.address));
  };

  return {
    async resolve(hostname, signal) {
      const name = bareHost(hostname);
      if (isIP(name) !== 0) return [name];
      if (name === '') throw new DnsFailure('dns_nxdomain', 'ENOTFOUND', 'empty host name');
      if (isLocalhostName(name)) {
        loopback ??= loopbackAddresses();
        return [...loopback];
      }
      if (signal.aborted) throw abortFailure(name, signal);
      try {
        return await (servers.length > 0 ? viaServers(name, signal) : viaSystem(name, signal));
      } catch (error) {
        if (error instanceof DnsFailure) throw error;
        throw failureFromCode(name, codeOf(error));
      }
    },
  };
}
