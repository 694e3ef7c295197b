/**
 * The four parsers on lines as each product writes them (their documentation's examples and what
 * the Debian builds wrote in the end-to-end lab): the kind, the upstream, the time.
 */
import { describe, expect, it } from 'vitest';
import { parseApache, parseCaddy, parseHaproxy, parseNginx } from '../src/gatewaylog/gatewaylog.parsers.js';

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0) => new Date(y, mo - 1, d, h, mi, s, ms).getTime();

describe('nginx error log', () => {
  const ctx = ', client: 10.0.0.1, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.5:8080/", host: "shop.example.com"';
  const line = (level: string, text: string, tail = ctx) => `2024/05/01 12:03:10 [${level}] 4321#4321: *45 ${text}${tail}`;

  it.each([
    ['connect() failed (111: Connection refused) while connecting to upstream', 'refused'],
    ['connect() failed (113: No route to host) while connecting to upstream', 'refused'],
    ['upstream timed out (110: Connection timed out) while connecting to upstream', 'connect_timeout'],
    ['upstream timed out (110: Connection timed out) while reading response header from upstream', 'header_timeout'],
    ['upstream prematurely closed connection while reading response header from upstream', 'closed_prematurely'],
    ['recv() failed (104: Connection reset by peer) while reading response header from upstream', 'closed_prematurely'],
    ['upstream sent invalid header: "Broken\\x20..." while reading response header from upstream', 'invalid_header'],
    ['upstream sent no valid HTTP/1.0 header while reading response header from upstream', 'invalid_header'],
    ['SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed) while SSL handshaking to upstream', 'tls'],
    ['some message nginx adds in a later version', 'unknown'],
  ])('%s -> %s', (text, kind) => {
    const parsed = parseNginx(line('error', text));
    expect(parsed).toEqual({
      at: local(2024, 5, 1, 12, 3, 10),
      kind,
      upstream: '10.0.0.5:8080',
      server: null,
      host: 'shop.example.com',
      message: text,
    });
  });

  it('no live upstreams names the upstream block, not an address', () => {
    const parsed = parseNginx(line('error', 'no live upstreams while connecting to upstream', ctx.replace('10.0.0.5:8080', 'backend')));
    expect(parsed).toMatchObject({ kind: 'no_live_upstreams', upstream: null, server: 'backend' });
  });

  it('a name the resolver could not resolve', () => {
    const parsed = parseNginx(line('error', 'app.internal could not be resolved (3: Host not found)', ', client: 10.0.0.1, server: shop, request: "GET / HTTP/1.1", host: "shop.example.com"'));
    expect(parsed).toMatchObject({ kind: 'dns', upstream: 'app.internal', host: 'shop.example.com' });
  });

  it('ignores what is not about an upstream', () => {
    expect(parseNginx('2024/05/01 12:03:10 [notice] 4321#4321: start worker process 4322')).toBeNull();
    expect(parseNginx('2024/05/01 12:03:10 [info] 4321#4321: *3 client 127.0.0.1 closed keepalive connection')).toBeNull();
    expect(parseNginx('not a log line at all')).toBeNull();
  });
});

describe('HAProxy httplog', () => {
  // The documentation's example of the HTTP log format, with its syslog header.
  const doc = (server: string, status: number, state: string) =>
    `Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/${server} 10/0/30/69/109 ${status} 2750 - - ${state} 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"`;

  it.each([
    ['SC--', 503, 'refused'],
    ['sC--', 503, 'connect_timeout'],
    ['SH--', 502, 'closed_prematurely'],
    ['sH--', 504, 'header_timeout'],
    ['PH--', 502, 'invalid_header'],
    ['SL--', 502, 'unknown'],
  ])('termination state %s (%d) -> %s', (state, status, kind) => {
    expect(parseHaproxy(doc('srv1', status, state))).toEqual({
      at: local(2009, 2, 6, 12, 14, 14, 655),
      kind,
      upstream: null,
      server: 'srv1',
      host: null,
      message: `static/srv1 status ${status}, termination state ${state}`,
    });
  });

  it('<NOSRV>: no server available', () => {
    expect(parseHaproxy(doc('<NOSRV>', 503, 'SC--'))).toMatchObject({ kind: 'no_live_upstreams', server: null });
  });

  it('reads `log stdout format raw` lines, and skips requests that went fine', () => {
    const raw = '127.0.0.1:36360 [04/Dec/2026:16:03:46.886] fe be/app-1 0/0/0/-1/1009 504 198 - - sH-- 2/2/0/0/0 0/0 "GET / HTTP/1.1"';
    expect(parseHaproxy(raw)).toMatchObject({ at: local(2026, 12, 4, 16, 3, 46, 886), kind: 'header_timeout', server: 'app-1' });
    expect(parseHaproxy(doc('srv1', 200, '----'))).toBeNull();
    expect(parseHaproxy(doc('srv1', 500, '----'))).toBeNull(); // the application's own 500, passed through
  });

  it('health checks that take a server down', () => {
    const line = 'Server be/app-1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 0 active and 0 backup servers left.';
    expect(parseHaproxy(line)).toMatchObject({ kind: 'refused', server: 'app-1' });
    expect(parseHaproxy('Server be/app-1 is DOWN, reason: Layer4 timeout, check duration: 2001ms.')).toMatchObject({ kind: 'connect_timeout', server: 'app-1' });
    expect(parseHaproxy('backend be has no server available!')).toMatchObject({ kind: 'no_live_upstreams' });
  });
});

describe('Apache error log (mod_proxy)', () => {
  const at = '[Fri Dec 04 16:03:49.555698 2026]';
  it.each([
    ['[proxy:error] [pid 1:tid 2] (111)Connection refused: AH00957: http: attempt to connect to 127.0.0.1:44241 (127.0.0.1:44241) failed', 'refused', '127.0.0.1:44241'],
    ['[proxy:error] [pid 1:tid 2] (110)Connection timed out: AH00957: HTTP: attempt to connect to 10.0.0.5:8080 (10.0.0.5) failed', 'connect_timeout', '10.0.0.5:8080'],
    ['[proxy_http:error] [pid 1:tid 2] (70007)The timeout specified has expired: [client 127.0.0.1:38960] AH01102: error reading status line from remote server 127.0.0.1:44241', 'header_timeout', '127.0.0.1:44241'],
    ['[proxy_http:error] [pid 1:tid 2] (104)Connection reset by peer: [client 127.0.0.1:38960] AH01102: error reading status line from remote server 10.0.0.5:8080', 'closed_prematurely', '10.0.0.5:8080'],
    ['[proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:38976] AH01106: bad HTTP/1.1 header returned by / (GET)', 'invalid_header', null],
    ['[proxy:error] [pid 1:tid 2] [client 127.0.0.1:38976] AH00898: DNS lookup failure for: app.internal returned by /', 'dns', 'app.internal'],
    ['[proxy:error] [pid 1:tid 2] AH00940: HTTP: disabled connection for (10.0.0.5:8080)', 'no_live_upstreams', '10.0.0.5:8080'],
    ['[proxy:error] [pid 1:tid 2] [client 127.0.0.1:1] AH09999: a message Apache adds later', 'unknown', null],
  ])('%s', (text, kind, upstream) => {
    expect(parseApache(`${at} ${text}`)).toMatchObject({ at: local(2026, 12, 4, 16, 3, 49, 555), kind, upstream });
  });

  it('leaves out follow-up lines and what is not mod_proxy', () => {
    expect(parseApache(`${at} [proxy_http:error] [pid 1:tid 2] [client 127.0.0.1:38976] AH01114: HTTP: failed to make connection to backend: 127.0.0.1`)).toBeNull();
    expect(parseApache(`${at} [proxy:error] [pid 1:tid 2] [client 127.0.0.1:38960] AH00898: Error reading from remote server returned by /`)).toBeNull();
    expect(parseApache(`${at} [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.71 (Debian) configured -- resuming normal operations`)).toBeNull();
  });

  it('keeps the message without the client', () => {
    expect(parseApache(`${at} [proxy_http:warn] [pid 1:tid 2] [client 127.0.0.1:38976] AH01106: bad HTTP/1.1 header returned by / (GET)`)?.message).toBe(
      'AH01106: bad HTTP/1.1 header returned by / (GET)',
    );
  });
});

describe('Caddy JSON log', () => {
  const entry = (msg: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      level: 'error',
      ts: 1714564990.123,
      logger: 'http.log.error',
      msg,
      request: { remote_ip: '10.0.0.1', proto: 'HTTP/1.1', method: 'GET', host: 'shop.example.com', uri: '/' },
      duration: 0.001,
      status: 502,
      ...extra,
    });

  it.each([
    ['dial tcp 10.0.0.5:8080: connect: connection refused', 'refused', '10.0.0.5:8080'],
    ['dial tcp 10.0.0.5:8080: i/o timeout', 'connect_timeout', '10.0.0.5:8080'],
    ['net/http: timeout awaiting response headers', 'header_timeout', null],
    ['net/http: HTTP/1.x transport connection broken: malformed MIME header: missing colon: "Broken header line"', 'invalid_header', null],
    ['unexpected EOF', 'closed_prematurely', null],
    ['dial tcp: lookup app.internal on 127.0.0.53:53: no such host', 'dns', 'app.internal'],
    ['tls: failed to verify certificate: x509: certificate signed by unknown authority', 'tls', null],
    ['no upstreams available', 'no_live_upstreams', null],
    ['something else went wrong', 'unknown', null],
  ])('%s -> %s', (msg, kind, upstream) => {
    expect(parseCaddy(entry(msg))).toEqual({ at: 1714564990123, kind, upstream, server: null, host: 'shop.example.com', message: msg });
  });

  it('skips access-log entries, other loggers and lines that are not JSON', () => {
    expect(parseCaddy(entry('handled request', { logger: 'http.log.access' }))).toBeNull();
    expect(parseCaddy(JSON.stringify({ level: 'info', ts: 1, logger: 'http.log', msg: 'server running' }))).toBeNull();
    expect(parseCaddy('{"level":"error", truncated')).toBeNull();
    expect(parseCaddy('[]')).toBeNull();
  });
});
