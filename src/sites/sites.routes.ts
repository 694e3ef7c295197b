import { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import type { ChecksRepository } from '../checks/checks.repository.js';
import type { TargetPolicy } from '../probes/target-policy.js';
import { AppError, notFound } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import type { SitesRepository, SiteView } from './sites.repository.js';
import { sitesDocs } from './sites.docs.js';
import { checksQuery, idParam, siteCreateSchema, sitePatchSchema } from './sites.schemas.js';
import { siteWarnings } from './sites.warnings.js';
import { assertWebhooksAllowed, withWebhookViews } from './sites.webhooks.js';
import { assertTargetsAllowed } from './sites.targets.js';

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
  /** Deletes a site with its history (and tells the owners of an open incident); `sites.delete` when not given. */
  deleteSite?: (id: number) => boolean;
  /** Whether the database takes no writes (a round run now could not be stored). */
  storageFailing?: () => boolean;
  /** ALERT_TO, for the warning a site nobody would hear about gets. */
  alertTo?: readonly string[];
  /** The probes' target policy: an IP-literal site, upstream or webhook URL it refuses is a 400 here, not a blocked check later. */
  policy?: TargetPolicy;
  /** How following the site's gateway log goes (src/gatewaylog), shown on `GET /:id`. */
  gatewayLogStatus?: (site: SiteView) => unknown;
}

export const sitesRoutes = (deps: SitesRoutesDeps) => {
  const mustExist = (id: number) => {
    const site = deps.sites.get(id);
    if (!site) throw notFound('sites', id);
    return site;
  };
  /** The site as answered, with `warnings` when there is something its owner should know. */
  const withWarnings = (site: SiteView) => {
    const warnings = siteWarnings({ site, alertTo: deps.alertTo ?? [], duplicates: deps.sites.duplicatesOf(site) });
    return warnings.length ? { ...site, warnings } : site;
  };

  /** A site with a gateway log also says how following it goes (`gatewayLogStatus`). */
  const withLogStatus = (site: SiteView) =>
    deps.gatewayLogStatus && site.gatewayLog ? { ...site, gatewayLogStatus: deps.gatewayLogStatus(site) } : site;

  return new Hono<AppEnv>()
    .post('/', sitesDocs.create, validate('json', siteCreateSchema), async (c) => {
      if (deps.policy) assertTargetsAllowed(deps.policy, c.req.valid('json'));
      assertWebhooksAllowed(deps.policy, c.req.valid('json').webhooks);
      const site = await deps.sites.create(c.req.valid('json'));
      deps.scheduler.siteChanged(site.id, site);
      return c.json(withWarnings(withLogStatus(withWebhookViews(site))), 201);
    })
    .get('/', sitesDocs.list, (c) => c.json({ sites: deps.sites.list().map(withWebhookViews) }))
    .get('/:id', sitesDocs.get, validate('param', idParam), (c) => c.json(withLogStatus(withWebhookViews(mustExist(c.req.valid('param').id)))))
    .patch('/:id', sitesDocs.update, validate('param', idParam), validate('json', sitePatchSchema), (c) => {
      const { id } = c.req.valid('param');
      if (deps.policy) assertTargetsAllowed(deps.policy, c.req.valid('json'));
      assertWebhooksAllowed(deps.policy, c.req.valid('json').webhooks);
      const site = deps.sites.update(id, c.req.valid('json'));
      if (!site) throw notFound('sites', id);
      deps.scheduler.siteChanged(id, site);
      return c.json(withWarnings(withLogStatus(withWebhookViews(site))));
    })
    .delete('/:id', sitesDocs.remove, validate('param', idParam), (c) => {
      const { id } = c.req.valid('param');
      if (!(deps.deleteSite ?? deps.sites.delete)(id)) throw notFound('sites', id);
      deps.scheduler.siteRemoved(id);
      return c.body(null, 204);
    })
    .post('/:id/check', sitesDocs.checkNow, validate('param', idParam), async (c) => {
      const { id } = c.req.valid('param');
      mustExist(id);
      const checks = await deps.scheduler.runNow(id);
      if (checks.length === 0 && deps.storageFailing?.()) {
        throw new AppError(507, 'storage.full', 'the round ran but its checks could not be stored: the database takes no writes (its disk is full)');
      }
      return c.json({ checks });
    })
    .get('/:id/checks', sitesDocs.checks, validate('param', idParam), validate('query', checksQuery), (c) => {
      const { id } = c.req.valid('param');
      mustExist(id);
      const query = c.req.valid('query');
      const rows = deps.checks.list(id, query);
      const last = rows.at(-1);
      return c.json({ checks: rows, nextBefore: rows.length >= query.limit && last ? last.startedAt : null });
    });
};
