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

/**
 * How a kept line relates to the site: `upstream` names one of its upstreams; `foreign` names an
 * address that is none of them (the gateway sends the site's requests somewhere else: evidence of
 * a misconfigured gateway); `site` concerns the site (its Host, or the file's only site) without
 * naming an address.
 */
export type LogLineRelation = 'upstream' | 'foreign' | 'site';

/** A kept line as diagnosis reads it: data, no I/O. */
export interface GatewayLogEvent {
  /** ms since epoch: the time the line gives, else when Gatewatch read it. */
  at: number;
  kind: LogEventKind;
  relation: LogLineRelation;
  /** The site's upstream id (as checks name it) when `relation` is `upstream`. */
  upstreamId: string | null;
  /** The address or server name as the line gives it. */
  upstream: string | null;
  /** The gateway's own words, cut to a line. */
  message: string;
}

/** What diagnosis gets of a site's gateway log: which product and file, and the lines kept. */
export interface GatewayLogInput {
  product: GatewayLogFormat;
  /** The file's base name ("error.log"), as evidence cites it. */
  file: string;
  /** Oldest first. */
  events: GatewayLogEvent[];
}
