/** GET / and GET /incidents/:id: the public status page and an incident's public story. */
import { Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../app.js';
import type { PagesDeps } from '../pages.deps.js';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { encodeAll, preparePageOfParts, sendPage, sendPrepared, type PreparedPage } from '../pages.http.js';
import type { Sessions } from '../console/console.session.js';
import { messagePage } from '../console/console.pages.js';
import { createPublicStatus, SMALL_PAGE_SITES } from './public.data.js';
import { publicIncidentPage, siteCardHtml, statusPageParts } from './public.pages.js';

/** Above that, a page up to this old is served at once, while the next is built in the background... */
const SERVE_FOR_MS = 15_000;
/** ...at most once in this long. */
const REBUILD_AFTER_MS = 1_000;
/** A build in the background lets the event loop run after this much rendering... */
const SLICE_MS = 8;
/** ...and one that a request waits for after this much (each turn given away makes that request wait for other work). */
const WAITED_SLICE_MS = 40;

export const publicRoutes = (deps: PagesDeps, sessions: Sessions) => {
  const cache = deps.statusPublic ? 'public' : 'private';
  const publicStatus = createPublicStatus(deps, siteCardHtml);

  /**
   * The status page is built (rendered, tagged) for every request while it lists up to
   * SMALL_PAGE_SITES sites; a build equal to the last one keeps the last one's compressed bytes.
   * Above that, the last build is served while it is at most SERVE_FOR_MS old, and the next is
   * built in the background at most once every REBUILD_AFTER_MS: a page of 1,000 sites polled
   * every second costs the server one build a second, and no request waits for it. A background
   * build starts from its own turn of the event loop (not inside the request that asked for it,
   * which would wait for it through the microtasks they share). Every build gives the loop a turn
   * after SLICE_MS of rendering (WAITED_SLICE_MS when a request waits for it).
   */
  let built: { page: PreparedPage; at: number; sites: number } | null = null;
  let building: Promise<void> | null = null;
  const build = async (sliceMs: number) => {
    // Sliced even when a request waits for it: the first build of a large page renders every card.
    const data = await publicStatus({ sliceMs });
    if (data.cards.length > SMALL_PAGE_SITES) await yieldToLoop();
    let page = preparePageOfParts(statusPageParts(data, { now: deps.clock.now() }));
    if (built && built.page.tag === page.tag) page = built.page;
    // A large page is compressed (off the event loop) before it replaces the last one, so that no request waits for it.
    else if (data.cards.length > SMALL_PAGE_SITES) await encodeAll(page);
    built = { page, at: performance.now(), sites: data.cards.length };
  };
  const rebuild = (sliceMs: number) => (building ??= build(sliceMs).finally(() => (building = null)));
  const statusPageNow = async (): Promise<PreparedPage> => {
    const age = built ? performance.now() - built.at : Infinity;
    if (!built || built.sites <= SMALL_PAGE_SITES || age > SERVE_FOR_MS) {
      await rebuild(WAITED_SLICE_MS);
      return built!.page;
    }
    if (age > REBUILD_AFTER_MS && !building) setImmediate(() => void rebuild(SLICE_MS));
    return built.page;
  };
  // STATUS_PUBLIC=false: the public pages are for signed-in operators only. On these paths alone:
  // this app is mounted at the root, beside /api.
  const gate: MiddlewareHandler = async (c, next) => {
    if (!deps.statusPublic && !sessions.current(c)) return c.redirect(`/app/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
    await next();
  };
  return new Hono<AppEnv>()
    .use('/', gate)
    .use('/incidents/*', gate)
    .get('/', async (c) => sendPrepared(c, await statusPageNow(), cache))
    .get('/incidents/:id', (c) => {
      const raw = c.req.param('id');
      const incident = /^[1-9]\d{0,15}$/.test(raw) ? deps.pages.get(Number(raw)) : undefined;
      if (!incident || !incident.sitePublic) {
        return sendPage(c, messagePage({ title: 'Incident not found', message: `There is no public incident ${raw}.` }), { cache: 'none', status: 404 });
      }
      return sendPage(c, publicIncidentPage(incident, { now: deps.clock.now() }), { cache });
    });
};
