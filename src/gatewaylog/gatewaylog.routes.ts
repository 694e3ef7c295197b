import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app.js';
import { notFound } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import { idParam } from '../sites/sites.schemas.js';
import type { GatewayLogRepository } from './gatewaylog.repository.js';
import { gatewayLogDocs } from './gatewaylog.docs.js';

const logLinesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export interface GatewayLogRoutesDeps {
  lines: GatewayLogRepository;
  siteExists(id: number): boolean;
}

/** `GET /api/sites/:id/log-lines?limit=`: the gateway's log lines kept for the site, newest first (mounted under /api/sites). */
export const gatewayLogRoutes = (deps: GatewayLogRoutesDeps) =>
  new Hono<AppEnv>().get('/:id/log-lines', gatewayLogDocs, validate('param', idParam), validate('query', logLinesQuery), (c) => {
    const { id } = c.req.valid('param');
    if (!deps.siteExists(id)) throw notFound('sites', id);
    return c.json({ lines: deps.lines.list(id, c.req.valid('query').limit) });
  });
