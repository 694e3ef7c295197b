import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { TokenStore } from './auth/token.js';
import { bodyLimit } from './shared/body-limit.js';
import { AppError } from './shared/errors.js';
import { isStorageFull } from './storage/storage.health.js';
import type { Logger } from './shared/logger.js';
import { metaDocs, mountOpenApi } from './openapi/openapi.routes.js';

export type AppEnv = { Variables: RequestIdVariables & { authenticated: boolean } };

export interface AppOptions {
  tokens: TokenStore;
  logger: Logger;
  statusPublic: boolean;
  /** Whether the scheduler runs, for /healthz. */
  schedulerRunning: () => boolean;
  /** Whether the database takes writes: the failure going on, or null (for /healthz). */
  storageFailure?: () => { reason: string; since: number } | null;
  /** Told of every request refused because storage is full (it answers 507 storage.full). */
  onStorageFull?: (error: unknown) => void;
  /** Sub-apps mounted under /api, each with the path it owns. */
  routes: { path: string; app: Hono<AppEnv> }[];
}

const MAX_BODY_BYTES = 1024 * 1024;

const errorBody = (code: string, message: string, details?: unknown) => ({
  error: details === undefined ? { code, message } : { code, message, details },
});

/** Reads the bearer token of the Authorization header (never from the query string). */
const bearer = (header: string | undefined) => {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : null;
};

const describeThrown = (value: unknown) => {
  try {
    return String(value);
  } catch {
    return typeof value;
  }
};

const isPublicStatus = (method: string, path: string) =>
  (method === 'GET' || method === 'HEAD') && /^\/api\/status(\/[^/]+)?\/?$/.test(path);

/** Builds the HTTP app from its parts; starts nothing. */
export function createApp(options: AppOptions) {
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(
    secureHeaders({
      contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      crossOriginResourcePolicy: 'same-origin',
      // A page (the pages, GET /docs) sets its own Content-Security-Policy; every other answer gets the strict one above.
      overwrite: false,
    }),
  );
  app.use(async (c, next) => {
    await next();
    // On the response's own headers: c.header() after the handler would copy the response into
    // a new web Response, and @hono/node-server would then stream its body instead of writing it.
    // Pages set their own (with an ETag); everything else is never cached.
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });
  // Hono passes only Error instances to onError: anything else thrown (a string, null) would
  // escape as the server's bare 500, without our headers, shape or log line. Inside the header
  // middleware above, so that they still apply.
  app.use(async (_c, next) => {
    try {
      await next();
    } catch (thrown) {
      throw thrown instanceof Error ? thrown : new Error(`non-Error thrown: ${describeThrown(thrown)}`);
    }
  });

  app.get('/healthz', metaDocs.healthz, (c) => {
    const scheduler = options.schedulerRunning() ? 'running' : 'stopped';
    const failure = options.storageFailure?.() ?? null;
    if (failure) {
      return c.json({ ok: false, scheduler, storage: 'failing', reason: `the database takes no writes (${failure.reason}): checks are not being stored`, since: failure.since }, 503);
    }
    if (scheduler !== 'running') return c.json({ ok: false, scheduler, reason: 'the scheduler is not running: no site is being checked' }, 503);
    return c.json({ ok: true, scheduler });
  });

  app.use('/api/*', async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    const authenticated = token !== null && options.tokens.verify(token);
    c.set('authenticated', authenticated);
    if (!authenticated && !(options.statusPublic && isPublicStatus(c.req.method, c.req.path))) {
      c.header('WWW-Authenticate', 'Bearer realm="gatewatch"');
      throw new AppError(401, 'auth.unauthorized', token ? 'the bearer token is not valid' : 'missing Authorization: Bearer <token> header');
    }
    await next();
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError(413, 'request.too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  for (const { path, app: sub } of options.routes) app.route(path, sub);
  // After every route: GET /openapi.json and GET /docs describe what is mounted.
  mountOpenApi(app);

  app.notFound((c) => c.json(errorBody('route.not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.onError((err, c) => {
    if (err instanceof AppError) return c.json(errorBody(err.code, err.message, err.details), err.status);
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status === 400 && /json/i.test(err.message)) {
        return c.json(errorBody('validation.malformed_json', 'the body is not valid JSON'), 400);
      }
      if (status < 500) return c.json(errorBody('request.invalid', err.message || 'bad request'), status);
    }
    if (err instanceof SyntaxError) return c.json(errorBody('validation.malformed_json', 'the body is not valid JSON'), 400);
    if (isStorageFull(err)) {
      // Counted and logged (once, then a summary a minute) by the storage health, not per request.
      options.onStorageFull?.(err);
      return c.json(errorBody('storage.full', 'the database takes no writes (its disk is full); nothing was changed, try again later'), 507);
    }
    const id = c.get('requestId');
    options.logger.error('request failed', { requestId: id, method: c.req.method, path: c.req.path, error: String(err), stack: (err as Error)?.stack });
    return c.json(errorBody('internal', `internal error (request id ${id})`), 500);
  });

  return app;
}
