import type { GatewayProduct } from './probes.types.js';

/** Response headers as Node gives them (`res.headers`); keys are matched case-insensitively. */
export type ResponseHeaders = Record<string, string | string[] | number | undefined>;

/** Header values lower-cased and joined, keyed by lower-case header name. */
type Headers = ReadonlyMap<string, string>;

export interface GatewayDetector {
  product: GatewayProduct;
  /** Signs in the error page itself: these name the hop that wrote the error. */
  body?: RegExp;
  /** Signs in the headers: these name the outermost hop, which may only have relayed the error. */
  headers?: (headers: Headers) => boolean;
}

const serverIs = (pattern: RegExp) => (h: Headers) => pattern.test(h.get('server') ?? '');
const anyHeaderStartingWith = (prefix: string) => (h: Headers) => [...h.keys()].some((k) => k.startsWith(prefix));
const either =
  (...tests: ((h: Headers) => boolean)[]) =>
  (h: Headers) =>
    tests.some((t) => t(h));

/**
 * The products Gatewatch recognises. Bodies are tried first across every detector (an nginx 502
 * relayed by Cloudflare still carries nginx's page), then headers, in this order.
 */
export const GATEWAY_DETECTORS: readonly GatewayDetector[] = [
  {
    product: 'cloudflare',
    body: /<center>cloudflare<\/center>|cf-error-details|cloudflare ray id|<title>[^<]*\| cloudflare<\/title>/i,
    headers: either(serverIs(/^cloudflare/i), (h) => h.has('cf-ray')),
  },
  {
    product: 'aws_elb',
    body: /<center>awselb\/[\d.]+<\/center>/i,
    headers: either(serverIs(/^awselb\//i), anyHeaderStartingWith('x-amzn-')),
  },
  {
    product: 'envoy',
    body: /upstream connect error or disconnect\/reset before headers|^no healthy upstream$|^upstream request timeout$/im,
    headers: either(serverIs(/^envoy\b/i), anyHeaderStartingWith('x-envoy-')),
  },
  {
    product: 'haproxy',
    body: /<h1>\d{3} [^<]*<\/h1>\s*(?:The server returned an invalid or incomplete response\.|No server is available to handle this request\.|The server didn't respond in time\.)/i,
    headers: either(serverIs(/^haproxy/i), (h) => /haproxy/i.test(h.get('via') ?? '')),
  },
  {
    product: 'nginx',
    body: /<center>(?:nginx|openresty|tengine)(?:\/[\w.-]+)?(?: \([^)]*\))?<\/center>/i,
    headers: either(serverIs(/^(?:nginx|openresty|tengine)\b/i), (h) => /\bnginx\b/i.test(h.get('via') ?? '')),
  },
  {
    product: 'apache',
    body: /<title>\d{3} Proxy Error<\/title>|<h1>Proxy Error<\/h1>|<address>Apache(?:\/[\d.]+)?[^<]* Server at /i,
    headers: either(serverIs(/^apache\b/i), (h) => /\bapache\b/i.test(h.get('via') ?? '')),
  },
  {
    // A proxy or CDN we do not name: something between us and the origin wrote or relayed this.
    product: 'other',
    headers: (h) =>
      h.has('via') ||
      h.has('x-cache') ||
      anyHeaderStartingWith('x-amz-cf-')(h) ||
      serverIs(/^(?:caddy|traefik|varnish|squid|kong|cloudfront|akamai|fastly|istio|lighttpd|iis|microsoft-iis)\b/i)(h),
  },
];

function normalize(headers: ResponseHeaders): Headers {
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    map.set(key.toLowerCase(), Array.isArray(value) ? value.join(', ') : String(value));
  }
  return map;
}

/**
 * Which gateway product wrote (or relayed) an error answer, from its error page first and its
 * headers (`server`, `via`, `x-cache`, `cf-ray`, `x-amzn-*`, `x-envoy-*`) second; `null` when
 * nothing points at a gateway (e.g. the application itself answered).
 */
export function detectGateway(headers: ResponseHeaders, bodySnippet: string): GatewayProduct | null {
  const byBody = GATEWAY_DETECTORS.find((d) => d.body?.test(bodySnippet));
  if (byBody) return byBody.product;
  const normalized = normalize(headers);
  return GATEWAY_DETECTORS.find((d) => d.headers?.(normalized))?.product ?? null;
}
