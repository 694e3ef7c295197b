import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app.js';
import type { Db } from '../db/client.js';
import { validate } from '../shared/validate.js';
import { alertsDocs } from './alerts.docs.js';
import { renderSubject } from './alerts.render.js';
import { createAlertsRepository } from './alerts.repository.js';
import type { AlertRow } from './alerts.table.js';
import { certPayloadOf, certSubject } from '../certs/certs.render.js';

export interface AlertsRoutesDeps {
  db: Db;
}

const id = z.coerce.number().int('must be a positive integer id').min(1, 'must be a positive integer id');

export const alertsQuery = z.strictObject({
  limit: z.coerce.number().int('must be an integer').min(1, 'must be from 1 to 500').max(500, 'must be from 1 to 500').default(50),
  state: z.enum(['pending', 'sent', 'cancelled'], 'must be pending, sent or cancelled').optional(),
  incidentId: id.optional(),
  siteId: id.optional(),
});

/** An alert as the API shows it: the delivery log, without the payload. */
const toView = (row: AlertRow) => ({
  id: row.id,
  siteId: row.siteId,
  incidentId: row.incidentId,
  kind: row.kind,
  recipients: row.recipients,
  state: row.state,
  createdAt: row.createdAt,
  dueAt: row.dueAt,
  attempts: row.attempts,
  lastError: row.lastError,
  lastAttemptAt: row.lastAttemptAt,
  sentAt: row.sentAt,
  messageId: row.messageId,
  cancelReason: row.cancelReason,
  /** The subject this alert has on its own; in a group email it was one line of the list. */
  subject:
    row.kind === 'cert_expiring' ? certSubject(certPayloadOf(row)) : renderSubject({ id: row.id, kind: row.kind, payload: row.payload }),
});

/** GET / lists recent alerts, newest first: what was sent, what waits and why, what was dropped and why. */
export const alertsRoutes = (deps: AlertsRoutesDeps) => {
  const repo = createAlertsRepository(deps.db);
  return new Hono<AppEnv>().get('/', alertsDocs.list, validate('query', alertsQuery), (c) =>
    c.json({ alerts: repo.list(c.req.valid('query')).map(toView) }),
  );
};
