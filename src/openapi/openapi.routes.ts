import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { describeRoute, generateSpecs } from 'hono-openapi';
import { z } from 'zod';
import { packageRoot } from '../shared/paths.js';
import { renderDocsPage } from './docs.page.js';
import { errors, json } from './openapi.schemas.js';

/** The document as hono-openapi types it (openapi-types' OpenAPIV3_1.Document). */
export type OpenApiDocument = Awaited<ReturnType<typeof generateSpecs>>;

const version = (): string => {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
};

const DESCRIPTION = `Gatewatch probes sites (usually behind a gateway) and their upstream origins, opens incidents when
they fail, ranks the probable causes and alerts the owners. JSON in and out; timestamps are ms since epoch.

Every \`/api\` route needs \`Authorization: Bearer <token>\`, except \`GET /api/status\` and \`GET /api/status/{id}\`
(public unless STATUS_PUBLIC=false). Errors are \`{"error": {"code", "message", "details"}}\` with a fitting status;
bad input is a 400 that names the field.`;

/** Documents of the routes that are not under /api; each is one describeRoute middleware. */
export const metaDocs = {
  healthz: describeRoute({
    tags: ['meta'],
    security: [],
    summary: 'Health',
    description: '200 when the scheduler runs and the database takes writes; 503 with the reason when not. Open (no token).',
    responses: {
      200: json('healthy', z.object({ ok: z.boolean(), scheduler: z.string() })),
      503: json('not healthy, with the reason', z.object({ ok: z.boolean() })),
    },
  }),
  openapi: describeRoute({
    tags: ['meta'],
    security: [],
    summary: 'This OpenAPI 3.1 document',
    description: 'Made from the zod schemas the routes validate with. Open (no token).',
    responses: { 200: { description: 'the document', content: { 'application/json': { schema: { type: 'object' } } } } },
  }),
  docs: describeRoute({
    tags: ['meta'],
    security: [],
    summary: 'The API reference as a page',
    description: 'Rendered by the server from this document; no script, no outside asset. Open (no token).',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
  }),
};

/** The OpenAPI 3.1 document of `app`, from the describeRoute and validate() middlewares of its routes. */
export async function buildOpenApiDocument(app: Hono<any, any, any>): Promise<OpenApiDocument> {
  const doc = await generateSpecs(app, {
    documentation: {
      info: { title: 'Gatewatch API', version: version(), description: DESCRIPTION },
      tags: [
        { name: 'sites', description: 'Sites, their upstreams and checks' },
        { name: 'incidents', description: 'Incidents with ranked probable causes' },
        { name: 'status', description: 'State, uptime and latency of each site' },
        { name: 'alerts', description: 'The alert outbox' },
        { name: 'meta', description: 'Health, this document, metrics' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the API token (API_TOKEN, or the generated data/api-token)' } } },
      security: [{ bearer: [] }],
    },
    // Every route with a validator lists its own 400 (the library's default has another shape).
    defaultValidationErrorResponse: false,
    // /openapi.json is no static file.
    excludeStaticFile: false,
  });
  return doc;
}

/**
 * Adds GET /openapi.json and GET /docs to `app` (open, like /healthz). Call it after every route is
 * mounted: the document is made from the app's routes at the first request, then kept.
 */
export function mountOpenApi(app: Hono<any, any, any>) {
  let document: Promise<OpenApiDocument> | null = null;
  const get = () => (document ??= buildOpenApiDocument(app).catch((error) => {
    document = null;
    throw error;
  }));

  app.get('/openapi.json', metaDocs.openapi, async (c) => c.json(await get()));
  app.get('/docs', metaDocs.docs, async (c) => {
    const origin = new URL(c.req.url).origin;
    // Its own inline style and nothing else: no script, no image, no other host.
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    return c.html(renderDocsPage(await get(), origin));
  });
}
