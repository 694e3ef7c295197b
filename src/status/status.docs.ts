import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { errors, json, statusDetailSchema, statusEntrySchema } from '../openapi/openapi.schemas.js';

/** The OpenAPI description of each route of status.routes.ts. */
const tags = ['status'];
// Public unless STATUS_PUBLIC=false: the token is optional, and adds URLs, addresses and errors.
const security: Record<string, string[]>[] = [{}, { bearer: [] }];

export const statusDocs = {
  list: describeRoute({
    tags,
    security,
    summary: 'Status of every site',
    description:
      'State, last check, latency, uptime and open incident with its top cause, by ascending id. Public unless STATUS_PUBLIC=false; ' +
      'without the token, names and states only (no URLs, addresses or error text).',
    responses: {
      200: json(
        'one page of entries',
        z.object({ generatedAt: z.number().int(), total: z.number().int(), offset: z.number().int(), sites: z.array(statusEntrySchema) }),
      ),
      ...errors(400, 401, 500),
    },
  }),
  get: describeRoute({
    tags,
    security,
    summary: 'Status of one site',
    description: 'The same entry for one site, with its upstreams.',
    responses: { 200: json('the entry', statusDetailSchema), ...errors(400, 401, 404, 500) },
  }),
};
