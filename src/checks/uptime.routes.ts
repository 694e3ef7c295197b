import { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import type { SitesRepository } from '../sites/sites.repository.js';
import { idParam } from '../sites/sites.schemas.js';
import { notFound, validationFailed } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import type { RollupsRepository } from './rollups.repository.js';
import { MAX_BUCKETS, rangeOf, uptimeQuery } from './uptime.schemas.js';
import { uptimeDocs } from './uptime.docs.js';

/** `GET /api/sites/:id/uptime`: uptime and latency per hour or day, from the rollups. Mounted beside the sites routes. */
export const uptimeRoutes = (deps: { sites: SitesRepository; rollups: RollupsRepository; clock: { now(): number } }) =>
  new Hono<AppEnv>().get('/:id/uptime', uptimeDocs, validate('param', idParam), validate('query', uptimeQuery), (c) => {
    const { id } = c.req.valid('param');
    const site = deps.sites.get(id);
    if (!site) throw notFound('sites', id);
    const query = c.req.valid('query');
    const now = deps.clock.now();
    const { from, to } = rangeOf(query, now);
    if (from >= to) throw validationFailed('invalid query: from: must be before to', [{ field: 'from', message: 'must be before to' }]);
    const step = query.granularity === 'hour' ? 3_600_000 : 86_400_000;
    if ((to - Math.floor(from / step) * step) / step > MAX_BUCKETS[query.granularity]) {
      throw validationFailed(`invalid query: from: at most ${MAX_BUCKETS[query.granularity]} ${query.granularity}s`, [{ field: 'from', message: 'range too long' }]);
    }
    const target = query.target ?? 'site';
    if (target !== 'site' && !site.upstreams.some((u) => String(u.id) === target)) {
      throw validationFailed(`invalid query: target: site ${id} has no upstream ${target}`, [{ field: 'target', message: 'no such upstream' }]);
    }
    const buckets = deps.rollups.uptimeSeries(id, { from, to, granularity: query.granularity, target, now });
    return c.json({ siteId: id, granularity: query.granularity, from, to, buckets });
  });
