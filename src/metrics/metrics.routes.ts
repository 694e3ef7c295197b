import { Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import type { TokenStore } from '../auth/token.js';
import { AppError } from '../shared/errors.js';
import type { Metrics } from './metrics.collector.js';
import { metricsDocs } from './metrics.docs.js';

export interface MetricsRoutesDeps {
  metrics: Metrics;
  tokens: TokenStore;
  /** METRICS_PUBLIC: scrapes without the token. */
  public: boolean;
}

/** Whether Accept-Encoding takes gzip (not with q=0). */
const wantsGzip = (accept: string | undefined) => accept !== undefined && /(?:^|[\s,])(?:gzip|\*)\s*(?:,|$|;\s*q=(?!0(?:\.0*)?\s*(?:,|$)))/i.test(accept);

const bearer = (header: string | undefined) => (header ? (/^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null) : null);

/** GET /metrics (mounted at /metrics): the Prometheus text format; the API token unless METRICS_PUBLIC=true. */
export const metricsRoutes = (deps: MetricsRoutesDeps) =>
  new Hono<AppEnv>().get('/', metricsDocs, async (c) => {
    if (!deps.public) {
      const token = bearer(c.req.header('authorization'));
      if (token === null || !deps.tokens.verify(token)) {
        c.header('WWW-Authenticate', 'Bearer realm="gatewatch"');
        throw new AppError(401, 'auth.unauthorized', token ? 'the bearer token is not valid' : 'missing Authorization: Bearer <token> header (or set METRICS_PUBLIC=true)');
      }
    }
    // Streamed: at 10,000 sites the exposition is 11 MB, never held as one string. gzip (as
    // Prometheus asks) at level 1: the text compresses ~10x even so, and a higher level costs CPU.
    const gzip = wantsGzip(c.req.header('accept-encoding'));
    const body = deps.metrics.stream();
    const headers: Record<string, string> = { 'Content-Type': deps.metrics.contentType, Vary: 'Accept-Encoding' };
    if (!gzip) return c.body(Readable.toWeb(body) as ReadableStream, 200, headers);
    const zipped = createGzip({ level: 1 });
    pipeline(body, zipped, () => {}); // a client gone destroys both; nothing to report
    return c.body(Readable.toWeb(zipped) as ReadableStream, 200, { ...headers, 'Content-Encoding': 'gzip' });
  });
