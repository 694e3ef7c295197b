import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { errors, json } from '../openapi/openapi.schemas.js';

const logLine = z
  .object({
    id: z.number().int(),
    at: z.number().int().describe('when the gateway wrote it (ms since epoch)'),
    readAt: z.number().int(),
    product: z.string().describe('nginx, haproxy, apache or caddy'),
    kind: z.string().describe('refused, connect_timeout, header_timeout, closed_prematurely, invalid_header, dns, tls, no_live_upstreams, unknown'),
    relation: z.string(),
    upstreamId: z.string().nullable(),
    upstream: z.string().nullable(),
    message: z.string(),
    raw: z.string(),
    incidentId: z.number().int().nullable(),
  })
  .meta({ id: 'LogLine' });

/**
 * The OpenAPI description of `GET /api/sites/:id/log-lines` (gatewaylog.routes.ts): put it first
 * among the route's middlewares, `.get('/:id/log-lines', gatewayLogDocs, validate(...), ...)`.
 */
export const gatewayLogDocs = describeRoute({
  tags: ['sites'],
  summary: "The gateway's error-log lines kept for a site",
  description: "Newest first: lines of the site's `gatewayLog` that concern its upstreams, as incidents cite them.",
  responses: { 200: json('the lines', z.object({ lines: z.array(logLine) })), ...errors(400, 401, 404, 500) },
});
