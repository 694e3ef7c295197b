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
    // Streamed: at 10,000 sites the exposition is 11 MB, never held as one string. gzip (as
    // Prometheus asks) at level 1: the text compresses ~10x even so, and a higher level costs CPU.
    const gzip = wantsGzip(c.req.header('accept-encoding'));
    const pieces = deps.metrics.stream();
    const headers: Record<string, string> = { 'Content-Type': deps.metrics.contentType, Vary: 'Accept-Encoding' };
    if (!gzip) return c.body(pulled(pieces), 200, headers);
    const zipped = createGzip({ level: 1, chunkSize: 64 * 1024 });
    pipeline(Readable.from(pieces, { objectMode: false }), zipped, () => {}); // a client gone destroys both; nothing to report
    return c.body(pulled(zipped[Symbol.asyncIterator]()), 200, { ...headers, 'Content-Encoding': 'gzip' });
  });
