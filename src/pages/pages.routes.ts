/**
 * The HTML pages, mounted at the root by service.ts: the public status page and incident stories
 * (public/), the operator's console under /app (console/), and their stylesheet.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import { consoleRoutes } from './console/console.routes.js';
import { createSessions } from './console/console.session.js';
import type { PagesDeps } from './pages.deps.js';
import { assetHandler } from './pages.http.js';
import { LIVE_SCRIPT, LIVE_SCRIPT_PATH } from './pages.live.js';
import { STYLESHEET, STYLESHEET_PATH } from './pages.style.js';
import { publicRoutes } from './public/public.routes.js';

export type { PagesDeps } from './pages.deps.js';

export const pagesRoutes = (deps: PagesDeps) => {
  const sessions = createSessions({ clock: deps.clock });
  return new Hono<AppEnv>()
    .get(STYLESHEET_PATH, assetHandler(STYLESHEET, 'text/css; charset=utf-8'))
    .get(LIVE_SCRIPT_PATH, assetHandler(LIVE_SCRIPT, 'text/javascript; charset=utf-8'))
    .route('/app', consoleRoutes(deps, sessions))
    .route('/', publicRoutes(deps, sessions));
};
