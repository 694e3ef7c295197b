import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { errors, json } from '../openapi/openapi.schemas.js';

const bucket = z
  .object({
    start: z.number().int().describe('UTC start of the hour or day (ms since epoch)'),
    checks: z.number().int(),
    ok: z.number().int(),
    uptime: z.number().nullable().describe('percent 0..100; null without checks'),
    latencyMs: z.object({ avg: z.number().nullable(), p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() }),
    failures: z.record(z.string(), z.number().int()).describe('failed checks by outcome'),
    worstIncident: z.object({ id: z.number().int(), kind: z.string(), cause: z.string().nullable() }).nullable(),
  })
  .meta({ id: 'UptimeBucket' });

/**
 * The OpenAPI description of `GET /api/sites/:id/uptime` (uptime.routes.ts): put it first among
 * the route's middlewares, `.get('/:id/uptime', uptimeDocs, validate(...), ...)`.
 */
export const uptimeDocs = describeRoute({
  tags: ['sites'],
  summary: "A site's uptime and latency per hour or day",
  description:
    'From the rollups: `to` defaults to now, `from` to 24 h before for hours and 30 days before for days. ' +
    "`target` is 'site' (default) or an upstream's id.",
  responses: {
    200: json(
      'one bucket per hour or day of the range',
      z.object({ siteId: z.number().int(), granularity: z.enum(['hour', 'day']), from: z.number().int(), to: z.number().int(), buckets: z.array(bucket) }),
    ),
    ...errors(400, 401, 404, 500),
  },
});
