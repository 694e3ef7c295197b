/** The plain words the pages use for Gatewatch's codes, and how they show times. */
import type { SiteState } from '../sites/sites.repository.js';

export const STATE_WORDS: Record<SiteState, string> = {
  up: 'Up',
  degraded: 'Degraded',
  down: 'Down',
  paused: 'Paused',
  unknown: 'No data yet',
};

/** What failed, for a visitor: an incident's kind (the failure outcome that opened it). */
export const KIND_WORDS: Record<string, string> = {
  ok: 'checks passed',
  bad_gateway: '502 Bad Gateway: the gateway could not reach the application',
  http_error: 'error responses',
  dns_nxdomain: 'the address name stopped existing',
  dns_error: 'the address name could not be looked up',
  conn_refused: 'connections refused',
  conn_reset: 'connections cut off',
  conn_timeout: 'connections timed out',
  timeout: 'no answer in time',
  tls_error: 'secure connection (TLS) failed',
  invalid_response: 'broken responses',
  blocked: 'check blocked by configuration',
};

/** Short titles of an incident's kind ("502 Bad Gateway"). */
export const KIND_TITLES: Record<string, string> = {
  ok: 'Checks passed',
  bad_gateway: '502 Bad Gateway',
  http_error: 'Error responses',
  dns_nxdomain: 'Name not found',
  dns_error: 'Name lookup failed',
  conn_refused: 'Connections refused',
  conn_reset: 'Connections reset',
  conn_timeout: 'Connection time-outs',
  timeout: 'Time-outs',
  tls_error: 'TLS failure',
  invalid_response: 'Broken responses',
  blocked: 'Check blocked',
};

/** A cause code in plain words, as a visitor may read it (no hosts, no addresses). */
export const CAUSE_WORDS: Record<string, string> = {
  upstream_down: 'an application server behind the gateway is down',
  overload: 'the servers are overloaded (answers slowed down, then failed)',
  dns_change: 'a DNS change sent traffic to the wrong place',
  dns_failure: 'the DNS name stopped resolving',
  firewall: 'a network or firewall problem between the gateway and the application',
  app_error: 'the application itself is failing (errors or broken answers)',
  gateway_misconfig: 'the gateway is misconfigured (the application answers fine directly)',
  gateway_down: 'the gateway itself is down',
  tls_error: 'a TLS (certificate or handshake) problem',
  unknown: 'not known yet',
};

export const causeWords = (code: string | null | undefined) => (code ? (CAUSE_WORDS[code] ?? code) : 'not known yet');
export const kindTitle = (kind: string) => KIND_TITLES[kind] ?? kind;
export const kindWords = (kind: string) => KIND_WORDS[kind] ?? kind;

/** What happened at a timeline step, for a visitor (the stored message may name hosts and addresses). */
export const EVENT_WORDS: Record<string, string> = {
  first_failure: 'First failed check',
  opened: 'Incident opened',
  kind_changed: 'The kind of failure changed',
  cause_changed: 'Probable cause updated',
  recovering: 'Checks passing again; watching',
  resolved: 'Resolved',
};

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-12-04 16:05 UTC` */
export const utc = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
};

/** `2026-12-04 16:05:12 UTC` */
export const utcSeconds = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/** `16:05:12 UTC` */
export const utcTime = (ms: number) => {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `4 Dec 2026` */
export const day = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
};

/** `45 s`, `7 min`, `2 h 3 min`, `1 d 4 h`. */
export const duration = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
};

/** `99.95 %`, `100 %`, `no data`. */
export const percent = (value: number | null | undefined) => {
  if (value === null || value === undefined) return 'no data';
  if (value === 100) return '100 %';
  return `${value >= 99.99 ? value.toFixed(3) : value.toFixed(2)} %`.replace(/(\.\d*?)0+ %$/, '$1 %').replace(/\. %$/, ' %');
};

export const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
