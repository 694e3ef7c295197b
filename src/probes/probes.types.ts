/** What one probe of one target found. Shared by probes, storage, diagnosis and the API. */
export const OUTCOMES = [
  'ok',
  'bad_gateway',
  'http_error',
  'dns_nxdomain',
  'dns_error',
  'conn_refused',
  'conn_reset',
  'conn_timeout',
  'timeout',
  'tls_error',
  'invalid_response',
  'blocked', // the target policy refused the resolved address (SSRF guard); no connection was made
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Gateway products Gatewatch can recognise from headers and error bodies. */
export type GatewayProduct = 'nginx' | 'haproxy' | 'envoy' | 'cloudflare' | 'aws_elb' | 'apache' | 'other';

export interface ProbeResult {
  /** ms since epoch when the probe began (before DNS). */
  startedAt: number;
  outcome: Outcome;
  statusCode: number | null;
  errorMessage: string | null;
  /**
   * Every address the name resolved to, sorted (IPv4 first, then by numeric value: `sortAddresses`);
   * for an IP-literal URL, that address. Of the last hop when redirected.
   */
  addresses: string[];
  /** The address the probe connected to (last hop when redirected). */
  address: string | null;
  /*
   * Timings are cumulative: whole ms from the start of the probe to each event, so that
   * dnsMs <= connectMs <= tlsMs <= ttfbMs <= totalMs wherever they are set (null: not reached).
   * After redirects, dns/connect/tls/ttfb are those of the last hop (still counted from the start).
   */
  /** The address to connect to was known (name resolved; about 0 for an IP literal). */
  dnsMs: number | null;
  /** TCP connection established. */
  connectMs: number | null;
  /** TLS handshake done; null for http. */
  tlsMs: number | null;
  /** First byte of the answer arrived. */
  ttfbMs: number | null;
  /** The probe ended: body read to its end or to the size cap, or the failure. */
  totalMs: number | null;
  /** On error answers: which product answered, from `server`/`via` headers and body signatures. */
  gateway: GatewayProduct | null;
  /**
   * Addresses of the name (last hop) that were tried and did not connect: refused, reset,
   * unreachable, or slower than the next address tried. Null (or absent) when none failed; set
   * on an `ok` check too when another address answered (the site is then `degraded`).
   */
  failedAddresses?: string[] | null;
  /** https only: when the leaf certificate the target presented expires (ms since epoch); of the last hop when redirected. */
  certExpiresAt?: number | null;
  /** https only: who issued that certificate (its CN, with the organisation). */
  certIssuer?: string | null;
}

export interface ProbeTarget {
  url: string;
  timeoutMs: number;
  /** Inclusive range of statuses that count as `ok`. */
  expectedStatus: [number, number];
}

/** Probes one target once on a fresh connection; never throws, every failure is an outcome. */
export type HttpProbe = (target: ProbeTarget) => Promise<ProbeResult>;
