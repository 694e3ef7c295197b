import { Validator } from '@seriousme/openapi-schema-validator';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type AppEnv } from '../src/app.js';
import { uptimeDocs } from '../src/checks/uptime.docs.js';
import { gatewayLogDocs } from '../src/gatewaylog/gatewaylog.docs.js';
import { metricsDocs } from '../src/metrics/metrics.docs.js';
import { buildOpenApiDocument } from '../src/openapi/openapi.routes.js';
import { validate } from '../src/shared/validate.js';
import { idParam } from '../src/sites/sites.schemas.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
/** Routes outside /api that the document must describe when the app has them. */
const OPERATIONAL = new Set(['/healthz', '/metrics', '/openapi.json', '/docs']);

/** `GET /api/sites/{id}` for each route of the app that the document must describe (Hono's `:id` as `{id}`). */
const routesOf = (app: Hono<any, any, any>) =>
  new Set(
    app.routes
      .filter((r) => r.method !== 'ALL' && (r.path.startsWith('/api/') || OPERATIONAL.has(r.path)))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)(\{[^}]*\})?\??/g, '{$1}')}`),
  );

const operationsOf = (doc: any) =>
  new Set(
    Object.entries<any>(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );

describe('GET /openapi.json', () => {
  it('is open, OpenAPI 3.1, and valid for a real validator', async () => {
    t = createTestService();
    const res = await t.call('GET', '/openapi.json', undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body.openapi).toMatch(/^3\.1\./);

    const validator = new Validator();
    const result = await validator.validate(res.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('describes every route of the app, and no route the app does not have', async () => {
    t = createTestService();
    const doc = (await t.call('GET', '/openapi.json', undefined, { token: null })).body;
    const routes = routesOf(t.svc.app);
    const documented = operationsOf(doc);
    expect([...routes].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !routes.has(r))).toEqual([]);
    // The routes of the contract are there (a sanity floor for the walk above).
    for (const op of ['POST /api/sites', 'GET /api/sites', 'GET /api/sites/{id}', 'PATCH /api/sites/{id}', 'DELETE /api/sites/{id}', 'POST /api/sites/{id}/check', 'GET /api/sites/{id}/checks', 'GET /api/incidents', 'GET /api/incidents/{id}', 'GET /api/status', 'GET /api/status/{id}', 'GET /healthz']) {
      expect(documented).toContain(op);
    }
  });

  it('a route mounted without its description is caught', async () => {
    // The same app as the service's, plus one /api route that has no describeRoute.
    const extra = new Hono<AppEnv>().get('/', (c) => c.json({ ok: true }));
    const app = createApp({
      tokens: { verify: () => true } as any,
      logger: silentLogger,
      statusPublic: true,
      schedulerRunning: () => true,
      routes: [{ path: '/api/undocumented', app: extra }],
    });
    const doc = await buildOpenApiDocument(app);
    const missing = [...routesOf(app)].filter((r) => !operationsOf(doc).has(r));
    expect(missing).toEqual(['GET /api/undocumented']);
  });

  it('the descriptions written for routes mounted by other modules (uptime, log lines, metrics) make valid operations', async () => {
    const ok = (c: any) => c.json({});
    const app = createApp({
      tokens: { verify: () => true } as any,
      logger: silentLogger,
      statusPublic: true,
      schedulerRunning: () => true,
      routes: [
        { path: '/api/sites', app: new Hono<AppEnv>().get('/:id/uptime', uptimeDocs, validate('param', idParam), ok).get('/:id/log-lines', gatewayLogDocs, validate('param', idParam), ok) },
        { path: '/metrics', app: new Hono<AppEnv>().get('/', metricsDocs, ok) },
      ],
    });
    const doc = await buildOpenApiDocument(app);
    expect([...routesOf(app)].filter((r) => !operationsOf(doc).has(r))).toEqual([]);
    expect(doc.paths!['/api/sites/{id}/uptime']?.get?.responses?.['200']).toBeDefined();
    expect(doc.paths!['/api/sites/{id}/log-lines']?.get?.parameters).toEqual([expect.objectContaining({ in: 'path', name: 'id', required: true })]);
    expect(doc.paths!['/metrics']?.get?.summary).toBe('Prometheus metrics');
    const result = await new Validator().validate(doc as any);
    expect(result.errors ?? []).toEqual([]);
  });

  it('every /api operation names its summary, the error shape and the errors it can give', async () => {
    t = createTestService();
    const doc = (await t.call('GET', '/openapi.json', undefined, { token: null })).body;
    expect(doc.components.schemas.Error.properties.error.required).toEqual(expect.arrayContaining(['code', 'message']));
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const method of METHODS.filter((m) => item[m])) {
        const op = item[method];
        const where = `${method} ${path}`;
        expect(op.summary, where).toBeTruthy();
        expect(op.tags?.length, where).toBeGreaterThan(0);
        expect(Object.keys(op.responses).some((s) => /^2/.test(s)), where).toBe(true);
        for (const status of ['401', '500']) expect(op.responses[status]?.content['application/json'].schema.$ref, `${where} ${status}`).toBe('#/components/schemas/Error');
        if (op.parameters?.length || op.requestBody) expect(op.responses['400'], `${where} 400`).toBeDefined();
        if (path.includes('{id}')) expect(op.responses['404'], `${where} 404`).toBeDefined();
      }
    }
  });

  it('the request schemas are those the routes validate with: a limit in the document is the limit the route enforces', async () => {
    t = createTestService();
    const doc = (await t.call('GET', '/openapi.json', undefined, { token: null })).body;
    const body = doc.paths['/api/sites'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['name', 'url']));
    const interval = body.properties.intervalSeconds;
    expect(interval).toMatchObject({ type: 'integer', minimum: 1, maximum: 86_400, default: 60 });
    expect(body.properties.failureThreshold).toMatchObject({ minimum: 1, maximum: 100, default: 3 });

    const over = await t.call('POST', '/api/sites', { name: 'a', url: 'http://127.0.0.1:9/', intervalSeconds: interval.maximum + 1 });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('validation.failed');
    expect(over.body.error.details[0].field).toBe('intervalSeconds');
    const edge = await t.call('POST', '/api/sites', { name: 'a', url: 'http://127.0.0.1:9/', intervalSeconds: interval.maximum, paused: true });
    expect(edge.status).toBe(201);
    expect(edge.body.intervalSeconds).toBe(86_400);

    const checks = doc.paths['/api/sites/{id}/checks'].get.parameters;
    const limit = checks.find((p: any) => p.name === 'limit' && p.in === 'query');
    expect(limit.schema).toMatchObject({ minimum: 1, maximum: 1000, default: 100 });
    const tooMany = await t.call('GET', `/api/sites/${edge.body.id}/checks?limit=${limit.schema.maximum + 1}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details[0].field).toBe('limit');
    expect(checks.find((p: any) => p.in === 'path' && p.name === 'id').required).toBe(true);
  });
});
