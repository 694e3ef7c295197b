/**
 * /app: the operator's console. Sign-in with the API token gives a session cookie; every form
 * carries the session's CSRF token; the forms change sites through the same repository, schemas
 * and scheduler calls as the JSON API.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../../app.js';
import { siteWarnings } from '../../sites/sites.warnings.js';
import type { PagesDeps, StatusEntry } from '../pages.deps.js';
import { sendPage } from '../pages.http.js';
import { consoleIncidentPage, messagePage, signInPage, siteFormPage, sitePage, sitesPage, type TargetChecks } from './console.pages.js';
import { clientAddress, sameToken, type Session, type Sessions } from './console.session.js';
import { formValues, parseCreate, parsePatch, valuesOf } from './site-form.js';

const FORM_MAX_BYTES = 64 * 1024;
const CHECKS_PER_TARGET = 20;
const HOUR = 3_600_000;

/** Where to go after signing in: a path of this site only (never another host). */
const safeNext = (next: unknown) => (typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) ? next : '/app');

const idOf = (c: Context) => {
  const raw = c.req.param('id') ?? '';
  return /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : null;
};

const NOTICES: Record<string, string> = {
  created: 'Site added. Its first check runs now.',
  saved: 'Changes saved.',
  paused: 'Paused: no checks and no alerts until you resume.',
  resumed: 'Resumed: checks start again.',
  checked: 'Checked just now: the latest checks are below.',
  deleted: 'Site deleted with its history.',
  signedout: 'You are signed out.',
};

type ConsoleEnv = AppEnv & { Variables: { session: Session } };

export const consoleRoutes = (deps: PagesDeps, sessions: Sessions) => {
  const app = new Hono<ConsoleEnv>();

  const notFoundPage = (c: Context, what: string) =>
    sendPage(c, messagePage({ title: 'Not found', message: `There is no ${what}.`, back: '/app' }), { cache: 'none', status: 404 });

  const entries = async (): Promise<StatusEntry[]> => JSON.parse(await deps.status.listJson(0, -1, true));

  app.use(
    '*',
    bodyLimit({
      maxSize: FORM_MAX_BYTES,
      onError: (c) => sendPage(c, messagePage({ title: 'Too large', message: `A form may send at most ${FORM_MAX_BYTES} bytes.` }), { cache: 'none', status: 400 }),
    }),
  );

  app.get('/sign-in', (c) => {
    if (sessions.current(c)) return c.redirect(safeNext(c.req.query('next')), 303);
    const status = c.req.query('done') === 'signedout' ? NOTICES.signedout : undefined;
    return sendPage(c, signInPage({ csrf: sessions.signInToken(c), next: safeNext(c.req.query('next')), status }), { cache: 'none' });
  });

  app.post('/sign-in', async (c) => {
    const body = await c.req.parseBody();
    const next = safeNext(body.next);
    const who = clientAddress(c);
    const wait = sessions.retryAfter(who);
    if (wait > 0) {
      c.header('Retry-After', String(wait));
      return sendPage(c, signInPage({ csrf: sessions.signInToken(c), next, error: `Too many failed attempts. Try again in ${wait} s.` }), { cache: 'none', status: 429 });
    }
    if (!sessions.signInTokenMatches(c, typeof body._csrf === 'string' ? body._csrf : undefined)) {
      return sendPage(c, signInPage({ csrf: sessions.signInToken(c), next, error: 'The form expired. Please sign in again.' }), { cache: 'none', status: 403 });
    }
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    if (!token || !deps.tokens.verify(token)) {
      sessions.failed(who);
      return sendPage(c, signInPage({ csrf: sessions.signInToken(c), next, error: 'That token is not valid.' }), { cache: 'none', status: 401 });
    }
    sessions.start(c);
    return c.redirect(next, 303);
  });

  // Everything else needs a session, and every POST the session's CSRF token.
  app.use('*', async (c, next) => {
    const session = sessions.current(c);
    if (!session) {
      if (c.req.method === 'GET' || c.req.method === 'HEAD') return c.redirect(`/app/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
      return sendPage(c, messagePage({ title: 'Not signed in', message: 'Sign in first, then send the form again.', back: '/app/sign-in' }), { cache: 'none', status: 401 });
    }
    if (c.req.method === 'POST') {
      const type = c.req.header('content-type') ?? '';
      const body = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type) ? await c.req.parseBody() : {};
      if (!sameToken(typeof body._csrf === 'string' ? body._csrf : undefined, session.csrf)) {
        return sendPage(
          c,
          messagePage({ title: 'Form refused', message: 'This form did not carry a valid CSRF token (it may be old, or sent from another site). Reload the page and try again.', back: '/app' }),
          { cache: 'none', status: 403 },
        );
      }
    }
    c.set('session', session);
    await next();
  });

  app.post('/sign-out', (c) => {
    sessions.end(c);
    return c.redirect('/app/sign-in?done=signedout', 303);
  });

  app.get('/', async (c) => {
    const notice = NOTICES[c.req.query('done') ?? ''];
    return sendPage(c, sitesPage({ csrf: c.get('session').csrf, entries: await entries(), notice }), { cache: 'private' });
  });

  app.get('/sites/new', (c) => sendPage(c, siteFormPage({ csrf: c.get('session').csrf, values: valuesOf(), errors: [] }), { cache: 'private' }));

  app.post('/sites', async (c) => {
    const values = formValues(await c.req.parseBody());
    const parsed = parseCreate(values, deps.policy);
    if (!parsed.ok) return sendPage(c, siteFormPage({ csrf: c.get('session').csrf, values, errors: parsed.errors }), { cache: 'none', status: 400 });
    const site = await deps.sites.create(parsed.value);
    deps.scheduler.siteChanged(site.id, site);
    return c.redirect(`/app/sites/${site.id}?done=created`, 303);
  });

  app.get('/sites/:id', async (c) => {
    const id = idOf(c);
    const site = id === null ? undefined : deps.sites.get(id);
    if (!site) return notFoundPage(c, `site ${c.req.param('id')}`);
    const now = deps.clock.now();
    const targets: TargetChecks[] = [
      { id: 'site', name: `${site.name} (the site)`, url: site.url, checks: deps.checks.list(site.id, { limit: CHECKS_PER_TARGET, target: 'site' }) },
      ...site.upstreams.map((u) => ({ id: String(u.id), name: u.name, url: u.url, checks: deps.checks.list(site.id, { limit: CHECKS_PER_TARGET, target: String(u.id) }) })),
    ];
    const from = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    const latency = deps.uptimeSeries(site.id, { from, to: from + 24 * HOUR, granularity: 'hour', now }).map((b) => ({ at: b.start, ms: b.latencyMs.avg }));
    return sendPage(
      c,
      sitePage({
        csrf: c.get('session').csrf,
        site,
        entry: deps.status.one(site, true) as unknown as StatusEntry,
        targets,
        incidents: deps.pages.ofSite(site.id, 50),
        latency,
        now,
        notice: NOTICES[c.req.query('done') ?? ''],
        warnings: siteWarnings({ site, alertTo: deps.alertTo ?? [], duplicates: deps.sites.duplicatesOf(site) }),
      }),
      { cache: 'private' },
    );
  });

  app.get('/sites/:id/edit', (c) => {
    const id = idOf(c);
    const site = id === null ? undefined : deps.sites.get(id);
    if (!site) return notFoundPage(c, `site ${c.req.param('id')}`);
    return sendPage(c, siteFormPage({ csrf: c.get('session').csrf, site, values: valuesOf(site), errors: [] }), { cache: 'private' });
  });

  app.post('/sites/:id', async (c) => {
    const id = idOf(c);
    const site = id === null ? undefined : deps.sites.get(id);
    if (!site) return notFoundPage(c, `site ${c.req.param('id')}`);
    const values = formValues(await c.req.parseBody());
    const parsed = parsePatch(values, site, deps.policy);
    if (!parsed.ok) return sendPage(c, siteFormPage({ csrf: c.get('session').csrf, site, values, errors: parsed.errors }), { cache: 'none', status: 400 });
    const updated = deps.sites.update(site.id, parsed.value);
    if (!updated) return notFoundPage(c, `site ${site.id}`);
    deps.scheduler.siteChanged(site.id, updated);
    return c.redirect(`/app/sites/${site.id}?done=saved`, 303);
  });

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(`/sites/:id/${action}`, (c) => {
      const id = idOf(c);
      const updated = id === null ? undefined : deps.sites.update(id, { paused });
      if (!updated) return notFoundPage(c, `site ${c.req.param('id')}`);
      deps.scheduler.siteChanged(updated.id, updated);
      return c.redirect(`/app/sites/${updated.id}?done=${paused ? 'paused' : 'resumed'}`, 303);
    });
  }

  app.post('/sites/:id/check', async (c) => {
    const id = idOf(c);
    if (id === null || !deps.sites.exists(id)) return notFoundPage(c, `site ${c.req.param('id')}`);
    await deps.scheduler.runNow(id);
    return c.redirect(`/app/sites/${id}?done=checked`, 303);
  });

  app.post('/sites/:id/delete', async (c) => {
    const id = idOf(c);
    const body = await c.req.parseBody();
    if (id === null || !deps.sites.exists(id)) return notFoundPage(c, `site ${c.req.param('id')}`);
    if (body.confirm !== 'yes') {
      return sendPage(c, messagePage({ title: 'Not deleted', message: 'Tick the box to confirm the deletion.', back: `/app/sites/${id}` }), { cache: 'none', status: 400 });
    }
    deps.deleteSite(id);
    deps.scheduler.siteRemoved(id);
    return c.redirect('/app?done=deleted', 303);
  });

  app.get('/incidents/:id', (c) => {
    const id = idOf(c);
    const incident = id === null ? undefined : deps.pages.get(id);
    if (!incident) return notFoundPage(c, `incident ${c.req.param('id')}`);
    return sendPage(c, consoleIncidentPage({ csrf: c.get('session').csrf, incident, now: deps.clock.now() }), { cache: 'private' });
  });

  return app;
};
