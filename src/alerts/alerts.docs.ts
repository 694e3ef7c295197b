import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { alertSchema, errors, json } from '../openapi/openapi.schemas.js';

/** The OpenAPI description of each route of alerts.routes.ts. */
export const alertsDocs = {
  list: describeRoute({
    tags: ['alerts'],
    summary: 'List alerts (the outbox)',
    description: 'Newest first: what was sent, what waits and why (attempts, last error), what was dropped and why.',
    responses: { 200: json('alerts, without their payload', z.object({ alerts: z.array(alertSchema) })), ...errors(400, 401, 500) },
  }),
};
