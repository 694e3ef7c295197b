import { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import { notFound } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import type { SitesRepository, SiteView } from './sites.repository.js';
import { checksQuery, idParam, siteCreateSchema, sitePatchSchema } from './sites.schemas.js';

/** What the routes need of the scheduler: keep its plan in step and run a round on demand. */
export interface SchedulerControl {
  siteChanged(siteId: number, current?: SiteView): void;
  siteRemoved(siteId: number): void;
  runNow(siteId: number): Promise<unknown[]>;
}

export interface SitesRoutesDeps {
  sites: SitesRepository;
  checks: ChecksRepository;
  scheduler: SchedulerControl;
  /** How following the site's gateway log goes (src/gatewaylog), shown on `GET /:id`. */
  gatewayLogStatus?: (site: SiteView) => unknown;
}

export const sitesRoutes = (deps: SitesRoutesDeps) => {
  const mustExist = (id: number) => {
    const site = deps.sites.get(id);
    if (!site) throw notFound('sites', id);
    return site;
  };

  /** A site with a gateway log also says how following it goes (`gatewayLogStatus`). */
  const withLogStatus = (site: SiteView) =>
    deps.gatewayLogStatus && site.gatewayLog ? { ...site, gatewayLogStatus: deps.gatewayLogStatus(site) } : site;

  return new Hono<AppEnv>()
    .post('/', validate('json', siteCreateSchema), async (c) => {
      const site = await deps.sites.create(c.req.valid('json'));
      deps.scheduler.siteChanged(site.id, site);
      return c.json(withLogStatus(site), 201);
    })
    .get('/', (c) => c.json({ sites: deps.sites.list() }))
    .get('/:id', validate('param', idParam), (c) => c.json(withLogStatus(mustExist(c.req.valid('param').id))))
    .patch('/:id', validate('param', idParam), validate('json', sitePatchSchema), (c) => {
      const { id } = c.req.valid('param');
      const site = deps.sites.update(id, c.req.valid('json'));
      if (!site) throw notFound('sites', id);
      deps.scheduler.siteChanged(id, site);
      return c.json(withLogStatus(site));
    })
    .delete('/:id', validate('param', idParam), (c) => {
      const { id } = c.req.valid('param');
      if (!deps.sites.delete(id)) throw notFound('sites', id);
      deps.scheduler.siteRemoved(id);
      return c.body(null, 204);
    })
    .post('/:id/check', validate('param', idParam), async (c) => {
      const { id } = c.req.valid('param');
      mustExist(id);
      return c.json({ checks: await deps.scheduler.runNow(id) });
    })
    .get('/:id/checks', validate('param', idParam), validate('query', checksQuery), (c) => {
      const { id } = c.req.valid('param');
      mustExist(id);
      const query = c.req.valid('query');
      const rows = deps.checks.list(id, query);
      const last = rows.at(-1);
      return c.json({ checks: rows, nextBefore: rows.length === query.limit && last ? last.startedAt : null });
    });
};
