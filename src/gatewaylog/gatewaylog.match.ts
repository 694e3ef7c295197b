/**
 * Which sites a parsed line concerns, and how: by the Host the client asked for (nginx, Caddy),
 * by the upstream it names (address, host name, port, or the server's name in the gateway's
 * configuration), or, for a file only one site reads, that site.
 */
import type { LogSource } from './gatewaylog.repository.js';
import type { LogLineRelation, ParsedLine } from './gatewaylog.types.js';

export interface Attribution {
  siteId: number;
  relation: LogLineRelation;
  upstreamId: string | null;
}

interface Endpoint {
  host: string;
  port: string;
}

function endpointOf(url: string): Endpoint | null {
  try {
    const u = new URL(url);
    return { host: u.hostname.toLowerCase(), port: u.port || (u.protocol === 'https:' ? '443' : '80') };
  } catch {
    return null;
  }
}

/** "10.0.0.5:8080" / "[::1]:80" / "app.internal" -> host and port (null when not given). */
function split(address: string): { host: string; port: string | null } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address.trim());
  if (!m) return { host: address.toLowerCase(), port: null };
  return { host: m[1].toLowerCase(), port: m[2] ?? null };
}

interface SourceEndpoints {
  site: Endpoint | null;
  upstreams: (LogSource['upstreams'][number] & { at: Endpoint | null })[];
}

/**
 * Each source's URLs parsed once, not once per line: a poll reads the sources once and matches
 * every new line of the file against the same objects.
 */
const parsed = new WeakMap<LogSource, SourceEndpoints>();

function endpointsOf(source: LogSource): SourceEndpoints {
  let endpoints = parsed.get(source);
  if (!endpoints) {
    endpoints = { site: endpointOf(source.url), upstreams: source.upstreams.map((u) => ({ ...u, at: endpointOf(u.url) })) };
    parsed.set(source, endpoints);
  }
  return endpoints;
}

/** The id of the site's upstream the line names, if any. */
export function matchUpstream(source: LogSource, line: Pick<ParsedLine, 'upstream' | 'server'>): number | null {
  const ups = endpointsOf(source).upstreams;
  if (line.server) {
    const name = line.server.toLowerCase();
    const byName = ups.find((u) => u.name.toLowerCase() === name || (u.at && (u.at.host === name || `${u.at.host}:${u.at.port}` === name)));
    if (byName) return byName.id;
  }
  if (!line.upstream) return null;
  const { host, port } = split(line.upstream);
  const exact = ups.find((u) => u.at && u.at.host === host && (port === null || u.at.port === port));
  if (exact) return exact.id;
  // The gateway logs the address it resolved the upstream's name to: the port alone tells, if
  // only one upstream listens on it.
  if (port !== null) {
    const samePort = ups.filter((u) => u.at?.port === port);
    if (samePort.length === 1 && !ups.some((u) => u.at?.host === host)) return samePort[0].id;
  }
  return null;
}

/** Whether the Host of a request ("shop.example.com", "shop.example.com:8080") is the site's. */
function hostIsSite(source: LogSource, requestHost: string): boolean {
  const site = endpointsOf(source).site;
  if (!site) return false;
  const { host, port } = split(requestHost);
  return host === site.host && (port === null || port === site.port);
}

/**
 * The sites of `sources` (all reading the same file) that `line` concerns. A line naming an
 * address that is no upstream of its site is kept as `foreign`; a line that could be any of
 * several sites' and names none of their upstreams is left out rather than guessed.
 */
export function attribute(sources: LogSource[], line: ParsedLine): Attribution[] {
  const byHost = line.host ? sources.filter((s) => hostIsSite(s, line.host!)) : [];
  // A Host none of the sites has: another virtual host of the same gateway.
  if (line.host && byHost.length === 0) return [];
  const candidates = byHost.length ? byHost : sources;
  const out: Attribution[] = [];
  for (const source of candidates) {
    const id = matchUpstream(source, line);
    if (id !== null) out.push({ siteId: source.siteId, relation: 'upstream', upstreamId: String(id) });
  }
  if (out.length) return out;
  if (byHost.length === 0 && sources.length > 1) return [];
  // An address with a port that is none of the site's upstreams: the gateway sends there instead
  // (a site without upstreams has none to compare with).
  const addressed = line.upstream !== null && split(line.upstream).port !== null;
  return candidates.map((s) => ({ siteId: s.siteId, relation: addressed && s.upstreams.length > 0 ? 'foreign' : 'site', upstreamId: null }));
}
