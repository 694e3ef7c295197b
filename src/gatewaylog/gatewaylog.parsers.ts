/**
 * One parser per product: a line of its error log in, what it says about an upstream out.
 *
 * Learned from each product's documentation and from the lines the Debian builds write
 * (nginx 1.22, HAProxy 2.6, Apache 2.4, Caddy 2.6). A line whose words are not known here is
 * `unknown`, never guessed into a kind; lines about nothing upstream (start-up notices, requests
 * that went fine, access-log entries) give null.
 */
import type { GatewayLogFormat, LineParser, LogEventKind, ParsedLine } from './gatewaylog.types.js';

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** A gateway on this host writes its local time without a zone: read it the same way. */
const localTime = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): number | null => {
  const at = new Date(y, mo, d, h, mi, s, ms).getTime();
  return Number.isFinite(at) ? at : null;
};

const cut = (text: string, max = 200): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

/** "http://127.0.0.1:8080/x" or "127.0.0.1:8080" -> "127.0.0.1:8080"; "[::1]:80" kept bracketed. */
function hostPort(text: string): string | null {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(\[[^\]]+\]|[^/:\s]+)(?::(\d+))?/i.exec(text.trim());
  if (!m) return null;
  return m[2] ? `${m[1]}:${m[2]}` : m[1];
}

// ---------------------------------------------------------------------------------------------
// nginx: "2024/05/01 12:03:10 [error] 123#123: *45 connect() failed (111: Connection refused)
// while connecting to upstream, client: 10.0.0.1, server: shop, request: "GET / HTTP/1.1",
// upstream: "http://10.0.0.5:8080/", host: "shop.example.com"" (ngx_log_error, with the context
// nginx's http proxy module appends: client, server, request, upstream, host).

const NGINX_LINE = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2}) \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$/;

const NGINX_KINDS: [RegExp, LogEventKind][] = [
  [/no live upstreams/, 'no_live_upstreams'],
  [/upstream timed out \([^)]*\) while connecting to upstream/, 'connect_timeout'],
  [/connect\(\) failed \(110: [^)]*\)/, 'connect_timeout'],
  [/upstream timed out \([^)]*\) while (?:reading response header|reading upstream|sending request)/, 'header_timeout'],
  [/connect\(\) failed \((?:111|113|101): /, 'refused'],
  [/could not be resolved|host not found in upstream/, 'dns'],
  [/SSL_do_handshake\(\) failed|upstream SSL certificate|SSL_connect|certificate verify|SSL_read\(\) failed/, 'tls'],
  [/upstream sent (?:invalid|no valid|too big|duplicate|invalid chunked)/, 'invalid_header'],
  [/upstream prematurely closed connection|\((?:104: Connection reset by peer|32: Broken pipe)\) while (?:reading|sending)/, 'closed_prematurely'],
];

export const parseNginx: LineParser = (line) => {
  const m = NGINX_LINE.exec(line);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, level, rest] = m;
  const upstreamField = /, upstream: "([^"]*)"/.exec(rest)?.[1] ?? null;
  const kind = NGINX_KINDS.find(([re]) => re.test(rest))?.[1] ?? null;
  // Not about an upstream at all: worker start-up, client time-outs, and so on.
  if (!kind && !upstreamField) return null;
  if (!kind && !/^(?:error|crit|alert|emerg|warn)$/.test(level)) return null;
  const upstream = upstreamField ? hostPort(upstreamField) : null;
  // "no live upstreams" names the upstream block, not an address: "http://backend/".
  const named = kind === 'no_live_upstreams' && upstream !== null && !/:\d+$/.test(upstream);
  const resolved = kind === 'dns' ? /^(\S+) could not be resolved/.exec(rest)?.[1] ?? /host not found in upstream "([^"]+)"/.exec(rest)?.[1] : undefined;
  return {
    at: localTime(+y, +mo - 1, +d, +h, +mi, +s),
    kind: kind ?? 'unknown',
    upstream: named ? null : (upstream ?? (resolved ? hostPort(resolved) : null)),
    server: named ? upstream : null,
    host: /, host: "([^"]*)"/.exec(rest)?.[1] ?? null,
    message: cut(rest.replace(/, client: .*$/, '')),
  };
};

// ---------------------------------------------------------------------------------------------
// HAProxy, `option httplog` (its default HTTP format, written raw by `log stdout format raw` or
// after a syslog header): "10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1
// 10/0/30/69/109 502 2750 - - SH-- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"". The termination
// state's first two characters say who ended the session and in which phase: S the server,
// s a server-side time-out, P the proxy itself; C while connecting, H while waiting for the
// response headers, D while passing data. `<NOSRV>`: no server could be chosen at all.

const HAPROXY_HTTP =
  /(?:^|\s)(\S+):\d+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?\] (\S+) ([^\s/]+)\/(\S+) \S+ (-?\d+) \S+ \S+ \S+ (([A-Za-z-]{2})[A-Za-z-]{0,2}) /;
// Health checks: "Server be/app-1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", ..."
const HAPROXY_SERVER = /Server ([^\s/]+)\/(\S+) is (?:going )?DOWN(.*)$/;
const HAPROXY_NO_SERVER = /backend (\S+) has no server available!/;
const SYSLOG_TIME = /^(\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) /;

const HAPROXY_STATES: Record<string, LogEventKind> = {
  SC: 'refused',
  sC: 'connect_timeout',
  SH: 'closed_prematurely',
  sH: 'header_timeout',
  PH: 'invalid_header',
  SD: 'closed_prematurely',
};

function syslogTime(line: string): number | null {
  const m = SYSLOG_TIME.exec(line);
  if (!m || MONTHS[m[1]] === undefined) return null;
  return localTime(new Date().getFullYear(), MONTHS[m[1]], +m[2], +m[3], +m[4], +m[5]);
}

export const parseHaproxy: LineParser = (line) => {
  const m = HAPROXY_HTTP.exec(line);
  if (m) {
    const [, , d, mon, y, h, mi, s, ms, , backend, server, status, fullState, state] = m;
    const noServer = server === '<NOSRV>';
    const known = HAPROXY_STATES[state];
    const proxyOrServer = /^[SsP]/.test(state);
    if (!noServer && !known && !(proxyOrServer && Number(status) >= 500)) return null;
    if (noServer && !/^[SsPD]/.test(state) && Number(status) < 500) return null;
    const kind: LogEventKind = noServer ? 'no_live_upstreams' : (known ?? 'unknown');
    return {
      at: MONTHS[mon] === undefined ? null : localTime(+y, MONTHS[mon], +d, +h, +mi, +s, Number(ms ?? 0)),
      kind,
      upstream: null,
      server: noServer ? null : server,
      host: null,
      message: cut(`${backend}/${server} status ${status}, termination state ${fullState}`),
    };
  }
  const down = HAPROXY_SERVER.exec(line);
  if (down) {
    const why = down[3];
    const kind: LogEventKind = /Connection refused/i.test(why)
      ? 'refused'
      : /Layer4 timeout/i.test(why)
        ? 'connect_timeout'
        : /DNS|resolution/i.test(why)
          ? 'dns'
          : /SSL|TLS/.test(why)
            ? 'tls'
            : 'unknown';
    const at = syslogTime(line);
    return { at, kind, upstream: null, server: down[2].replace(/[,:]$/, ''), host: null, message: cut(line.slice(down.index)) };
  }
  const none = HAPROXY_NO_SERVER.exec(line);
  if (none) return { at: syslogTime(line), kind: 'no_live_upstreams', upstream: null, server: null, host: null, message: cut(line.slice(none.index)) };
  return null;
};

// ---------------------------------------------------------------------------------------------
// Apache httpd 2.4 (ErrorLog, default ErrorLogFormat): "[Fri Dec 04 16:03:49.555698 2026]
// [proxy:error] [pid 1:tid 2] (111)Connection refused: AH00957: http: attempt to connect to
// 127.0.0.1:9001 (127.0.0.1:9001) failed". mod_proxy's messages carry stable AH codes; the
// APR error in front says why.

const APACHE_LINE = /^\[(?:\w{3}) (\w{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))? (\d{4})\] \[(\w+):(\w+)\] (?:\[pid [^\]]*\] )?(.*)$/;

/** The APR error an Apache message starts with: "(111)Connection refused: ". */
const aprError = (rest: string): string => /^\((\d+)\)([^:]*):/.exec(rest)?.[0] ?? '';

function apacheKind(code: string, rest: string): { kind: LogEventKind; upstream: string | null } | null {
  const apr = aprError(rest);
  const timedOut = /\((?:110|70007)\)/.test(apr);
  switch (code) {
    case 'AH00957': {
      // "attempt to connect to 10.0.0.5:8080 (10.0.0.5:8080) failed"
      const target = /attempt to connect to (\S+)/.exec(rest)?.[1] ?? null;
      return { kind: timedOut ? 'connect_timeout' : /\((?:111|113|101)\)/.test(apr) ? 'refused' : 'unknown', upstream: target && hostPort(target) };
    }
    case 'AH01102': {
      // "error reading status line from remote server 10.0.0.5:8080"
      const target = /remote server (\S+)/.exec(rest)?.[1] ?? null;
      return { kind: timedOut ? 'header_timeout' : 'closed_prematurely', upstream: target && hostPort(target) };
    }
    case 'AH01106': // "bad HTTP/1.1 header returned by / (GET)"
    case 'AH01107':
    case 'AH01108':
      return { kind: 'invalid_header', upstream: null };
    case 'AH00898': {
      // "DNS lookup failure for: app.internal returned by /"; other AH00898 lines follow an AH01102.
      const name = /DNS lookup failure for: (\S+)/.exec(rest)?.[1];
      return name ? { kind: 'dns', upstream: hostPort(name) } : null;
    }
    case 'AH00940': // "HTTP: disabled connection for (10.0.0.5:8080)": the worker is in error state.
    case 'AH00959': {
      const target = /\(([^)\s]+)\)/.exec(rest.replace(aprError(rest), ''))?.[1] ?? null;
      return { kind: 'no_live_upstreams', upstream: target && hostPort(target) };
    }
    case 'AH01114': // "failed to make connection to backend": repeats the AH00957 before it.
      return null;
    default:
      return undefined as never;
  }
}

export const parseApache: LineParser = (line) => {
  const m = APACHE_LINE.exec(line);
  if (!m) return null;
  const [, mon, d, h, mi, s, frac, y, module, level, rest] = m;
  if (!/^(?:proxy|proxy_http|proxy_balancer|ssl)/.test(module)) return null;
  const code = /\b(AH\d{5}):/.exec(rest)?.[1] ?? '';
  let found = apacheKind(code, rest);
  if (found === null) return null;
  if (found === undefined) {
    if (!/^(?:error|crit|alert|emerg)$/.test(level)) return null;
    found = /SSL|TLS|certificate/i.test(rest) ? { kind: 'tls', upstream: null } : { kind: 'unknown', upstream: null };
  }
  return {
    at: MONTHS[mon] === undefined ? null : localTime(+y, MONTHS[mon], +d, +h, +mi, +s, Math.floor(Number(`0.${frac ?? 0}`) * 1000)),
    kind: found.kind,
    upstream: found.upstream,
    server: null,
    host: null,
    message: cut(rest.replace(/\[client [^\]]*\] /, '')),
  };
};

// ---------------------------------------------------------------------------------------------
// Caddy: one JSON object per line. A request that failed in reverse_proxy is logged by the
// `http.log.error` logger (when the server has logging on), its `msg` the Go error:
// "dial tcp 10.0.0.5:8080: connect: connection refused", "net/http: timeout awaiting response
// headers", "malformed MIME header", "unexpected EOF", "no upstreams available", ...

const CADDY_KINDS: [RegExp, LogEventKind][] = [
  [/no upstreams available/, 'no_live_upstreams'],
  [/connect: connection refused|connect: no route to host|connect: network is unreachable/, 'refused'],
  [/^dial tcp .*(?:i\/o timeout|connection timed out)/, 'connect_timeout'],
  [/timeout awaiting response headers/, 'header_timeout'],
  [/no such host|^dial tcp: lookup /, 'dns'],
  [/\btls:|x509:|certificate/, 'tls'],
  [/malformed (?:MIME header|HTTP)|invalid (?:header|status)|missing colon/, 'invalid_header'],
  [/\bEOF\b|connection reset by peer|server closed|broken pipe/, 'closed_prematurely'],
];

export const parseCaddy: LineParser = (line) => {
  if (!line.startsWith('{')) return null;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof entry !== 'object' || entry === null) return null;
  const logger = typeof entry.logger === 'string' ? entry.logger : '';
  const level = typeof entry.level === 'string' ? entry.level : '';
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const isError = logger.startsWith('http.log.error') || (logger.startsWith('http.handlers.reverse_proxy') && /^(?:error|warn)$/.test(level));
  if (!isError) return null;
  const request = typeof entry.request === 'object' && entry.request !== null ? (entry.request as Record<string, unknown>) : {};
  const ts = entry.ts;
  const at = typeof ts === 'number' ? Math.round(ts * 1000) : typeof ts === 'string' && !Number.isNaN(Date.parse(ts)) ? Date.parse(ts) : null;
  const kind = CADDY_KINDS.find(([re]) => re.test(msg))?.[1] ?? 'unknown';
  const dialed = /^dial tcp (\S+?): /.exec(msg)?.[1] ?? (typeof entry.upstream === 'string' ? entry.upstream : null);
  const looked = /lookup (\S+?)(?: on |: )/.exec(msg)?.[1] ?? null;
  return {
    at,
    kind,
    upstream: dialed ? hostPort(dialed) : looked ? hostPort(looked) : null,
    server: null,
    host: typeof request.host === 'string' ? request.host : null,
    message: cut(msg),
  };
};

/** The parser for each `gatewayLog.format`. */
export const parsers: Record<GatewayLogFormat, LineParser> = {
  nginx: parseNginx,
  haproxy: parseHaproxy,
  apache: parseApache,
  caddy: parseCaddy,
};

export type { ParsedLine };
