import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { addressKey, codeOf, createDnsClient, parseServers, type DnsClient, type DnsClientStats, type FamilyAnswer } from './dns.client.js';

export { MAX_QUERIES_PER_SOCKET } from './dns.client.js';

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

/** An `abort` listener: a function, or an object with `handleEvent` (as EventTarget takes). */
export type AbortListener = (() => void) | { handleEvent(): void };

/**
 * What the resolver reads of an AbortSignal: a real one fits, and so does the probe's deadline,
 * which spares every probe an AbortController (an EventTarget, about 1 KB and a few µs each).
 */
export interface AbortLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}

export interface Resolver {
  /**
   * Every IPv4 and IPv6 address of `hostname`, deduplicated and sorted (see `sortAddresses`).
   * An IP literal (also `[::1]`) comes back as itself without a query. Rejects only with
   * `DnsFailure`; a stalled server cannot hold it past the abort of `signal`.
   */
  resolve(hostname: string, signal: AbortLike): Promise<string[]>;
}

/** Counters of the DNS client behind a resolver with `servers` (zeros for the system resolver). */
export type ResolverStats = DnsClientStats;

export interface ResolverOptions {
  /**
   * DNS servers as `host[:port]` (IPv6 as `[::1]:53`). Empty or absent: the system resolver
   * (`dns.lookup`, i.e. getaddrinfo with /etc/hosts and nsswitch).
   */
  servers?: string[];
  /**
   * Time-out of one try of a query to `servers`, in ms (default 1000); doubled on each further
   * round through the servers, as c-ares does.
   */
  queryTimeoutMs?: number;
  /** Tries per server (default 4): a query is sent at most `tries` × the number of servers times. */
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

function abortFailure(hostname: string, signal: AbortLike): DnsFailure {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new DnsFailure(
    'dns_error',
    'ABORTED',
    timedOut ? `DNS resolution of ${hostname} did not finish before the deadline` : `DNS resolution of ${hostname} was aborted`,
  );
}

/** Resolves when `work` does, or rejects with `DnsFailure` as soon as `signal` aborts. */
function raceAbort<T>(work: Promise<T>, hostname: string, signal: AbortLike, onAbort: () => void): Promise<T> {
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

const DEFAULT_FAMILY_GRACE_MS = 500;
const DEFAULT_QUERY_TIMEOUT_MS = 1_000;
const DEFAULT_TRIES = 4;

const NO_ADDRESS_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

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
  ECNAME:
    'the answer holds only a CNAME chain that could not be followed to an address (a loop, or too long); DNS_SERVERS must be recursive resolvers',
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

/** What c-ares refused as EBADNAME: an empty label, a label over 63 bytes, a name over 253 bytes. */
function isValidQueryName(name: string): boolean {
  if (name.length > 253) return false;
  let label = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f) {
      return Buffer.byteLength(name) <= 253 && name.split('.').every((l) => l !== '' && Buffer.byteLength(l) <= 63);
    }
    if (c !== 0x2e) label++;
    else if (label === 0) return false;
    else label = 0;
    if (label > 63) return false;
  }
  return label > 0;
}

const LEFT_OUT: FamilyAnswer = { addresses: [], code: 'ETIMEOUT' };

/** The addresses of the two answers of a resolution of `hostname`; throws its `DnsFailure` when there are none. */
function addressesOf(hostname: string, a: FamilyAnswer, aaaa: FamilyAnswer): string[] {
  const addresses = aaaa.addresses.length === 0 ? a.addresses : [...a.addresses, ...aaaa.addresses];
  if (addresses.length === 1) return addresses;
  if (addresses.length > 0) return sortAddresses(addresses);
  const codes = [a.code, aaaa.code].filter((c): c is string => c !== null);
  // NXDOMAIN in either family is the server saying the name does not exist.
  if (codes.includes('ENOTFOUND')) throw failureFromCode(hostname, 'ENOTFOUND');
  const failure = codes.find((c) => !NO_ADDRESS_CODES.has(c));
  throw failureFromCode(hostname, failure ?? 'ENODATA');
}

/**
 * The A and AAAA queries of one resolution, asked in parallel; settles with the addresses of
 * both answers (`addressesOf`). But once one family has addresses, the other gets only `graceMs`
 * more (a server that drops AAAA queries must not eat the probe's deadline), then counts as timed
 * out. Rejects with `DnsFailure` (`ABORTED`) as soon as `signal` aborts. Either way the queries
 * still pending are dropped: no timer or id is left.
 *
 * A class with methods rather than closures: under tsx (esbuild's keepNames) every named closure
 * is renamed with Object.defineProperty when it is created, about 0.7 µs each per resolution.
 * It settles the probe's promise itself, without a promise of its own per resolution.
 */
class FamilyPair {
  private readonly answers: [FamilyAnswer | undefined, FamilyAnswer | undefined] = [undefined, undefined];
  private readonly cancels: (() => void)[] = [];
  private grace: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    /** The name asked (no trailing dot). */
    private readonly name: string,
    /** The name as given, for failures' messages. */
    private readonly hostname: string,
    private readonly graceMs: number,
    private readonly signal: AbortLike,
    private readonly resolve: (addresses: string[]) => void,
    private readonly reject: (failure: DnsFailure) => void,
  ) {}

  start(client: DnsClient): void {
    this.signal.addEventListener('abort', this, { once: true });
    this.cancels.push(client.ask(this.name, 'A', (answer) => this.take(0, answer)));
    this.cancels.push(client.ask(this.name, 'AAAA', (answer) => this.take(1, answer)));
  }

  /** The abort of `signal` (this object is its listener). */
  handleEvent(): void {
    this.end();
    this.reject(abortFailure(this.name, this.signal));
  }

  /** Asking failed at once (no socket could be opened): the resolution fails as the resolver reports such errors. */
  fail(error: unknown): void {
    this.end();
    this.reject(error instanceof DnsFailure ? error : failureFromCode(this.hostname, codeOf(error)));
  }

  private take(family: 0 | 1, answer: FamilyAnswer): void {
    this.answers[family] = answer;
    if (this.settled) return;
    const [a, aaaa] = this.answers;
    if (a && aaaa) this.settle(a, aaaa);
    else if (!this.grace && answer.addresses.length > 0) {
      this.grace = setTimeout(() => this.settle(this.answers[0] ?? LEFT_OUT, this.answers[1] ?? LEFT_OUT), this.graceMs);
    }
  }

  private settle(a: FamilyAnswer, aaaa: FamilyAnswer): void {
    this.end();
    let addresses: string[];
    try {
      addresses = addressesOf(this.hostname, a, aaaa);
    } catch (failure) {
      this.reject(failure as DnsFailure);
      return;
    }
    this.resolve(addresses);
  }

  private end(): void {
    this.settled = true;
    clearTimeout(this.grace);
    this.signal.removeEventListener('abort', this);
    for (const cancel of this.cancels) cancel();
  }
}

function positiveOption(name: string, value: number, integer: boolean): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new Error(`invalid resolver option ${name}: ${value} (expected a positive ${integer ? 'integer' : 'number'})`);
  }
  return value;
}

/**
 * Builds the resolver the probes use.
 *
 * With `servers`, A and AAAA are asked in parallel of those servers by the DNS client of dns.client.ts (UDP
 * sockets connected to each server, unref'ed, a fresh one with a fresh source port every
 * `MAX_QUERIES_PER_SOCKET` queries or second; aborting one resolution drops only its own queries).
 * A server with nothing listening fails its try at once (`ECONNREFUSED`) rather than timing out.
 * An answer in either family is enough (once one family has answered, the other gets
 * `familyGraceMs` more, then is left out); the name is `dns_nxdomain` when the server says it does
 * not exist, or when both families come back empty (NOERROR, no data); anything else without an
 * address is `dns_error`. Without servers, the system resolver (`dns.lookup`) is used; it cannot
 * be cancelled, so the abort only stops waiting for it.
 *
 * `localhost` and `*.localhost` resolve to this machine's loopback addresses without a query.
 * Throws at once when a server entry is not `ip[:port]` or a time-out or tries is not positive.
 * Nothing to close: the sockets and their timers do not hold the process, and close within about
 * a second once no query is pending.
 */
export function createResolver(options: ResolverOptions = {}): Resolver & { stats(): ResolverStats } {
  const servers = parseServers(options.servers ?? []);
  const graceMs = options.familyGraceMs ?? DEFAULT_FAMILY_GRACE_MS;
  const timeoutMs = positiveOption('queryTimeoutMs', options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, false);
  const tries = positiveOption('tries', options.tries ?? DEFAULT_TRIES, true);
  const client = servers.length > 0 ? createDnsClient(servers, timeoutMs, tries) : undefined;
  let loopback: string[] | undefined;

  const viaServers = (dnsClient: DnsClient, hostname: string, signal: AbortLike): Promise<string[]> => {
    const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
    if (!isValidQueryName(name)) return Promise.reject(failureFromCode(hostname, 'EBADNAME'));
    return new Promise((resolve, reject) => {
      const pair = new FamilyPair(name, hostname, graceMs, signal, resolve, reject);
      try {
        pair.start(dnsClient);
      } catch (error) {
        pair.fail(error);
      }
    });
  };

  const viaSystem = async (hostname: string, signal: AbortLike): Promise<string[]> => {
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

  /** Every name but one to ask of `servers`: IP literals, localhost, and the system resolver. */
  const resolveOther = async (name: string, signal: AbortLike): Promise<string[]> => {
    if (isIP(name) !== 0) return [name];
    if (name === '') throw new DnsFailure('dns_nxdomain', 'ENOTFOUND', 'empty host name');
    if (isLocalhostName(name)) {
      loopback ??= loopbackAddresses();
      return [...loopback];
    }
    if (signal.aborted) throw abortFailure(name, signal);
    try {
      return await (client ? viaServers(client, name, signal) : viaSystem(name, signal));
    } catch (error) {
      if (error instanceof DnsFailure) throw error;
      throw failureFromCode(name, codeOf(error));
    }
  };

  return {
    resolve(hostname, signal) {
      const name = bareHost(hostname);
      // A name for the servers (the probes' usual case) goes straight to them: no async frame.
      if (client && name !== '' && isIP(name) === 0 && !isLocalhostName(name) && !signal.aborted) {
        return viaServers(client, name, signal);
      }
      return resolveOther(name, signal);
    },
    stats: () => client?.stats() ?? { pending: 0, ignoredReplies: 0, sockets: 0 },
  };
}
