import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app.js';
import type { Clock } from '../shared/clock.js';
import { idParam } from '../sites/sites.schemas.js';
import { notFound } from '../shared/errors.js';
import { validate } from '../shared/validate.js';
import type { IncidentsRepository } from './incidents.repository.js';
import { incidentsDocs } from './incidents.docs.js';
import type { IncidentRow } from './incidents.table.js';

const listQuery = z.strictObject({
  siteId: z.coerce.number().int().min(1).optional(),
  state: z.enum(['open', 'resolved']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(0).optional(),
});

const summary = (row: IncidentRow, now: number) => ({
  id: row.id,
  siteId: row.siteId,
  state: row.state,
  kind: row.kind,
  kinds: row.kinds,
  openedAt: row.openedAt,
  firstFailureAt: row.firstFailureAt,
  resolvedAt: row.resolvedAt,
  durationMs: (row.resolvedAt ?? now) - row.firstFailureAt,
  failedChecks: row.failedChecks,
  silenced: row.silenced,
  causes: row.causes,
  topCause: row.causes[0] ?? null,
});

export const incidentsRoutes = (deps: { incidents: IncidentsRepository; clock: Clock }) =>
  new Hono<AppEnv>()
    .get('/', incidentsDocs.list, validate('query', listQuery), (c) => c.json({ incidents: deps.incidents.list(c.req.valid('query')).map((r) => summary(r, deps.clock.now())) }))
    .get('/:id', incidentsDocs.get, validate('param', idParam), (c) => {
      const { id } = c.req.valid('param');
      const row = deps.incidents.get(id);
      if (!row) throw notFound('incidents', id);
      return c.json({ ...summary(row, deps.clock.now()), timeline: row.timeline });
    });
