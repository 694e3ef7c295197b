/** Components shared by the public pages and the console: plain functions of data, no data access. */
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import type { SiteState } from '../sites/sites.repository.js';
import type { UptimeBucket } from './uptime-series.js';
import { STYLESHEET_PATH } from './pages.style.js';
import { LIVE_SCRIPT_PATH } from './pages.live.js';
import { STATE_WORDS, causeWords, day, kindTitle, ms, percent, utc } from './pages.words.js';

export interface LayoutProps {
  title: string;
  /** Links and forms at the top right. */
  nav?: Child;
  /** Load the live refresh script (the page stays complete without it). */
  live?: boolean;
  home?: string;
  /** The word beside the name at the top left. */
  section?: string;
  children?: Child;
}

export const Layout = (p: LayoutProps) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{p.title}</title>
      <link rel="stylesheet" href={STYLESHEET_PATH} />
      {/* No icon: the browser would otherwise ask for /favicon.ico on every page. */}
      <link rel="icon" href="data:," />
      {p.live ? <script src={LIVE_SCRIPT_PATH} defer></script> : null}
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="wrap">
          <a class="brand" href={p.home ?? '/'}>
            Gatewatch <span>{p.section ?? 'status'}</span>
          </a>
          <nav aria-label="Main">{p.nav}</nav>
        </div>
      </header>
      <main id="main" class="wrap">
        {p.children}
      </main>
      <footer>
        <div class="wrap">Times are in UTC. Powered by Gatewatch.</div>
      </footer>
    </body>
  </html>
);

/** The page as text, with its doctype. */
export const page = (node: Child) => `<!doctype html>${String(node)}`;

export const StateBadge = (p: { state: SiteState }) => <span class={`badge ${p.state}`}>{STATE_WORDS[p.state]}</span>;

/** A site inside a maintenance window now, in words (its shape and colour only repeat them). */
export const MaintenanceBadge = (p: { maintenance: { until: number } | null | undefined }) =>
  p.maintenance ? <span class="badge maint">In maintenance until {utc(p.maintenance.until)}</span> : null;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Day starts (ms) that a maintenance window touched. */
export type MaintenanceDays = ReadonlySet<number>;
const NO_DAYS: MaintenanceDays = new Set();

/**
 * How a day is drawn: no checks, all good, some failures, an incident; a day with planned
 * maintenance and no incident is drawn as maintenance, whatever its checks (not an outage).
 */
export const dayClass = (b: UptimeBucket, maint: MaintenanceDays = NO_DAYS) =>
  b.worstIncident ? 'bad' : maint.has(b.start) ? 'maint' : b.uptime === null ? 'none' : b.uptime < 100 ? 'warn' : 'ok';

/** A day in words: `4 Dec 2026: 99.3 % up; 502 Bad Gateway, cause: the application server is down`. */
const dayLabels = new Map<number, string>();
const dayLabel = (start: number) => {
  let label = dayLabels.get(start);
  if (label === undefined) {
    if (dayLabels.size > 1000) dayLabels.clear();
    dayLabels.set(start, (label = day(start)));
  }
  return label;
};

export const dayWords = (b: UptimeBucket, maint: MaintenanceDays = NO_DAYS) => {
  const planned = maint.has(b.start) ? 'planned maintenance (not an outage); ' : '';
  const uptime = b.uptime === null ? 'no checks' : b.uptime === 100 ? '100 % up' : `${percent(b.uptime)} up`;
  const incident = b.worstIncident ? `; incident: ${kindTitle(b.worstIncident.kind)}, cause: ${causeWords(b.worstIncident.cause)}` : '';
  return `${dayLabel(b.start)}: ${planned}${uptime}${incident}`;
};

/** A day without a problem: all checks passed, or none ran. Alike days in a row are drawn as one bar. */
const quiet = (b: UptimeBucket) => !b.worstIncident && (b.uptime === null || b.uptime === 100);

/** A run of quiet days in words: `5 Sep 2026 – 3 Dec 2026: 90 days, no problems`. */
const runWords = (first: UptimeBucket, last: UptimeBucket, n: number) =>
  `${dayLabel(first.start)} – ${dayLabel(last.start)}: ${n} days, ${first.uptime === null ? 'no checks' : 'no problems'}`;

const text = (words: string) => (/[&<>"']/.test(words) ? escapeHtml(words) : words);

/**
 * The days as bars, oldest first. Alike quiet days in a row (all passed, or no checks) are one
 * bar as wide as the days it stands for (`w<n>`), so that a quiet site is a handful of elements,
 * not 90; every day with a problem keeps its own bar. Each bar says its days in words: shown on
 * hover, read by screen readers; the days with problems are also listed as text below, in a
 * <details> whose stable `id` lets the live refresh keep it open.
 */
export const DayBars = (p: { days: UptimeBucket[]; label: string; id: string; maintenance?: MaintenanceDays }) => {
  const maint = p.maintenance ?? NO_DAYS;
  let items = '';
  for (let i = 0; i < p.days.length; ) {
    const b = p.days[i];
    let j = i + 1;
    if (quiet(b) && !maint.has(b.start)) while (j < p.days.length && quiet(p.days[j]) && !maint.has(p.days[j].start) && dayClass(p.days[j]) === dayClass(b)) j++;
    const n = j - i;
    const words = n === 1 ? dayWords(b, maint) : runWords(b, p.days[j - 1], n);
    // Unquoted class and no </li> (both valid HTML).
    items += `<li class=${n === 1 ? dayClass(b, maint) : `"${dayClass(b)} w${n}"`}><span>${text(words)}</span>`;
    i = j;
  }
  // Days with problems; a day of maintenance without an incident is not one.
  const bad = p.days.filter((b) => !quiet(b) && dayClass(b, maint) !== 'maint');
  return (
    <div>
      <ol class="bars" aria-label={p.label}>
        {raw(items)}
      </ol>
      <div class="bar-scale" aria-hidden="true">
        <span>{p.days.length} days ago</span>
        <span>Today</span>
      </div>
      {bad.length > 0 ? (
        <details id={p.id}>
          <summary>
            {bad.length} {bad.length === 1 ? 'day' : 'days'} with problems
          </summary>
          <ul>
            {bad.map((b) => (
              <li>{dayWords(b, maint)}</li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
};

export const BarLegend = () => (
  <ul class="legend" aria-label="How to read the bars">
    <li>
      <i class="ok" aria-hidden="true"></i>All checks passed
    </li>
    <li>
      <i class="warn" aria-hidden="true"></i>Some checks failed
    </li>
    <li>
      <i class="bad" aria-hidden="true"></i>Incident (striped)
    </li>
    <li>
      <i class="maint" aria-hidden="true"></i>Planned maintenance, not an outage (dotted)
    </li>
    <li>
      <i aria-hidden="true"></i>No data
    </li>
  </ul>
);

export interface LatencyPoint {
  at: number;
  ms: number | null;
}

/**
 * A small line chart of response time, as an SVG image with its numbers as text alternative.
 * `summary` says in words what the chart shows.
 */
export const LatencyChart = (p: { points: LatencyPoint[]; title: string; width?: number; height?: number }) => {
  const width = p.width ?? 220;
  const height = p.height ?? 48;
  const values = p.points.map((x) => x.ms).filter((v): v is number => v !== null);
  const label =
    values.length === 0
      ? `${p.title}: no data yet`
      : `${p.title}: average ${ms(values.reduce((a, b) => a + b, 0) / values.length)}, lowest ${ms(Math.min(...values))}, highest ${ms(Math.max(...values))}`;
  if (values.length === 0) {
    return (
      <p class="small muted" role="img" aria-label={label}>
        No response times yet
      </p>
    );
  }
  const max = Math.max(...values, 1);
  const step = p.points.length > 1 ? width / (p.points.length - 1) : width;
  const pts: string[] = [];
  p.points.forEach((x, i) => {
    if (x.ms !== null) pts.push(`${(i * step).toFixed(1)},${(height - 12 - (x.ms / max) * (height - 16)).toFixed(1)}`);
  });
  const line = pts.join(' ');
  return (
    <svg class="chart" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <title>{label}</title>
      <line class="axis" x1="0" y1={height - 11} x2={width} y2={height - 11} />
      {pts.length > 1 ? <polygon class="area" points={`${pts[0].split(',')[0]},${height - 11} ${line} ${pts[pts.length - 1].split(',')[0]},${height - 11}`} /> : null}
      {pts.length > 1 ? <polyline class="line" points={line} /> : <circle cx={pts[0].split(',')[0]} cy={pts[0].split(',')[1]} r="3" class="dot" />}
      <text x="0" y={height - 1}>
        {ms(max)} max
      </text>
    </svg>
  );
};

/** Uptime figures in a row: 24 h, 7 d, 30 d, 90 d. */
export const UptimeFigures = (p: { uptime: Record<string, number | null> }) => (
  <ul class="figures" aria-label="Uptime">
    {Object.entries(p.uptime).map(([span, value]) => (
      <li>
        {span.replace('h', ' h').replace('d', ' days')}: <b>{percent(value)}</b>
      </li>
    ))}
  </ul>
);
