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

/**
 * A web stream that takes the next piece only when the socket asks for it (Readable.toWeb reads
 * ahead: the whole 11 MB would sit in memory while the client reads).
 */
const pulled = (pieces: AsyncIterator<Buffer>) =>
  new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await pieces.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await pieces.return?.(undefined);
      },
    },
    { highWaterMark: 0 },
  );

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
    // Streamed: at 10,000 sites the exposition is 12 MB, never held as one string. gzip as
    // Prometheus asks, from pieces kept compressed (level 1: the text compresses ~15x even so).
    const gzip = wantsGzip(c.req.header('accept-encoding'));
    const headers: Record<string, string> = { 'Content-Type': deps.metrics.contentType, Vary: 'Accept-Encoding' };
    if (gzip) headers['Content-Encoding'] = 'gzip';
    return c.body(pulled(deps.metrics.stream(gzip)), 200, headers);
  });
