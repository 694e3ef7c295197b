import { describeRoute } from 'hono-openapi';
import { z } from 'zod';
import { checkSchema, errors, json, siteSchema } from '../openapi/openapi.schemas.js';

/*
 * The OpenAPI description of each route of sites.routes.ts (one describeRoute middleware per
 * route). Parameters and bodies come from the route's own validate() schemas.
 */
const tags = ['sites'];

export const sitesDocs = {
  create: describeRoute({
    tags,
    summary: 'Create a site',
    description:
      'Adds a site (its public url, usually a gateway) and the upstreams behind it. Omitted fields take their defaults. ' +
      'An IP-literal url in a denied range is refused with a 400.',
    responses: { 201: json('the site as stored, with ids and state', siteSchema), ...errors(400, 401, 413, 415, 500) },
  }),
  list: describeRoute({
    tags,
    summary: 'List sites',
    responses: { 200: json('every site', z.object({ sites: z.array(siteSchema) })), ...errors(401, 500) },
  }),
  get: describeRoute({
    tags,
    summary: 'Get one site',
    description: 'One site with its upstreams and current state.',
    responses: { 200: json('the site', siteSchema), ...errors(400, 401, 404, 500) },
  }),
  update: describeRoute({
    tags,
    summary: 'Change a site',
    description: 'Changes any field of the body; `upstreams`, when given, replaces the list as a whole. At least one field.',
    responses: { 200: json('the site after the change', siteSchema), ...errors(400, 401, 404, 413, 415, 500) },
  }),
  remove: describeRoute({
    tags,
    summary: 'Delete a site',
    description: 'Deletes the site with its history (checks, incidents). Owners of an open incident get a closing notice.',
    responses: { 204: { description: 'deleted; no body' }, ...errors(400, 401, 404, 500) },
  }),
  checkNow: describeRoute({
    tags,
    summary: 'Run a round now',
    description: 'Probes the site and each upstream at once, records the checks (and any incident change) and returns them.',
    responses: { 200: json('the checks of this round', z.object({ checks: z.array(checkSchema) })), ...errors(400, 401, 404, 500) },
  }),
  checks: describeRoute({
    tags,
    summary: "List a site's checks",
    description: 'Newest first, every target (or one with `target`). Page with `before` = the answer\'s `nextBefore`.',
    responses: {
      200: json(
        'checks, and the cursor of the next page (null on the last)',
        z.object({ checks: z.array(checkSchema), nextBefore: z.number().int().nullable() }),
      ),
      ...errors(400, 401, 404, 500),
    },
  }),
};
