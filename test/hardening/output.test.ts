/**
 * Hardening: what the service says. Anonymous status never shows where things live (URLs, hosts,
 * addresses) or what went wrong in words (error text, cause summaries); every answer carries the
 * security headers; a 500 says "internal error" and a request id, never the exception.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type AppEnv } from '../../src/app.js';
import { createTokenStore } from '../../src/auth/token.js';
import { checks, type NewCheckRow } from '../../src/checks/checks.table.js';
import { closeDatabase, openDatabase } from '../../src/db/client.js';
import { incidents } from '../../src/incidents/incidents.table.js';
import { sites } from '../../src/sites/sites.table.js';
import { createLogger } from '../../src/shared/logger.js';
import { eq } from 'drizzle-orm';
import { createTestService, TEST_TOKEN, type TestService } from '../support/service.js';

/** Strings that must never reach an anonymous caller. None of them is ever contacted. */
const SECRETS = [
  'shop-gw.internal.corp.example',
  'internal-db.corp.example',
  'cache.corp.example',
  '10.20.30.40',
  '10.20.30.41',
  'fd00::1234',
  's3cret-query-key',
  'ECONNREFUSED',
  'certificate has expired',
  'socket hang up',
  'proxy_pass',
  'corp.example',
];
const leaked = (text: string) => SECRETS.filter((s) => text.includes(s));

let t: TestService;
beforeEach(() => {
  t = createTestService();
});
afterEach(async () => {
  await t.close();
});

const checkRow = (siteId: number, target: string, targetName: string, startedAt: number, over: Partial<NewCheckRow>): NewCheckRow => ({
  siteId,
  target,
  targetName,
  startedAt,
  outcome: 'ok',
  statusCode: 200,
  errorMessage: null,
  addresses: ['10.20.30.40'],
  address: '10.20.30.40',
  dnsMs: 1,
  connectMs: 2,
  tlsMs: 3,
  ttfbMs: 4,
  totalMs: 5,
  gateway: null,
  ...over,
});

/**
 * Two paused sites with distinctive internal hosts: one whose failing rounds go through the real
 * recorder and diagnosis (so an incident opens with real causes and evidence), one whose checks
 * are written straight into the table.
 */
async function seed() {
  const a = await t.call('POST', '/api/sites', {
    name: 'shop',
    url: 'https://shop-gw.internal.corp.example:8443/health?key=s3cret-query-key',
    upstreams: [
      { name: 'db-primary', url: 'http://internal-db.corp.example:5432/health' },
      { name: 'app-v6', url: 'http://[fd00::1234]:9000/' },
      { name: 'cache', url: 'https://cache.corp.example/' },
    ],
    failureThreshold: 2,
    paused: true,
  });
  expect(a.status).toBe(201);
  const b = await t.call('POST', '/api/sites', { name: 'blog', url: 'http://10.20.30.41:8080/', upstreams: [{ name: 'origin', url: 'http://10.20.30.40/' }], paused: true });
  expect(b.status).toBe(201);

  const shop = t.svc.sites.get(a.body.id)!;
  const [db, v6, cache] = shop.upstreams;
  const now = Date.now();
  for (let i = 5; i >= 1; i--) {
    const at = now - i * 1000;
    t.svc.recorder.record([
      {
        site: t.svc.sites.get(shop.id)!,
        startedAt: at,
        checks: [
          checkRow(shop.id, 'site', shop.name, at, {
            outcome: 'bad_gateway',
            statusCode: 502,
            gateway: 'nginx',
            errorMessage: 'nginx: connect() failed (111: Connection refused) while connecting to upstream internal-db.corp.example, proxy_pass',
          }),
          checkRow(shop.id, String(db.id), db.name, at, {
            outcome: 'conn_refused',
            statusCode: null,
            errorMessage: 'connect ECONNREFUSED 10.20.30.40:5432 (internal-db.corp.example)',
            ttfbMs: null,
            totalMs: 3,
          }),
          checkRow(shop.id, String(v6.id), v6.name, at, {
            outcome: 'tls_error',
            statusCode: null,
            addresses: ['fd00::1234'],
            address: 'fd00::1234',
            errorMessage: 'certificate has expired for fd00::1234',
          }),
          checkRow(shop.id, String(cache.id), cache.name, at, { outcome: 'timeout', statusCode: null, errorMessage: 'socket hang up from cache.corp.example' }),
        ],
      },
    ]);
  }
  // The second site: rows written directly, as they would be read back after a restart.
  t.svc.db
    .insert(checks)
    .values([
      checkRow(b.body.id, 'site', 'blog', now - 500, { outcome: 'http_error', statusCode: 503, errorMessage: 'HTTP 503 from 10.20.30.41 (shop-gw.internal.corp.example)', addresses: ['10.20.30.41'], address: '10.20.30.41' }),
      checkRow(b.body.id, String(b.body.upstreams[0].id), 'origin', now - 500, { outcome: 'conn_refused', errorMessage: 'connect ECONNREFUSED 10.20.30.40:80' }),
    ])
    .run();
  t.svc.db.update(sites).set({ state: 'degraded' }).where(eq(sites.id, b.body.id)).run();
  return { shopId: shop.id as number, blogId: b.body.id as number };
}

describe('anonymous status shows names and states, never where things live or what the errors said', () => {
  it('hides URLs, hosts, addresses, error text and cause summaries from /api/status and /api/status/:id', async () => {
    const { shopId, blogId } = await seed();
    const open = t.svc.db.select().from(incidents).where(eq(incidents.siteId, shopId)).all();
    expect(open.length, 'the failing rounds opened an incident').toBe(1);
    // The incident's own words do name hosts: that is why they stay behind the token.
    expect(leaked(JSON.stringify(open[0])).length).toBeGreaterThan(0);

    const anonymous = [
      await t.call('GET', '/api/status', undefined, { token: null }),
      await t.call('GET', '/api/status?limit=1', undefined, { token: null }),
      await t.call('GET', '/api/status?offset=1', undefined, { token: null }),
      await t.call('GET', `/api/status/${shopId}`, undefined, { token: null }),
      await t.call('GET', `/api/status/${blogId}`, undefined, { token: null }),
      // A wrong token is no token: the public view.
      await t.call('GET', '/api/status', undefined, { token: 'wrong-token-0123456789abcdef' }),
      await t.call('GET', `/api/status/${shopId}`, undefined, { token: 'wrong-token-0123456789abcdef' }),
      await t.call('GET', `/api/status/999`, undefined, { token: null }),
    ];
    for (const res of anonymous) {
      expect(res.status).toBeLessThan(500);
      const text = JSON.stringify(res.body) + [...res.headers.entries()].join('\n');
      expect(leaked(text), text.slice(0, 500)).toEqual([]);
      expect(text).not.toMatch(/https?:\/\//);
      // Also when a nested value arrives JSON-encoded as a string (\"key\").
      expect(text).not.toMatch(/\\?"(url|address|addresses|errorMessage|summary|evidence|advice|timeline)\\?"/);
    }

    // What anonymous callers do see: names, states, outcomes, the cause code.
    const list = anonymous[0].body;
    const shop = list.sites.find((s: { id: number }) => s.id === shopId);
    expect(shop).toMatchObject({ name: 'shop', state: 'paused', lastCheck: { outcome: 'bad_gateway', statusCode: 502 } });
    // The open incident is an object with its top cause's code (not a JSON string of one).
    expect(typeof shop.incident, JSON.stringify(shop.incident)).toBe('object');
    expect(shop.incident.topCause.code).toMatch(/^[a-z_]+$/);
    const one = anonymous[3].body;
    expect(one.upstreams.map((u: { name: string; state: string }) => [u.name, u.state])).toEqual([
      ['db-primary', 'down'],
      ['app-v6', 'down'],
      ['cache', 'down'],
    ]);

    // With the token the same routes do show URLs, addresses and error text.
    const authed = await t.call('GET', `/api/status/${shopId}`);
    expect(authed.body.url).toBe('https://shop-gw.internal.corp.example:8443/health?key=s3cret-query-key');
    expect(authed.body.upstreams[0].url).toBe('http://internal-db.corp.example:5432/health');
    expect(authed.body.upstreams[0].lastCheck.errorMessage).toContain('ECONNREFUSED');
    expect(authed.body.upstreams[1].lastCheck.addresses).toEqual(['fd00::1234']);
    const authedList = await t.call('GET', '/api/status');
    expect(authedList.body.sites.find((s: { id: number }) => s.id === blogId).url).toBe('http://10.20.30.41:8080/');
  });

  it('keeps the same guarantee through a real HTTP server (HEAD and GET)', async () => {
    const { shopId } = await seed();
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: t.svc.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const path of ['/api/status', `/api/status/${shopId}`]) {
        const res = await fetch(`${base}${path}`);
        expect(res.status).toBe(200);
        expect(leaked(await res.text())).toEqual([]);
        const head = await fetch(`${base}${path}`, { method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(leaked([...head.headers.entries()].join('\n'))).toEqual([]);
      }
    } finally {
      (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

/** The headers every answer must carry, whatever its status. */
function expectSecurityHeaders(headers: Headers, what: string) {
  expect(headers.get('x-content-type-options'), what).toBe('nosniff');
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp, what).toContain("default-src 'none'");
  const framing = csp.includes("frame-ancestors 'none'") || /^(DENY|SAMEORIGIN)$/i.test(headers.get('x-frame-options') ?? '');
  expect(framing, `${what}: frame-ancestors or X-Frame-Options`).toBe(true);
  expect(headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(headers.get('cache-control'), what).toBe('no-store');
}

/** createApp with the real middleware plus routes that fail in every way a handler can. */
function appWithFailingRoutes() {
  const db = openDatabase(':memory:');
  const logged: string[] = [];
  const logger = createLogger('debug', (line) => logged.push(line));
  const boom = new Hono<AppEnv>()
    .get('/error', () => {
      throw new Error('SECRET: sqlite at /var/lib/gatewatch/gw.db, password=hunter2');
    })
    .get('/async', async () => {
      await Promise.resolve();
      throw new TypeError("Cannot read properties of undefined (reading 'hunter2')");
    })
    .get('/string', () => {
      throw 'raw string hunter2';
    })
    .get('/null', () => {
      throw null;
    })
    .get('/http500', () => {
      throw new HTTPException(500, { message: 'upstream hunter2 exploded' });
    })
    .get('/http503', () => {
      throw new HTTPException(503, { message: 'hunter2 unavailable' });
    })
    .get('/range', () => {
      const f = (n: number): number => f(n + 1) + 1;
      return new Response(String(f(0)));
    })
    .get('/ok', (c) => c.json({ ok: true }));
  const app = createApp({
    tokens: createTokenStore(db, TEST_TOKEN),
    logger,
    statusPublic: true,
    schedulerRunning: () => false,
    routes: [{ path: '/api/boom', app: boom }],
  });
  return { app, logged, close: () => closeDatabase(db) };
}

describe('a 500 says "internal error" and a request id, never the exception', () => {
  it('for thrown errors, strings, null, HTTPException 5xx and a stack overflow', async () => {
    const { app, logged, close } = appWithFailingRoutes();
    try {
      // A thrown string or null used to escape onError entirely (Hono hands it only Errors).
      for (const path of ['/error', '/async', '/string', '/null', '/http500', '/http503', '/range']) {
        const res = await app.request(`/api/boom${path}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
        const text = await res.text();
        expect(res.status, path).toBe(500);
        expectSecurityHeaders(res.headers, path);
        const body = JSON.parse(text);
        expect(body).toEqual({ error: { code: 'internal', message: expect.stringMatching(/^internal error \(request id [\w-]+\)$/) } });
        const requestId = res.headers.get('x-request-id');
        expect(requestId, path).toBeTruthy();
        expect(body.error.message).toContain(requestId);
        for (const bad of ['hunter2', 'SECRET', 'sqlite', '/var/lib', 'TypeError', 'Error:', ' at ', 'node_modules', '.ts:', 'stack', 'Maximum call stack']) {
          expect(text, `${path} must not say ${bad}`).not.toContain(bad);
        }
      }
      // The operator does get the detail, in the log, under the same request id.
      const entries = logged.map((l) => JSON.parse(l));
      expect(entries.filter((e) => e.msg === 'request failed')).toHaveLength(7);
      expect(entries.some((e) => String(e.error).includes('hunter2') && typeof e.stack === 'string')).toBe(true);
    } finally {
      close();
    }
  });

  it('never reflects a hostile X-Request-Id, and keeps a sane one', async () => {
    const { app, close } = appWithFailingRoutes();
    try {
      const hostile = await app.request('/api/boom/error', { headers: { authorization: `Bearer ${TEST_TOKEN}`, 'x-request-id': '<script>alert(1)</script>' } });
      const text = await hostile.text();
      expect(hostile.status).toBe(500);
      expect(text).not.toContain('<script>');
      expect(hostile.headers.get('x-request-id')).not.toContain('<');
      const sane = await app.request('/api/boom/error', { headers: { authorization: `Bearer ${TEST_TOKEN}`, 'x-request-id': 'trace-123' } });
      expect(((await sane.json()) as { error: { message: string } }).error.message).toContain('trace-123');
      const huge = await app.request('/api/boom/error', { headers: { authorization: `Bearer ${TEST_TOKEN}`, 'x-request-id': 'a'.repeat(10_000) } });
      expect((await huge.text()).length).toBeLessThan(500);
    } finally {
      close();
    }
  });

  it('reaches no failing route without the token (401 first)', async () => {
    const { app, close } = appWithFailingRoutes();
    try {
      const res = await app.request('/api/boom/error');
      expect(res.status).toBe(401);
      expectSecurityHeaders(res.headers, '401');
    } finally {
      close();
    }
  });
});

describe('security headers on every answer', () => {
  it('on 200, 201, 204, 400, 401, 404, 405-ish, 413 and 500, in-process and over a real socket', async () => {
    const created = await t.call('POST', '/api/sites', { name: 'h', url: 'http://127.0.0.1:9/', paused: true });
    expect(created.status).toBe(201);
    expectSecurityHeaders(created.headers, '201');
    const cases: [string, string, { token?: string | null; raw?: string; body?: unknown }, number][] = [
      // The scheduler of this test service is not started: /healthz says so.
      ['GET', '/healthz', { token: null }, 503],
      ['GET', '/api/status', { token: null }, 200],
      ['GET', '/api/sites', {}, 200],
      ['GET', `/api/status/${created.body.id}`, {}, 200],
      ['POST', '/api/sites', { body: { name: '' } }, 400],
      ['POST', '/api/sites', { raw: '{nope' }, 400],
      ['GET', '/api/sites', { token: null }, 401],
      ['GET', '/api/sites', { token: 'wrong-token-0123456789abcdef' }, 401],
      ['GET', '/api/sites/999', {}, 404],
      ['GET', '/api/nothing', {}, 404],
      ['GET', '/nothing', { token: null }, 404],
      ['PUT', '/api/sites/1', { body: {} }, 404],
      ['POST', '/api/sites', { raw: JSON.stringify({ name: 'x'.repeat(1_100_000), url: 'http://127.0.0.1:9/' }) }, 413],
      ['DELETE', `/api/sites/${created.body.id}`, {}, 204],
    ];
    for (const [method, path, opts, status] of cases) {
      const res = await t.call(method, path, opts.body, { token: opts.token, raw: opts.raw });
      expect(res.status, `${method} ${path}`).toBe(status);
      expectSecurityHeaders(res.headers, `${method} ${path} ${status}`);
    }

    const { app, close } = appWithFailingRoutes();
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const auth = { authorization: `Bearer ${TEST_TOKEN}` };
      for (const [path, init, status] of [
        ['/api/boom/ok', { headers: auth }, 200],
        ['/api/boom/error', { headers: auth }, 500],
        ['/api/boom/ok', {}, 401],
        ['/api/nope', { headers: auth }, 404],
        ['/api/boom/ok', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) }, 413],
      ] as [string, RequestInit, number][]) {
        const res = await fetch(`${base}${path}`, init);
        expect(res.status, path).toBe(status);
        expectSecurityHeaders(res.headers, `real ${path} ${status}`);
        await res.arrayBuffer();
      }
    } finally {
      (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      close();
    }
  });
});
