/**
 * What the gateway's own error log adds to the causes: the seed's first advice ("check the server
 * logs"), done for the owner. Pure: the lines come in as data (DiagnosisContext.gatewayLog).
 *
 * Each kind of line points at one cause: refused (and no live upstreams) -> upstream_down, a
 * connect that timed out -> firewall, a response header that did not come in time -> overload,
 * a connection closed early or invalid headers -> app_error, a name that did not resolve ->
 * dns_failure, TLS -> tls_error; a line about an address that is none of the site's upstreams ->
 * gateway_misconfig (the gateway sends the site's requests somewhere else). The cause the lines
 * point at cites them (count, first and last time, the gateway's words) and gains strength; one
 * no detector found is added from the log alone. Lines of unknown kind are cited by no cause.
 */
import type { GatewayLogEvent, GatewayLogFormat, LogEventKind } from '../gatewaylog/gatewaylog.types.js';
import { ROUND_TOLERANCE_MS, type DiagnosisContext } from './context.js';
import type { Finding } from './detectors/detector.types.js';
import type { CauseCode } from './diagnosis.types.js';
import { formatList } from './format.js';

const CAUSE_OF: Record<LogEventKind, CauseCode | null> = {
  refused: 'upstream_down',
  no_live_upstreams: 'upstream_down',
  connect_timeout: 'firewall',
  header_timeout: 'overload',
  closed_prematurely: 'app_error',
  invalid_header: 'app_error',
  dns: 'dns_failure',
  tls: 'tls_error',
  unknown: null,
};

const PRODUCT_NAMES: Record<GatewayLogFormat, string> = { nginx: 'nginx', haproxy: 'HAProxy', apache: 'Apache', caddy: 'Caddy' };

/** A cause the log alone points at: about as strong as a pattern in the checks. */
const LOG_ONLY_STRENGTH = 0.75;
/** What the log adds to a cause the checks already show. */
const LOG_BOOST = 0.1;
const MAX_STRENGTH = 0.97;
/** A line this long before a round's check (nginx and syslog write whole seconds) still belongs to it. */
const BEFORE_ROUND_MS = 2000;
/** Most evidence lines one cause cites from the log. */
const MAX_LINES = 4;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
const quote = (text: string, max = 160): string => {
  const s = text.replace(CONTROL, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
};

interface Group {
  code: CauseCode;
  kind: LogEventKind;
  events: GatewayLogEvent[];
}

function causeOf(e: GatewayLogEvent): CauseCode | null {
  if (e.relation === 'foreign') return 'gateway_misconfig';
  return CAUSE_OF[e.kind];
}

export function weighGatewayLog(ctx: DiagnosisContext, findings: Finding[]): Finding[] {
  const log = ctx.gatewayLog;
  if (!log || log.events.length === 0) return findings;
  const gw = PRODUCT_NAMES[log.product];
  const events = log.events.filter((e) => e.at >= ctx.windowStart - BEFORE_ROUND_MS && e.at <= ctx.now + BEFORE_ROUND_MS);

  const groups = new Map<string, Group>();
  for (const e of events) {
    const code = causeOf(e);
    if (!code) continue;
    const key = `${code}|${e.kind}|${e.relation}|${e.upstreamId ?? e.upstream ?? ''}`;
    const group = groups.get(key);
    if (group) group.events.push(e);
    else groups.set(key, { code, kind: e.kind, events: [e] });
  }
  if (groups.size === 0) return findings;

  const upstreamLabel = (e: GatewayLogEvent): string | null => {
    if (e.relation === 'upstream') {
      const view = ctx.upstreams.find((u) => u.key === e.upstreamId);
      if (view) return e.upstream && e.upstream.toLowerCase() !== view.name.toLowerCase() ? `${view.label}, ${quote(e.upstream, 80)}` : view.label;
    }
    if (e.relation === 'foreign') return `${quote(e.upstream ?? '?', 80)}, none of the site's upstreams`;
    return e.upstream ? quote(e.upstream, 80) : null;
  };

  const explained = (list: GatewayLogEvent[]) =>
    ctx.failing.filter((r) => list.some((e) => e.at >= r.at - BEFORE_ROUND_MS && e.at <= r.at + ROUND_TOLERANCE_MS)).map((r) => r.at);

  const byCode = new Map<CauseCode, Group[]>();
  for (const g of groups.values()) byCode.set(g.code, [...(byCode.get(g.code) ?? []), g]);

  const out = [...findings];
  for (const [code, list] of byCode) {
    list.sort((a, b) => b.events.length - a.events.length);
    const evidence = list.slice(0, MAX_LINES).map((g) => {
      const first = g.events[0];
      const last = g.events[g.events.length - 1];
      const about = upstreamLabel(last);
      const when = g.events.length > 1 ? `from ${ctx.at(first.at)} to ${ctx.at(last.at)}` : `at ${ctx.at(first.at)}`;
      return `${gw} ${log.file}: ${g.events.length}x "${quote(last.message)}"${about ? ` (${about})` : ''} ${when}`;
    });
    if (list.length > MAX_LINES) evidence.push(`${gw} ${log.file}: ${list.length - MAX_LINES} more kinds of lines (GET /api/sites/${ctx.siteDef.id}/log-lines)`);
    const all = list.flatMap((g) => g.events);
    const explains = explained(all);
    const onset = Math.min(...all.map((e) => e.at));
    const hops = [...new Set(all.map((e) => (e.relation === 'upstream' && e.upstreamId ? e.upstreamId : 'site')))];
    const index = out.findIndex((f) => f.code === code);
    if (index >= 0) {
      const f = out[index];
      out[index] = {
        ...f,
        strength: Math.min(MAX_STRENGTH, Math.max(f.strength, LOG_ONLY_STRENGTH) + LOG_BOOST),
        explains: new Set([...f.explains, ...explains]),
        onset: Math.min(f.onset, Math.max(onset, ctx.windowStart)),
        hops: [...new Set([...f.hops, ...hops])],
        evidence: [...evidence, ...f.evidence],
      };
      continue;
    }
    const only = list.every((g) => g.kind === 'no_live_upstreams');
    out.push({
      code,
      // "No live upstreams" follows earlier failures it does not name: weaker on its own.
      strength: only ? 0.5 : LOG_ONLY_STRENGTH,
      explains: new Set(explains),
      onset: Math.max(onset, ctx.windowStart),
      hops,
      summary: summaryOf(ctx, code, gw, all, only),
      evidence,
      advice: adviceOf(ctx, code, gw, all),
    });
  }
  return contest(ctx, out, new Set(byCode.keys()), gw, log.file);
}

/** Causes whose pattern the gateway's log tells apart: one it does not support is lowered. */
const CONTESTABLE = new Set<CauseCode>(['upstream_down', 'overload', 'firewall', 'app_error', 'gateway_misconfig']);
/** What a contested cause keeps of its strength. */
const CONTESTED_FACTOR = 0.8;

/**
 * The gateway's own words outrank an inference from the outside: a cause the log does not support,
 * about failures the causes it does support explain all of, is lowered (e.g. a 504 that took the
 * gateway's connect time-out looks like a slow site, while the log says the connects time out).
 */
function contest(ctx: DiagnosisContext, findings: Finding[], supported: Set<CauseCode>, gw: string, file: string): Finding[] {
  const backed = new Set(findings.filter((f) => supported.has(f.code)).flatMap((f) => [...f.explains]));
  if (backed.size === 0) return findings;
  const said = formatList([...supported]);
  return findings.map((f) => {
    if (supported.has(f.code) || !CONTESTABLE.has(f.code) || f.explains.size === 0) return f;
    if (![...f.explains].every((at) => backed.has(at))) return f;
    return {
      ...f,
      strength: f.strength * CONTESTED_FACTOR,
      evidence: [...f.evidence, `${gw} ${file} does not show this for the same failures: its lines point at ${said}`],
    };
  });
}

function whoOf(ctx: DiagnosisContext, events: GatewayLogEvent[]): string {
  const names = [...new Set(events.map((e) => ctx.upstreams.find((u) => u.key === e.upstreamId)?.name).filter((n): n is string => !!n))];
  if (names.length === 1) return `upstream ${names[0]}`;
  if (names.length > 1) return `upstreams ${formatList(names)}`;
  const named = [...new Set(events.map((e) => e.upstream).filter((u): u is string => !!u))].map((u) => quote(u, 80));
  return named.length ? formatList(named.slice(0, 3)) : 'the upstream';
}

function summaryOf(ctx: DiagnosisContext, code: CauseCode, gw: string, events: GatewayLogEvent[], onlyNoLive: boolean): string {
  const who = whoOf(ctx, events);
  const so = `, so ${ctx.symptom}`;
  switch (code) {
    case 'upstream_down':
      return onlyNoLive ? `${gw}'s error log says no upstream was live to send to${so}` : `${gw}'s error log says ${who} refuses its connections${so}`;
    case 'firewall':
      return `${gw}'s error log says its connects to ${who} time out: packets are dropped on the way${so}`;
    case 'overload':
      return `${gw}'s error log says ${who} does not send its response headers in time${so}`;
    case 'app_error':
      return `${gw}'s error log says ${who} closes connections early or sends invalid HTTP${so}`;
    case 'dns_failure':
      return `${gw}'s error log says it cannot resolve ${who}${so}`;
    case 'tls_error':
      return `${gw}'s error log says TLS with ${who} fails${so}`;
    case 'gateway_misconfig':
      return `${gw} sends the site's requests to ${who}, which is none of its upstreams (${ctx.upstreams.map((u) => u.endpoint).join(', ') || 'none configured'}): its configuration points elsewhere`;
    default:
      return `${gw}'s error log reports failures${so}`;
  }
}

function adviceOf(ctx: DiagnosisContext, code: CauseCode, gw: string, events: GatewayLogEvent[]): string[] {
  const who = whoOf(ctx, events);
  const lines = `The lines are listed by GET /api/sites/${ctx.siteDef.id}/log-lines.`;
  switch (code) {
    case 'upstream_down':
      return [`Check that ${who} is running and listening where ${gw} connects; start or restart it.`, lines];
    case 'firewall':
      return [`Review the firewall and security-group rules between ${gw} and ${who}; try \`nc -vz\` from the gateway's host.`, lines];
    case 'overload':
      return [`Look at the load of ${who} (CPU, workers, database) and at ${gw}'s time-outs against how long it now takes.`, lines];
    case 'app_error':
      return [`Read the application log of ${who} at these times: it crashes mid-request or writes broken HTTP; roll back a recent deploy.`, lines];
    case 'dns_failure':
      return [`Check the DNS records of ${who} and the resolver ${gw} uses.`, lines];
    case 'tls_error':
      return [`Check the certificate ${who} presents and ${gw}'s TLS settings towards it.`, lines];
    case 'gateway_misconfig':
      return [
        `Correct ${gw}'s configuration (proxy_pass, upstream or server lines, ProxyPass, reverse_proxy) to point at ${ctx.upstreams.map((u) => u.endpoint).join(', ') || "the site's upstreams"}, validate it and reload.`,
        lines,
      ];
    default:
      return [lines];
  }
}
