import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app.js';
import type { SitesRepository } from '../sites/sites.repository.js';
import { idParam } from '../sites/sites.schemas.js';
import { notFound } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import type { StatusService } from './status.service.js';
import { statusDocs } from './status.docs.js';

const statusQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  offset: z.coerce.number().int().min(0).default(0),
});

export const statusRoutes = (deps: { sites: SitesRepository; status: StatusService; clock: { now(): number } }) =>
  new Hono<AppEnv>()
    .get('/', statusDocs.list, validate('query', statusQuery), async (c) => {
      const { limit, offset } = c.req.valid('query');
      // Copied from the entries the service keeps rendered (see StatusService.listBody): at 10,000
      // sites and more, building and serialising an object per site would cost more than the call.
      const body = await deps.status.listBody(offset, limit ?? -1, c.get('authenticated'), deps.clock.now());
      return c.body(body, 200, { 'Content-Type': 'application/json' });
    })
    .get('/:id', statusDocs.get, validate('param', idParam), (c) => {
      const { id } = c.req.valid('param');
      const site = deps.sites.get(id);
      if (!site || (!site.public && !c.get('authenticated'))) throw notFound('sites', id);
      return c.json(deps.status.one(site, c.get('authenticated')));
    });
