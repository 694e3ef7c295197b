/** The public status page and the public story of one incident. Nothing internal: no URLs, addresses or error text. */
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import type { IncidentDetail, IncidentListItem } from '../pages.repository.js';
import { BarLegend, DayBars, LatencyChart, Layout, MaintenanceBadge, StateBadge, UptimeFigures, page } from '../pages.components.js';
import { EVENT_WORDS, causeWords, duration, kindTitle, kindWords, ms, utc, utcSeconds } from '../pages.words.js';
import type { PublicSite, PublicStatus } from './public.data.js';
import { pagePart, type PagePart } from '../pages.http.js';
import { HISTORY_DAYS, HISTORY_LIMIT } from './public.data.js';

/** The banner: a site in planned maintenance counts as neither up nor down (it has its own banner). */
const overall = (sites: { state: string; maintenance: unknown }[]) => {
  if (sites.some((s) => s.maintenance) && sites.every((s) => s.maintenance || s.state === 'paused')) return { cls: 'unknown', text: 'Planned maintenance' };
  const watched = sites.filter((s) => s.state !== 'paused' && !s.maintenance);
  const down = watched.filter((s) => s.state === 'down').length;
  const degraded = watched.filter((s) => s.state === 'degraded').length;
  if (watched.length === 0) return { cls: 'unknown', text: 'No sites are watched yet' };
  if (down === watched.length) return { cls: 'down', text: 'Major outage: every site is down' };
  if (down > 0) return { cls: 'down', text: `Partial outage: ${down} of ${watched.length} ${watched.length === 1 ? 'site is' : 'sites are'} down` };
  if (degraded > 0) return { cls: 'degraded', text: `Degraded: ${degraded} ${degraded === 1 ? 'site has' : 'sites have'} problems` };
  if (watched.every((s) => s.state === 'unknown')) return { cls: 'unknown', text: 'Waiting for the first checks' };
  return { cls: 'up', text: 'All systems operational' };
};

export const SiteCard = (p: { site: PublicSite }) => {
  const s = p.site;
  const headingId = `site-${s.id}`;
  return (
    <section class="card" aria-labelledby={headingId}>
      <div class="site-head">
        <h3 id={headingId}>{s.name}</h3>
        <span>
          <StateBadge state={s.state} /> <MaintenanceBadge maintenance={s.maintenance} />
        </span>
      </div>
      {s.incident ? (
        <p>
          <a href={`/incidents/${s.incident.id}`}>
            {kindTitle(s.incident.kind)} since {utc(s.incident.openedAt)}
          </a>
          . Probable cause: {causeWords(s.incident.topCause?.code)}.
        </p>
      ) : null}
      <UptimeFigures uptime={s.uptime} />
      <div class="row">
        <DayBars days={s.days} label={`${s.name}: uptime per day, last ${HISTORY_DAYS} days`} id={`problems-${s.id}`} maintenance={s.maintenanceDays} />
        <div>
          <LatencyChart points={s.latency} title={`${s.name}: response time per hour, last 24 hours`} />
          <p class="small muted">
            Response time now: {ms(s.latencyNow)}
          </p>
        </div>
      </div>
    </section>
  );
};

export const IncidentItem = (p: { incident: IncidentListItem; now: number; href: string; showSite?: boolean }) => {
  const i = p.incident;
  const end = i.resolvedAt ?? p.now;
  return (
    <article class={`card incident ${i.state}`}>
      <h3>
        <a href={p.href}>
          {i.siteName}: {kindTitle(i.kind)}
        </a>
      </h3>
      <p class="small">
        {i.state === 'open' ? <strong>Ongoing</strong> : <strong>Resolved</strong>} · started {utc(i.firstFailureAt)} ·{' '}
        {i.state === 'open' ? `for ${duration(end - i.firstFailureAt)} so far` : `lasted ${duration(end - i.firstFailureAt)}`}
      </p>
      <p>Probable cause: {causeWords(i.topCause)}.</p>
    </article>
  );
};

/** Sites named in the maintenance banner; their cards say it for the rest. */
const BANNER_NAMES = 10;

/** Which sites are in planned maintenance now, and until when (in words, not colour alone). */
const MaintenanceBanner = (p: { cards: PublicStatus['cards'] }) => {
  const inMaintenance = p.cards.filter((c) => c.maintenance);
  if (inMaintenance.length === 0) return null;
  return (
    <p class="banner maint">
      Planned maintenance (not an outage):{' '}
      {inMaintenance.slice(0, BANNER_NAMES).map((c, i) => (
        <>
          {i > 0 ? ', ' : ''}
          {c.name} until {utc(c.maintenance!.until)}
        </>
      ))}
      {inMaintenance.length > BANNER_NAMES ? ` and ${inMaintenance.length - BANNER_NAMES} more sites` : ''}.
    </p>
  );
};

// The same for every visitor (the page is built once for all of them).
const PublicNav = () => (
  <ul>
    <li>
      <a href="/">Status</a>
    </li>
    <li>
      <a href="/app">Operator console</a>
    </li>
  </ul>
);

/** One site's card as HTML (kept by the page's data until the site changes). */
export const siteCardHtml = (site: PublicSite) => String(<SiteCard site={site} />);

/** Where the cards go: put in after rendering, so that megabytes of cards are copied once, not walked by JSX. */
const CARDS = '<!--gatewatch:cards-->';

/** The status page as parts: the page around the cards, and each card as it was kept. */
export function statusPageParts(data: PublicStatus, opts: { now: number }): PagePart[] {
  const [head, tail = ''] = layoutOfStatus(data, opts, overall(data.cards)).split(CARDS);
  return [pagePart(head), ...data.cards.map((c) => c.html), pagePart(tail)];
}

function layoutOfStatus(data: PublicStatus, opts: { now: number }, banner: { cls: string; text: string }): string {
  return page(
    <Layout title="Status · Gatewatch" nav={<PublicNav />} live>
      <h1>Service status</h1>
      <p class="muted small">{data.asOf ? `Last check ${utc(data.asOf)}.` : 'No checks yet.'}</p>
      <p class={`banner ${banner.cls}`} role="status">
        {banner.text}
      </p>
      <MaintenanceBanner cards={data.cards} />

      {data.open.length > 0 ? (
        <section aria-labelledby="open-h">
          <h2 id="open-h">Ongoing incidents</h2>
          {data.open.map((i) => (
            <IncidentItem incident={i} now={opts.now} href={`/incidents/${i.id}`} />
          ))}
        </section>
      ) : null}

      <section aria-labelledby="sites-h">
        <h2 id="sites-h">Sites</h2>
        {data.cards.length === 0 ? <p>No public sites yet.</p> : raw(CARDS)}
        {data.cards.length > 0 ? <BarLegend /> : null}
      </section>

      <section aria-labelledby="history-h">
        <h2 id="history-h">Past incidents (last {HISTORY_DAYS} days)</h2>
        {data.history.length === 0 ? (
          <p>No incidents in the last {HISTORY_DAYS} days.</p>
        ) : (
          data.history.map((i) => <IncidentItem incident={i} now={opts.now} href={`/incidents/${i.id}`} />)
        )}
        {data.historyTruncated ? (
          <p class="muted" id="history-truncated">
            Only the latest {HISTORY_LIMIT} incidents are listed; older ones of the last {HISTORY_DAYS} days are left out.
          </p>
        ) : null}
      </section>
    </Layout>,
  );
}

/** What a timeline step says to a visitor: its kind of event, and the new cause when it changed. */
const eventWords = (type: string, message: string): Child => {
  const base = EVENT_WORDS[type] ?? type;
  if (type === 'cause_changed') {
    const code = /top cause now (\w+)/.exec(message)?.[1];
    return code ? `${base}: ${causeWords(code)}` : base;
  }
  return base;
};

export function publicIncidentPage(i: IncidentDetail, opts: { now: number }): string {
  const end = i.resolvedAt ?? opts.now;
  return page(
    <Layout title={`${i.siteName}: ${kindTitle(i.kind)} · Gatewatch`} nav={<PublicNav />}>
      <p class="small">
        <a href="/">← All sites</a>
      </p>
      <h1>
        {i.siteName}: {kindTitle(i.kind)}
      </h1>
      <p class={`banner ${i.state === 'open' ? 'down' : 'up'}`} role="status">
        {i.state === 'open' ? `Ongoing for ${duration(end - i.firstFailureAt)}` : `Resolved after ${duration(end - i.firstFailureAt)}`}
      </p>
      <section class="card" aria-labelledby="what-h">
        <h2 id="what-h">What happened</h2>
        <dl class="facts">
          <dt>What failed</dt>
          <dd>{kindWords(i.kind)}</dd>
          <dt>Started</dt>
          <dd>{utc(i.firstFailureAt)}</dd>
          <dt>{i.state === 'open' ? 'Still failing' : 'Resolved'}</dt>
          <dd>{i.resolvedAt ? utc(i.resolvedAt) : `yes, ${duration(end - i.firstFailureAt)} so far`}</dd>
          <dt>Failed checks</dt>
          <dd>{i.failedChecks}</dd>
          <dt>Probable cause</dt>
          <dd>{causeWords(i.topCause)}</dd>
        </dl>
      </section>
      <section aria-labelledby="timeline-h">
        <h2 id="timeline-h">Timeline</h2>
        <ol class="timeline">
          {i.timeline.map((e) => (
            <li>
              <strong>{utcSeconds(e.at)}</strong> · {eventWords(e.type, e.message)}
            </li>
          ))}
        </ol>
      </section>
    </Layout>,
  );
}
