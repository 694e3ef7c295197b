import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { rootCertificates } from 'node:tls';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { DnsFailure, type Resolver } from './dns.resolver.js';
import { detectGateway } from './gateway-detect.js';
import type { GatewayProduct, HttpProbe, Outcome, ProbeResult, ProbeTarget } from './probes.types.js';
import type { TargetPolicy } from './target-policy.js';

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
type Trace = Pick<ProbeResult, 'addresses' | 'address' | 'dnsMs' | 'connectMs' | 'tlsMs' | 'ttfbMs'>;

export interface Verdict {
  outcome: Outcome;
  statusCode: number | null;
  errorMessage: string | null;
  gateway: GatewayProduct | null;
}

type HopResult = { kind: 'redirect'; location: URL; statusCode: number } | ({ kind: 'done' } & Verdict);

interface HopContext {
  url: URL;
  address: string;
  signal: AbortSignal;
  timeoutMs: number;
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

const describeStatus = (status: number): string => `HTTP ${status}${http.STATUS_CODES[status] ? ` ${http.STATUS_CODES[status]}` : ''}`;

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

/** A short line for people: OpenSSL's reason instead of its error stack, the parser's reason, no stack. */
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
 * - HPE_* parser errors: `invalid_response`
 * - a reset (ECONNRESET from a read/write, EPIPE) before any byte of the answer: `conn_reset`
 * - the peer closing without a byte ("socket hang up"): `invalid_response` (empty reply)
 * - any failure while reading the body: `invalid_response` (truncated)
 * Exported for its tests; the probe is the only caller.
 */
export function classifyNetworkError(error: NodeError, phase: Phase, gotBytes: boolean, peer: string): Verdict {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return verdict('conn_refused', `connection refused by ${peer}`);
  if (UNREACHABLE.has(code)) return verdict('conn_timeout', `could not connect to ${peer}: ${shortMessage(error)}`);
  if (TLS_CODE.test(code) || (error as { library?: string }).library === 'SSL routines') {
    return verdict('tls_error', `TLS: ${shortMessage(error)}${code ? ` (${code})` : ''}`);
  }
  if (code.startsWith('HPE_')) {
    return verdict('invalid_response', `invalid HTTP response: ${shortMessage(error)} (${code})`);
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
 * `work`, unless `signal` aborts first: then the error from `onAbort`. The resolver is asked to
 * honour the signal too; this keeps the deadline even for one that does not.
 */
function withinDeadline<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** `[::1]` -> `::1` (URL keeps the brackets on IPv6 hostnames). */
const bareHostname = (hostname: string) =>
  hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;

/** IPv4 first unless the name has only IPv6; within a family, the first in sorted order. */
const pickAddress = (addresses: string[]): string => addresses.find((a) => isIP(a) === 4) ?? addresses[0];

const peerOf = (address: string, port: number) => (isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * Builds the HTTP(S) probe. Each call resolves the name itself (through `deps.resolver`), checks
 * the address against `deps.policy` before connecting (again on every redirect hop, so neither
 * DNS rebinding nor a redirect can reach a denied address), and connects to exactly that address
 * on a fresh connection (`agent: false`), keeping the original Host header and TLS server name
 * (no SNI for IP literals). One deadline, `target.timeoutMs`, covers DNS, connects, TLS,
 * redirects and the body. It reads at most `maxBodyBytes` of the body, then drops the connection.
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
 * A name with several addresses is probed on one of them: IPv4 first, unless it has only IPv6.
 * Redirects are always followed, whatever `expectedStatus` says; the final answer is judged.
 * Never throws, and leaves no socket or timer behind.
 */
export function createHttpProbe(deps: HttpProbeDeps): HttpProbe {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRedirects = deps.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const userAgent = deps.userAgent ?? DEFAULT_USER_AGENT;
  const clock = deps.clock ?? systemClock;
  const ca = deps.extraCa === undefined ? undefined : [...rootCertificates, ...[deps.extraCa].flat()];

  /** One request to one hop, on a fresh connection to `ctx.address`. */
  function exchange(ctx: HopContext): Promise<HopResult> {
    const { url, address, signal, trace, elapsed } = ctx;
    const isTls = url.protocol === 'https:';
    const hostname = bareHostname(url.hostname);
    const port = Number(url.port) || (isTls ? 443 : 80);
    const peer = peerOf(address, port);
    const family = isIP(address);
    trace.address = address;

    return new Promise<HopResult>((resolve) => {
      let phase: Phase = 'connect';
      let gotBytes = false;
      let bodyBytes = 0;
      let settled = false;
      let socket: Socket | undefined;
      let response: http.IncomingMessage | undefined;
      let request: http.ClientRequest | undefined;

      const finish = (result: HopResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onDeadline);
        request?.destroy();
        response?.destroy();
        socket?.destroy();
        resolve(result);
      };
      const done = (v: Verdict) => finish({ kind: 'done', ...v });
      /** The body ended before its end: the peer closed or reset mid-answer. */
      const bodyFailure = (error?: NodeError): Verdict => {
        const expected = Number(response?.headers['content-length']);
        const of = Number.isFinite(expected) ? ` of ${expected}` : '';
        const why = error ? ` (${shortMessage(error)})` : '';
        return verdict('invalid_response', `response body truncated: connection closed after ${bodyBytes}${of} bytes${why}`);
      };

      const onDeadline = () => {
        const v = deadlineVerdict(phase, peer, ctx.timeoutMs, bodyBytes);
        done(response ? { ...v, statusCode: response.statusCode ?? null } : v);
      };

      if (signal.aborted) {
        onDeadline();
        return;
      }
      signal.addEventListener('abort', onDeadline, { once: true });

      // Always answers with the address already resolved and checked by the policy.
      const lookup: LookupFunction = (_name, options, callback) => {
        if (options.all) callback(null, [{ address, family }]);
        else callback(null, address, family);
      };

      const options: https.RequestOptions = {
        host: hostname,
        port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { Host: url.host, 'User-Agent': userAgent, Accept: '*/*', Connection: 'close' },
        agent: false,
        lookup,
        ...(isTls && isIP(hostname) === 0 ? { servername: hostname } : {}),
        ...(isTls && ca ? { ca } : {}),
      };

      try {
        request = (isTls ? https : http).request(options);
      } catch (error) {
        done(verdict('http_error', `cannot send the request: ${shortMessage(error as NodeError)}`));
        return;
      }

      request.on('socket', (s: Socket) => {
        socket = s;
        const connected = () => {
          trace.connectMs ??= elapsed();
          if (phase === 'connect') phase = isTls ? 'tls' : 'wait';
        };
        if (s.connecting) s.once('connect', connected);
        else connected();
        if (isTls) {
          s.once('secureConnect', () => {
            trace.tlsMs = elapsed();
            if (phase === 'tls') phase = 'wait';
          });
        }
        s.once('data', () => {
          gotBytes = true;
          trace.ttfbMs ??= elapsed();
        });
      });

      request.on('error', (error: NodeError) => {
        if (settled) return;
        if (phase === 'body' && response) {
          done({ ...bodyFailure(error), statusCode: response.statusCode ?? null });
          return;
        }
        done(classifyNetworkError(error, phase, gotBytes, peer));
      });

      request.on('close', () => {
        if (!settled && !response) done(verdict('invalid_response', `connection to ${peer} closed without a response`));
      });

      request.on('response', (res) => {
        response = res;
        phase = 'body';
        gotBytes = true;
        trace.ttfbMs ??= elapsed();
        const status = res.statusCode ?? 0;

        const location = res.headers.location;
        if (REDIRECT_STATUSES.has(status) && location) {
          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            done(verdict('invalid_response', `redirect with an invalid Location: ${location.slice(0, 200)}`, status));
            return;
          }
          finish({ kind: 'redirect', location: next, statusCode: status });
          return;
        }

        const kept: Buffer[] = [];
        const complete = () => {
          const judged = judgeStatus(status, ctx.expected);
          const gateway =
            judged.outcome === 'ok' ? null : detectGateway(res.headers, Buffer.concat(kept).toString('utf8'));
          done({ ...judged, statusCode: status, gateway });
        };
        res.on('data', (chunk: Buffer) => {
          const room = maxBodyBytes - bodyBytes;
          if (room > 0) kept.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
          bodyBytes += chunk.length;
          if (bodyBytes >= maxBodyBytes) complete();
        });
        res.on('end', complete);
        const truncated = (error?: NodeError) => {
          if (settled) return;
          const v = bodyFailure(error);
          done({ ...v, statusCode: status, gateway: detectGateway(res.headers, Buffer.concat(kept).toString('utf8')) });
        };
        res.on('error', truncated);
        res.on('close', () => {
          if (!res.complete) truncated();
        });
      });

      request.end();
    });
  }

  return async function probe(target: ProbeTarget): Promise<ProbeResult> {
    const startedAt = clock.now();
    const t0 = performance.now();
    const elapsed = () => Math.round(performance.now() - t0);
    const trace: Trace = { addresses: [], address: null, dnsMs: null, connectMs: null, tlsMs: null, ttfbMs: null };
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException(`probe deadline of ${target.timeoutMs} ms`, 'TimeoutError')),
      target.timeoutMs,
    );
    const result = (v: Verdict): ProbeResult => ({ startedAt, ...v, ...trace, totalMs: elapsed() });

    try {
      let url: URL;
      try {
        url = new URL(target.url);
      } catch {
        return result(verdict('http_error', `invalid URL: ${target.url.slice(0, 200)}`));
      }
      for (let redirects = 0; ; redirects++) {
        if (url.protocol !== 'http:' && url.protocol !== 'https:') {
          return result(verdict('http_error', `unsupported URL scheme ${url.protocol}${redirects > 0 ? ' in redirect' : ''}`));
        }
        Object.assign(trace, { addresses: [], address: null, dnsMs: null, connectMs: null, tlsMs: null, ttfbMs: null });

        try {
          trace.addresses = await withinDeadline(deps.resolver.resolve(url.hostname, controller.signal), controller.signal, () =>
            new DnsFailure('dns_error', 'ABORTED', `DNS resolution of ${url.hostname} did not finish before the deadline`),
          );
        } catch (error) {
          const failure =
            error instanceof DnsFailure ? error : new DnsFailure('dns_error', 'EUNKNOWN', `DNS lookup of ${url.hostname} failed`);
          return result(verdict(failure.kind, failure.message));
        }
        trace.dnsMs = elapsed();
        if (trace.addresses.length === 0) {
          return result(verdict('dns_nxdomain', `${url.hostname} has no address`));
        }

        const address = pickAddress(trace.addresses);
        const decision = deps.policy.check(address);
        if (!decision.allowed) {
          const where = redirects > 0 ? `redirect to ${url.href} blocked` : 'blocked';
          return result(verdict('blocked', `${where} by the target policy: ${decision.reason}`));
        }

        const hop = await exchange({
          url,
          address,
          signal: controller.signal,
          timeoutMs: target.timeoutMs,
          expected: target.expectedStatus,
          trace,
          elapsed,
        });
        if (hop.kind === 'done') {
          const { kind: _kind, ...v } = hop;
          return result(v);
        }
        if (redirects >= maxRedirects) {
          return result(verdict('http_error', `too many redirects (more than ${maxRedirects})`, hop.statusCode));
        }
        url = hop.location;
      }
    } catch (error) {
      // Not expected: every failure above is an outcome. Kept so that a probe never throws.
      return result(verdict('invalid_response', `probe failed: ${shortMessage(error as NodeError)}`));
    } finally {
      clearTimeout(timer);
    }
  };
}
