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
    return c.body(await deps.metrics.text(), 200, { 'Content-Type': deps.metrics.contentType });
  });
