import { describeRoute } from 'hono-openapi';
import { errors } from '../openapi/openapi.schemas.js';

/**
 * The OpenAPI description of `GET /metrics`: put it first among the route's middlewares,
 * `.get('/', metricsDocs, ...)`.
 */
export const metricsDocs = describeRoute({
  tags: ['meta'],
  security: [{}, { bearer: [] }],
  summary: 'Prometheus metrics',
  description: 'Prometheus text exposition format (gatewatch_probe_success, gatewatch_probe_duration_seconds, ...). Needs the token unless METRICS_PUBLIC=true.',
  responses: {
    200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
    ...errors(401, 500),
  },
});
