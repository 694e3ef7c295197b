import { STATUS_CODES } from 'node:http';
import net, { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import tls, { rootCertificates, type SecureContext, type TLSSocket } from 'node:tls';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { connectFirst, type FailedAttempt } from './connect.js';
import { DnsFailure, type AbortListener, type AbortLike, type Resolver } from './dns.resolver.js';
import { detectGateway } from './gateway-detect.js';
import { formatRequest, HttpParseError, ResponseParser, type ResponseEvents, type ResponseHead } from './http.wire.js';
import type { GatewayProduct, HttpProbe, Outcome, ProbeResult, ProbeTarget } from './probes.types.js';
import type { TargetPolicy } from './target-policy.js';
import { leafCertificateOf } from './tls.certificate.js';

export interface HttpProbeDeps {
  resolver: Resolver;
  policy: TargetPolicy;
  /** Most body bytes read (kept for gateway detection); the connection is dropped after that. */
  maxBodyBytes?: number;
  /** Redirects followed (301, 302, 303, 307, 308); one more is an `http_error`. */
  maxRedirects?: number;
  userAgent?: string;
  /** Extra CAs (PEM) trusted on top of Node's bundled roots, e.g. a private CA of the origins. */
  extraCa?: string | Buffer | (string | Buffer)[];
  clock?: Clock;
}

const DEFAULT_MAX_BODY_BYTES = 65_536;
const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_USER_AGENT = 'Gatewatch/0.1 (uptime monitor)';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Where the exchange with one hop had got to when it ended. */
export type Phase = 'connect' | 'tls' | 'wait' | 'body';

/** Timing marks and addresses, all of the last hop, in ms since the probe started. */
type Trace = Pick<ProbeResult, 'addresses' | 'address' | 'dnsMs' | 'connectMs' | 'tlsMs' | 'ttfbMs' | 'certExpiresAt' | 'certIssuer'> & {
  failedAddresses: string[];
};

export interface Verdict {
  outcome: Outcome;
  statusCode: number | null;
  errorMessage: string | null;
  gateway: GatewayProduct | null;
}

type HopResult = { kind: 'redirect'; location: URL; statusCode: number } | { kind: 'done'; verdict: Verdict };

/**
 * What a hop needs of its URL, made once per target (`prepare`) and kept. A parsed `URL` and the
 * request's bytes, in two caches, held ~620 B per target (heap and Buffer memory; 20,000 targets
 * at 10,000 sites); this holds ~250 B: its `href` is the target's own text whenever that is
 * already canonical, and the request is written again for each probe (about a microsecond).
 */
interface HopUrl {
  href: string;
  /** 'http:', 'https:', or another scheme (refused before any hop). */
  protocol: string;
  /** As `URL` gives it: brackets around an IPv6 literal. */
  hostname: string;
  /** The Host header: the host name and any explicit port. */
  host: string;
  /** The explicit port, or the scheme's default. */
  port: number;
  /** The request target (path and query). */
  path: string;
  /** Why no request can be made for this URL (`formatRequest` refused it); null when one can. */
  cannotSend: string | null;
}

/** A string of its own (a slice of a longer one keeps all of that one alive). */
const ownCopy = (text: string) => Buffer.from(text, 'latin1').toString('latin1');

interface HopContext {
  url: HopUrl;
  /** The addresses to try, in the resolver's order, allowed by the target policy. */
  addresses: string[];
  deadline: Deadline;
  expected: [number, number];
  trace: Trace;
  elapsed: () => number;
}

const verdict = (outcome: Outcome, errorMessage: string | null, statusCode: number | null = null): Verdict => ({
  outcome,
  statusCode,
  errorMessage,
  gateway: null,
});

const describeStatus = (status: number): string => `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;

/** The outcome of an answer with this status, with its error message (null when ok). */
function judgeStatus(status: number, [low, high]: [number, number]): Pick<Verdict, 'outcome' | 'errorMessage'> {
  if (status >= low && status <= high) return { outcome: 'ok', errorMessage: null };
  if (status === 502) return { outcome: 'bad_gateway', errorMessage: describeStatus(status) };
  return { outcome: 'http_error', errorMessage: `${describeStatus(status)} (expected ${low === high ? low : `${low}-${high}`})` };
}

const TLS_CODE = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERROR_IN_CERT_)/;
/** Failures to reach the host at all: no route, no network. Recorded as a connect that never completed. */
const UNREACHABLE = new Set(['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

export type NodeError = Error & { code?: string; syscall?: string; reason?: string };

/** A short line for people: OpenSSL's reason instead of its error stack, no stack. */
function shortMessage(error: NodeError): string {
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(error.message);
  const text = openssl?.[1] ?? error.reason ?? error.message;
  return text.split('\n')[0].slice(0, 200);
}

/**
 * Maps a network error to an outcome, given how far the exchange with `peer` had got (`phase`)
 * and whether any byte of the answer had arrived:
 * - ECONNREFUSED: `conn_refused`
 * - ETIMEDOUT, EHOSTUNREACH, ENETUNREACH (and the like): `conn_timeout` — the TCP connect did
 *   not complete, as with dropped packets; the message keeps the real reason
 * - certificate and TLS codes, or any failure during the handshake: `tls_error`
 * - a reset (ECONNRESET from a read/write, EPIPE) before any byte of the answer: `conn_reset`
 * - the peer closing without a byte ("socket hang up"): `invalid_response` (empty reply)
 * - any failure while reading the body: `invalid_response` (truncated)
 * Malformed response bytes never get here: the parser's `HttpParseError` is `invalid_response`.
 * Exported for its tests; the probe is the only caller.
 */
export function classifyNetworkError(error: NodeError, phase: Phase, gotBytes: boolean, peer: string): Verdict {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return verdict('conn_refused', `connection refused by ${peer}`);
  if (UNREACHABLE.has(code)) return verdict('conn_timeout', `could not connect to ${peer}: ${shortMessage(error)}`);
  if (TLS_CODE.test(code) || (error as { library?: string }).library === 'SSL routines') {
    return verdict('tls_error', `TLS: ${shortMessage(error)}${code ? ` (${code})` : ''}`);
  }
  if (phase === 'tls') {
    return verdict('tls_error', `TLS handshake with ${peer} failed: ${shortMessage(error)}${code ? ` (${code})` : ''}`);
  }
  if (phase === 'body') return verdict('invalid_response', `response body truncated: ${shortMessage(error)}`);
  const reset = code === 'EPIPE' || (code === 'ECONNRESET' && error.syscall !== undefined);
  if (phase === 'connect') {
    return reset
      ? verdict('conn_reset', `connection reset by ${peer} while connecting`)
      : verdict('conn_timeout', `could not connect to ${peer}: ${shortMessage(error)}`);
  }
  // Connected and waiting for the status line.
  if (reset && !gotBytes) return verdict('conn_reset', `connection reset by ${peer} before any response`);
  if (!gotBytes) return verdict('invalid_response', `empty reply: ${peer} closed the connection without answering`);
  return verdict('invalid_response', `connection closed in the middle of the response headers (${shortMessage(error)})`);
}

function deadlineVerdict(phase: Phase, peer: string, timeoutMs: number, bodyBytes: number): Verdict {
  switch (phase) {
    case 'connect':
      return verdict('conn_timeout', `TCP connect to ${peer} did not complete within ${timeoutMs} ms`);
    case 'tls':
      return verdict('timeout', `TLS handshake with ${peer} did not complete within ${timeoutMs} ms`);
    case 'wait':
      return verdict('timeout', `no response from ${peer} within ${timeoutMs} ms`);
    case 'body':
      return verdict('timeout', `response body not complete within ${timeoutMs} ms (${bodyBytes} bytes read)`);
  }
}

/**
 * The probe's one deadline, as its steps see it: the step waiting when it passes (the resolver's
 * wait, then each hop) has put its handler in `onPass`, and a step that starts after it passed
 * sees `passed`. An AbortSignal listener per step costs a few µs of CPU each, more than parsing
 * a small answer. For the resolver, which takes a signal, the deadline is one itself
 * (`AbortLike`): an AbortController per probe cost about 1 KB and a few µs more.
 */
class Deadline implements AbortLike {
  passed = false;
  /** The waiting step's handler; a step replaces the previous step's when it starts. */
  onPass: (() => void) | null = null;
  /** Set when the deadline passes, as an aborted signal's: a `TimeoutError`. */
  reason: unknown = undefined;
  private listeners: AbortListener[] | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly timeoutMs: number) {
    this.timer = setTimeout(() => this.pass(), timeoutMs);
  }

  get aborted(): boolean {
    return this.passed;
  }

  /** Listeners run once, when the deadline passes (as with `{ once: true }` on a signal). */
  addEventListener(_type: 'abort', listener: AbortListener): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const index = this.listeners?.indexOf(listener) ?? -1;
    if (index >= 0) this.listeners!.splice(index, 1);
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private pass(): void {
    this.passed = true;
    this.reason = new DOMException(`probe deadline of ${this.timeoutMs} ms`, 'TimeoutError');
    const listeners = this.listeners;
    this.listeners = null;
    for (const listener of listeners ?? []) {
      if (typeof listener === 'function') listener();
      else listener.handleEvent();
    }
    const onPass = this.onPass;
    this.onPass = null;
    onPass?.();
  }
}

/**
 * `work`, unless the deadline passes first: then the error from `onPass`. The resolver is asked to
 * honour the deadline's signal too; this keeps the deadline even for one that does not.
 */
function withinDeadline<T>(work: Promise<T>, deadline: Deadline, onPass: () => Error): Promise<T> {
  if (deadline.passed) {
    work.catch(() => {});
    return Promise.reject(onPass());
  }
  return new Promise<T>((resolve, reject) => {
    deadline.onPass = () => reject(onPass());
    work.then(resolve, reject);
  });
}

/** A trace before anything happened: of the probe, and again at each redirect hop. */
const emptyTrace = (): Trace => ({
  addresses: [],
  address: null,
  dnsMs: null,
  connectMs: null,
  tlsMs: null,
  ttfbMs: null,
  certExpiresAt: null,
  certIssuer: null,
  failedAddresses: [],
});

/** `[::1]` -> `::1` (URL keeps the brackets on IPv6 hostnames). */
const bareHostname = (hostname: string) =>
  hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;

const peerOf = (address: string, port: number) => (isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The Location header as browsers read it: its bytes as UTF-8 (`/café` sent raw), else as they
 * came (latin1). Headers are parsed as latin1, so UTF-8 bytes arrive as one character each.
 */
function locationText(raw: string): string {
  if (!/[\x80-\xff]/.test(raw)) return raw;
  try {
    return utf8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return raw;
  }
}

/** The peer closed the connection before the answer was whole; what Node's client calls it. */
const hangUp = (): NodeError => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

/** What every hop of a probe shares: the probe's settings. */
interface HopSettings {
  maxBodyBytes: number;
  userAgent: string;
  /**
   * The TLS context of every connection, made once: building one costs about 0.5 ms of CPU, and
   * some 40 ms with `extraCa` (the whole root store is parsed again). Sessions are not resumed
   * from it (Node keeps no client session cache), so every probe still makes a full handshake.
   */
  secureContext: () => SecureContext;
}

/** Most entries of the probe's cache of prepared URLs: about one per target. */
const MAX_CACHED_URLS = 50_000;

/**
 * `make(key)`, remembered: the same targets are probed again and again, and parsing a URL and
 * writing its request cost more than the rest of a probe's own set-up. The cache is emptied
 * when full (targets removed long ago must not pile up).
 */
function remembered<T>(make: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined && !cache.has(key)) {
      value = make(key);
      if (cache.size >= MAX_CACHED_URLS) cache.clear();
      cache.set(key, value);
    }
    return value as T;
  };
}

/**
 * One request to one hop, on a fresh connection to one of `ctx.addresses` (`connectFirst`), TLS
 * on top for https, with the request and response of `http.wire.ts`. `run()` resolves once, with a
 * redirect or a verdict, and never rejects; by then the socket is destroyed and the deadline
 * handler dropped. A class rather than a function of closures: those would be made afresh for
 * every hop (and named, at a cost, under tsx), where methods are made once.
 */
class HopExchange implements ResponseEvents {
  private phase: Phase = 'connect';
  private gotBytes = false;
  private bodyBytes = 0;
  private readonly kept: Buffer[] = [];
  private settled = false;
  private socket: Socket | undefined;
  /** The TCP connection under `socket` (the same socket for http). */
  private tcp: Socket | undefined;
  private resolve: ((result: HopResult) => void) | undefined;
  private readonly parser = new ResponseParser(this);
  private readonly isTls: boolean;
  private readonly port: number;
  private peer: string;

  constructor(
    private readonly ctx: HopContext,
    private readonly settings: HopSettings,
  ) {
    this.isTls = ctx.url.protocol === 'https:';
    this.port = ctx.url.port;
    this.peer = peerOf(ctx.addresses[0], this.port);
  }

  run(): Promise<HopResult> {
    const { url, trace, deadline } = this.ctx;
    trace.address = this.ctx.addresses[0];
    return new Promise<HopResult>((resolve) => {
      this.resolve = resolve;
      if (url.cannotSend !== null) {
        this.done(verdict('http_error', `cannot send the request: ${url.cannotSend}`));
        return;
      }
      // Checked by formatRequest when the URL was prepared: the same input cannot fail now.
      const request = formatRequest({ target: url.path, host: url.host, userAgent: this.settings.userAgent });
      void connectFirst(this.ctx.addresses, this.port, deadline).then((connected) => {
        if (connected.kind === 'failed') {
          trace.failedAddresses = connected.failed.map((f) => f.address);
          trace.address = connected.failed[0]?.address ?? trace.address;
          this.done(this.connectFailure(connected.failed));
          return;
        }
        trace.connectMs = this.ctx.elapsed();
        trace.address = connected.address;
        trace.failedAddresses = connected.failed.map((f) => f.address);
        this.peer = peerOf(connected.address, this.port);
        this.exchange(connected.socket, request);
      });
    });
  }

  /** Every address failed: the first one's failure (what a client of the preferred address saw), naming the others. */
  private connectFailure(failed: FailedAttempt[]): Verdict {
    const describe = (f: FailedAttempt): Verdict =>
      f.error === null
        ? deadlineVerdict('connect', peerOf(f.address, this.port), this.ctx.deadline.timeoutMs, 0)
        : classifyNetworkError(f.error, 'connect', false, peerOf(f.address, this.port));
    const [first, ...others] = failed;
    const main = describe(first);
    if (others.length === 0) return main;
    const also = others.map((f) => `${peerOf(f.address, this.port)}: ${describe(f).outcome.replace('conn_', '')}`).join(', ');
    return { ...main, errorMessage: `${main.errorMessage} (every address failed; also ${also})` };
  }

  /** The request and its answer on a connected socket (TLS first for https). */
  private exchange(tcp: Socket, request: string): void {
    const { url, trace, deadline } = this.ctx;
    this.tcp = tcp;
    if (deadline.passed) {
      tcp.destroy();
      this.deadlinePassed();
      return;
    }
    deadline.onPass = () => this.deadlinePassed();
    this.phase = this.isTls ? 'tls' : 'wait';
    let socket: Socket = tcp;
    if (this.isTls) {
      const hostname = bareHostname(url.hostname);
      try {
        socket = tls.connect({
          socket: tcp,
          secureContext: this.settings.secureContext(),
          // SNI and the certificate check name the host of the URL; an IP literal has no SNI.
          ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
        });
      } catch (error) {
        tcp.destroy();
        this.done(verdict('tls_error', `TLS: ${shortMessage(error as NodeError)}`));
        return;
      }
      const tlsSocket = socket as TLSSocket;
      socket.on('secureConnect', () => {
        trace.tlsMs = this.ctx.elapsed();
        if (this.phase === 'tls') this.phase = 'wait';
        const cert = leafCertificateOf(tlsSocket);
        trace.certExpiresAt = cert?.expiresAt ?? null;
        trace.certIssuer = cert?.issuer ?? null;
      });
    }
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.gotBytes) {
        this.gotBytes = true;
        trace.ttfbMs ??= this.ctx.elapsed();
      }
      try {
        this.parser.push(chunk);
      } catch (error) {
        this.fail(error as NodeError);
      }
    });
    // An end during the TLS handshake is followed by the handshake's own error.
    socket.on('end', () => {
      if (this.phase === 'wait' || this.phase === 'body') this.closed();
    });
    socket.on('error', (error: NodeError) => this.fail(error));
    socket.on('close', () => this.closed());
    if (tcp.destroyed) {
      this.closed();
      return;
    }
    socket.write(request, 'latin1');
  }

  onHead(head: ResponseHead): void {
    this.phase = 'body';
    const status = head.statusCode;
    const raw = head.headers.location as string | undefined;
    if (!REDIRECT_STATUSES.has(status) || !raw) return;
    const location = locationText(raw);
    let next: URL;
    try {
      next = new URL(location, this.ctx.url.href);
    } catch {
      this.done(verdict('invalid_response', `redirect with an invalid Location: ${location.slice(0, 200)}`, status));
      return;
    }
    this.finish({ kind: 'redirect', location: next, statusCode: status });
  }

  onBody(piece: Buffer): void {
    const room = this.settings.maxBodyBytes - this.bodyBytes;
    if (room > 0) this.kept.push(room >= piece.length ? piece : piece.subarray(0, room));
    this.bodyBytes += piece.length;
    if (this.bodyBytes >= this.settings.maxBodyBytes) this.onComplete();
  }

  /** The body ended (or reached the cap): the answer is judged. */
  onComplete(): void {
    const head = this.parser.head as ResponseHead;
    const { outcome, errorMessage } = judgeStatus(head.statusCode, this.ctx.expected);
    this.done({ outcome, statusCode: head.statusCode, errorMessage, gateway: outcome === 'ok' ? null : this.gatewayOf(head) });
  }

  private finish(result: HopResult): void {
    if (this.settled) return;
    this.settled = true;
    this.ctx.deadline.onPass = null;
    this.parser.stop();
    this.socket?.destroy();
    this.tcp?.destroy();
    this.resolve?.(result);
  }

  private done(v: Verdict): void {
    this.finish({ kind: 'done', verdict: v });
  }

  private gatewayOf(head: ResponseHead): GatewayProduct | null {
    return detectGateway(head.headers, Buffer.concat(this.kept).toString('utf8'));
  }

  /** The body ended before its end: the peer closed or reset mid-answer, or broke the framing. */
  private bodyFailure(head: ResponseHead, error?: NodeError): void {
    let message: string;
    if (error instanceof HttpParseError) message = error.message;
    else {
      const of = head.contentLength === null ? '' : ` of ${head.contentLength}`;
      const why = error ? ` (${shortMessage(error)})` : '';
      message = `response body truncated: connection closed after ${this.bodyBytes}${of} bytes${why}`;
    }
    this.done({ ...verdict('invalid_response', message, head.statusCode), gateway: this.gatewayOf(head) });
  }

  /** A socket error or a parse error, judged by how far the exchange had got. */
  private fail(error: NodeError): void {
    if (this.settled) return;
    const head = this.parser.head;
    // A body delimited by the close ends at a reset as at a FIN: the answer is what it carried
    // (a gateway that resets after its 502 page still answered 502, as browsers and fetch see it).
    if (this.phase === 'body' && head?.framing === 'close' && !(error instanceof HttpParseError)) {
      this.parser.end();
      if (this.settled) return;
    }
    if (this.phase === 'body' && head) this.bodyFailure(head, error);
    else if (error instanceof HttpParseError) this.done(verdict('invalid_response', error.message));
    else this.done(classifyNetworkError(error, this.phase, this.gotBytes, this.peer));
  }

  /** The peer closed its side, or the socket closed without an error. */
  private closed(): void {
    if (this.settled) return;
    const state = this.parser.end();
    if (this.settled) return; // a read-to-close body completed
    const head = this.parser.head;
    if (state === 'in_body' && head) this.bodyFailure(head);
    else this.done(classifyNetworkError(hangUp(), this.phase, this.gotBytes, this.peer));
  }

  private deadlinePassed(): void {
    const v = deadlineVerdict(this.phase, this.peer, this.ctx.deadline.timeoutMs, this.bodyBytes);
    this.done({ ...v, statusCode: this.parser.statusCode });
  }
}

/**
 * Builds the HTTP(S) probe. Each call resolves the name itself (through `deps.resolver`), checks
 * the address against `deps.policy` before connecting (again on every redirect hop, so neither
 * DNS rebinding nor a redirect can reach a denied address), and connects to exactly that address
 * on a fresh connection of its own (`net.connect` / `tls.connect`: no agent, no pooling), keeping
 * the original Host header and TLS server name (no SNI for IP literals). It speaks just enough
 * HTTP/1.1 for one `GET` with `Connection: close` (`http.wire.ts`), at a fraction of the CPU of
 * Node's http client; Node's certificate verification applies, with `extraCa` trusted on top of
 * the bundled roots. One deadline, `target.timeoutMs`, covers DNS, connects, TLS, redirects and the
 * body. It reads at most `maxBodyBytes` of the body, then drops the connection.
 *
 * Timings are cumulative, in whole ms from the start of the probe, so that
 * `dnsMs <= connectMs <= tlsMs <= ttfbMs <= totalMs` wherever they are set:
 * - `dnsMs`: the address was known (name resolved; about 0 for an IP literal)
 * - `connectMs`: TCP connection established
 * - `tlsMs`: TLS handshake done (`null` for http)
 * - `ttfbMs`: first byte of the answer arrived
 * - `totalMs`: the probe ended (body read to its end or to the cap, or the failure)
 * After redirects, dns/connect/tls/ttfb, `addresses` and `address` are those of the last hop.
 *
 * A name with several addresses is connected to as browsers do (`connect.ts`: the resolver's
 * order, families interleaved, the next address after 250 ms or at once on a failure, the first to
 * connect wins); `failedAddresses` names those that did not connect, even when another did.
 * Redirects are always followed, whatever `expectedStatus` says; the final answer is judged.
 * Never throws, and leaves no socket or timer behind.
 */
export function createHttpProbe(deps: HttpProbeDeps): HttpProbe {
  const maxRedirects = deps.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const clock = deps.clock ?? systemClock;
  const ca = deps.extraCa === undefined ? undefined : [...rootCertificates, ...[deps.extraCa].flat()];
  let context: SecureContext | undefined;
  const userAgent = deps.userAgent ?? DEFAULT_USER_AGENT;
  /** A parsed URL as a hop needs it; `text`, when given, is the URL's own text (kept as its href when canonical). */
  const hopUrlOf = (url: URL, text?: string): HopUrl => {
    const protocol = url.protocol === 'http:' ? 'http:' : url.protocol === 'https:' ? 'https:' : url.protocol;
    const href = url.href === text ? text : url.href;
    const path = ownCopy(`${url.pathname}${url.search}`);
    const host = ownCopy(url.host);
    let cannotSend: string | null = null;
    try {
      formatRequest({ target: path, host, userAgent });
    } catch (error) {
      cannotSend = shortMessage(error as NodeError);
    }
    const hostname = url.hostname === host ? host : ownCopy(url.hostname);
    return { href, protocol, hostname, host, port: Number(url.port) || (protocol === 'https:' ? 443 : 80), path, cannotSend };
  };
  // Targets are prepared once, by their text: the same ones are probed again and again.
  const prepare = remembered((text): HopUrl | null => {
    try {
      return hopUrlOf(new URL(text), text);
    } catch {
      return null;
    }
  });
  const settings: HopSettings = {
    maxBodyBytes: deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    userAgent,
    secureContext: () => (context ??= tls.createSecureContext(ca ? { ca } : {})),
  };

  return async function probe(target: ProbeTarget): Promise<ProbeResult> {
    const startedAt = clock.now();
    const t0 = performance.now();
    const elapsed = () => Math.round(performance.now() - t0);
    const trace = emptyTrace();
    const deadline = new Deadline(target.timeoutMs);
    const result = (v: Verdict): ProbeResult => ({
      startedAt,
      outcome: v.outcome,
      statusCode: v.statusCode,
      errorMessage: v.errorMessage,
      addresses: trace.addresses,
      address: trace.address,
      dnsMs: trace.dnsMs,
      connectMs: trace.connectMs,
      tlsMs: trace.tlsMs,
      ttfbMs: trace.ttfbMs,
      totalMs: elapsed(),
      gateway: v.gateway,
      failedAddresses: trace.failedAddresses.length > 0 ? trace.failedAddresses : null,
      certExpiresAt: trace.certExpiresAt,
      certIssuer: trace.certIssuer,
    });

    try {
      const parsed = prepare(target.url);
      if (!parsed) return result(verdict('http_error', `invalid URL: ${target.url.slice(0, 200)}`));
      let url = parsed;
      for (let redirects = 0; ; redirects++) {
        if (url.protocol !== 'http:' && url.protocol !== 'https:') {
          return result(verdict('http_error', `unsupported URL scheme ${url.protocol}${redirects > 0 ? ' in redirect' : ''}`));
        }
        if (redirects > 0) Object.assign(trace, emptyTrace());

        const hostname = url.hostname;
        try {
          trace.addresses = await withinDeadline(
            deps.resolver.resolve(hostname, deadline),
            deadline,
            () => new DnsFailure('dns_error', 'ABORTED', `DNS resolution of ${hostname} did not finish before the deadline`),
          );
        } catch (error) {
          const failure =
            error instanceof DnsFailure ? error : new DnsFailure('dns_error', 'EUNKNOWN', `DNS lookup of ${hostname} failed`);
          return result(verdict(failure.kind, failure.message));
        }
        trace.dnsMs = elapsed();
        if (trace.addresses.length === 0) {
          return result(verdict('dns_nxdomain', `${hostname} has no address`));
        }

        // Every address is checked before any connection: a name that also points into a denied
        // range is probed on its other addresses only, and blocked when none is left.
        const allowed: string[] = [];
        let refusal: string | null = null;
        for (const address of trace.addresses) {
          const decision = deps.policy.check(address);
          if (decision.allowed) allowed.push(address);
          else refusal ??= decision.reason;
        }
        if (allowed.length === 0) {
          const where = redirects > 0 ? `redirect to ${url.href} blocked` : 'blocked';
          return result(verdict('blocked', `${where} by the target policy: ${refusal}`));
        }

        const hop = await new HopExchange(
          { url, addresses: allowed, deadline, expected: target.expectedStatus, trace, elapsed },
          settings,
        ).run();
        if (hop.kind === 'done') return result(hop.verdict);
        if (redirects >= maxRedirects) {
          return result(verdict('http_error', `too many redirects (more than ${maxRedirects})`, hop.statusCode));
        }
        url = hopUrlOf(hop.location);
      }
    } catch (error) {
      // Not expected: every failure above is an outcome. Kept so that a probe never throws.
      return result(verdict('invalid_response', `probe failed: ${shortMessage(error as NodeError)}`));
    } finally {
      deadline.clear();
    }
  };
}
