import type { GatewayProduct, Outcome } from '../probes/probes.types.js';
import type { TimelineCheck } from './diagnosis.types.js';

const DAY_MS = 86_400_000;

/**
 * A check time as evidence shows it: `12:03:10Z`, with the date in front when it is not the same
 * UTC day as `now` (`2024-05-01 23:59:10Z`).
 */
export function formatTime(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  const time = `${iso.slice(11, 19)}Z`;
  return Math.floor(at / DAY_MS) === Math.floor(now / DAY_MS) ? time : `${iso.slice(0, 10)} ${time}`;
}

/** `45s`, `7m 5s`, `2h 3m`, `1d 4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `40 ms` below a second, `1.9 s` above. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `app-1`, `app-1 and app-2`, `app-1, app-2 and app-3`. */
export function formatList(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export const formatAddresses = (addresses: string[]): string => (addresses.length ? addresses.join(', ') : 'nothing');

const GATEWAY_NAMES: Record<GatewayProduct, string> = {
  nginx: 'nginx',
  haproxy: 'HAProxy',
  envoy: 'Envoy',
  cloudflare: 'Cloudflare',
  aws_elb: 'AWS ELB',
  apache: 'Apache',
  other: 'the gateway',
};

export const gatewayName = (product: GatewayProduct | null): string => (product ? GATEWAY_NAMES[product] : 'the gateway');

/** Short plain words for what one check found, e.g. "nginx answered 502 Bad Gateway". */
export function describeCheck(check: TimelineCheck): string {
  const peer = check.address ?? 'the server';
  const describers: Record<Outcome, () => string> = {
    ok: () => `answered ${check.statusCode ?? 'fine'}${check.ttfbMs != null ? ` in ${formatMs(check.ttfbMs)}` : ''}`,
    bad_gateway: () => `${gatewayName(check.gateway)} answered 502 Bad Gateway`,
    http_error: () => `${check.gateway ? `${gatewayName(check.gateway)} answered` : 'answered'} HTTP ${check.statusCode ?? '?'}`,
    dns_nxdomain: () => 'the name does not exist (NXDOMAIN)',
    dns_error: () => 'the name could not be resolved (SERVFAIL, refused or resolver time-out)',
    conn_refused: () => `connection refused by ${peer}`,
    conn_reset: () => `connection reset by ${peer}`,
    conn_timeout: () => `TCP connect to ${peer} did not complete`,
    timeout: () => `connected to ${peer}, but no complete answer in time`,
    tls_error: () => `TLS with ${peer} failed${check.errorMessage ? `: ${check.errorMessage}` : ''}`,
    invalid_response: () => `${peer} broke HTTP${check.errorMessage ? `: ${check.errorMessage}` : ''}`,
    blocked: () => `not probed: Gatewatch's target policy blocks ${peer}`,
  };
  return describers[check.outcome]();
}
