/** The products whose error logs Gatewatch reads, as a site's `gatewayLog.format` names them. */
export const GATEWAY_LOG_FORMATS = ['nginx', 'haproxy', 'apache', 'caddy'] as const;
export type GatewayLogFormat = (typeof GATEWAY_LOG_FORMATS)[number];

/** A site's `gatewayLog`: the gateway's error log on this host. */
export interface GatewayLogConfig {
  /** Absolute path. */
  path: string;
  format: GatewayLogFormat;
}

/**
 * What a log line says went wrong between the gateway and its upstream. `unknown`: the line was
 * kept because it concerns the site, but its words are not among those Gatewatch knows; it is
 * never guessed into another kind.
 */
export const LOG_EVENT_KINDS = [
  'refused',
  'connect_timeout',
  'header_timeout',
  'closed_prematurely',
  'invalid_header',
  'dns',
  'tls',
  'no_live_upstreams',
  'unknown',
] as const;
export type LogEventKind = (typeof LOG_EVENT_KINDS)[number];

/** Longest line kept (bytes of the file, then characters): the rest is cut. */
export const MAX_LINE_BYTES = 8192;
/** Longest raw line stored with an event and shown by the API. */
export const MAX_RAW_CHARS = 2000;

/** One line of a gateway's log, as its parser read it. */
export interface ParsedLine {
  /** ms since epoch; null when the line has no time Gatewatch can read (the caller uses when it read it). */
  at: number | null;
  kind: LogEventKind;
  /** The address the gateway tried, `host:port` (nginx, Apache, Caddy when the Go error says it); null when the line does not say. */
  upstream: string | null;
  /** The upstream's name in the gateway's configuration (HAProxy's server, nginx's upstream block), when the line gives one. */
  server: string | null;
  /** The Host the client asked for, when the line says (nginx, Caddy): tells which site it concerns. */
  host: string | null;
  /** The gateway's own words for what happened, cut to a line ("connect() failed (111: Connection refused)"). */
  message: string;
}

/**
 * A parser reads one line; null when the line says nothing about an upstream (start-up notices,
 * requests that went fine, access-log entries).
 */
export type LineParser = (line: string) => ParsedLine | null;
