import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { errors, incidentDetailSchema, incidentSchema, json } from '../openapi/openapi.schemas.js';

/** The OpenAPI description of each route of incidents.routes.ts. */
const tags = ['incidents'];

export const incidentsDocs = {
  list: describeRoute({
    tags,
    summary: 'List incidents',
    description: 'Newest first; filter by site and state, page with `before` (an `openedAt`).',
    responses: { 200: json('incidents with their ranked causes', z.object({ incidents: z.array(incidentSchema) })), ...errors(400, 401, 500) },
  }),
  get: describeRoute({
    tags,
    summary: 'Get one incident',
    description: 'One incident with its ranked causes (confidence, summary, evidence, advice) and its timeline.',
    responses: { 200: json('the incident', incidentDetailSchema), ...errors(400, 401, 404, 500) },
  }),
};
