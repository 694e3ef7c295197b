/** GET / and GET /incidents/:id: the public status page and an incident's public story. */
import { Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../app.js';
import type { PagesDeps } from '../pages.deps.js';
import { sendPage } from '../pages.http.js';
import type { Sessions } from '../console/console.session.js';
import { messagePage } from '../console/console.pages.js';
import { createPublicStatus } from './public.data.js';
import { publicIncidentPage, siteCardHtml, statusPage } from './public.pages.js';

export const publicRoutes = (deps: PagesDeps, sessions: Sessions) => {
  const cache = deps.statusPublic ? 'public' : 'private';
  const publicStatus = createPublicStatus(deps, siteCardHtml);
  // STATUS_PUBLIC=false: the public pages are for signed-in operators only. On these paths alone:
  // this app is mounted at the root, beside /api.
  const gate: MiddlewareHandler = async (c, next) => {
    if (!deps.statusPublic && !sessions.current(c)) return c.redirect(`/app/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
    await next();
  };
  return new Hono<AppEnv>()
    .use('/', gate)
    .use('/incidents/*', gate)
    .get('/', async (c) => {
      const data = await publicStatus();
      return sendPage(c, statusPage(data, { now: deps.clock.now(), signedIn: sessions.current(c) !== undefined }), { cache });
    })
    .get('/incidents/:id', (c) => {
      const raw = c.req.param('id');
      const incident = /^[1-9]\d{0,15}$/.test(raw) ? deps.pages.get(Number(raw)) : undefined;
      if (!incident || !incident.sitePublic) {
        return sendPage(c, messagePage({ title: 'Incident not found', message: `There is no public incident ${raw}.` }), { cache: 'none', status: 404 });
      }
      return sendPage(c, publicIncidentPage(incident, { now: deps.clock.now(), signedIn: sessions.current(c) !== undefined }), { cache });
    });
};
