import { formatDuration, formatTime, gatewayName } from '../diagnosis/format.js';
import type { Cause } from '../diagnosis/diagnosis.types.js';
import type { Outcome } from '../probes/probes.types.js';
import type { AlertKind } from './alerts.table.js';
import type { AlertMessage } from './alerts.types.js';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const SUBJECT_PREFIX = '[Gatewatch]';
const MAX_SUBJECT = 200;
const MAX_INLINE = 500;

const FAILURE_LABELS: Record<Outcome, string> = {
  ok: 'OK',
  bad_gateway: '502 Bad Gateway',
  http_error: 'unexpected HTTP status',
  dns_nxdomain: 'DNS name not found',
  dns_error: 'DNS resolution failing',
  conn_refused: 'connection refused',
  conn_reset: 'connection reset',
  conn_timeout: 'connect timeout',
  timeout: 'response timeout',
  tls_error: 'TLS failure',
  invalid_response: 'invalid HTTP response',
  blocked: 'blocked by the target policy',
};

/** How a kind reads in a group's subject and list, in the order the list shows them. */
const KIND_LABELS: Record<AlertKind, string> = {
  opened: 'DOWN',
  reminder: 'still DOWN',
  cause_changed: 'cause changed',
  resolved: 'RESOLVED',
  closed: 'CLOSED (site deleted)',
};
const KIND_ORDER: AlertKind[] = ['opened', 'reminder', 'cause_changed', 'resolved', 'closed'];

/** What an email links to: the incident's page under PUBLIC_URL, else the API route. */
export interface RenderOptions {
  /** PUBLIC_URL, without a trailing slash. */
  publicUrl?: string;
}

const incidentLink = (id: number, options: RenderOptions) =>
  options.publicUrl ? `${options.publicUrl}/incidents/${id}` : null;

// C0, DEL, C1 and the Unicode line/paragraph separators: none may reach a header or forge a line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** One line of text from anything: control characters become spaces, runs of spaces one space. */
export function inline(value: unknown, max = MAX_INLINE): string {
  const s = String(value ?? '')
    .replace(CONTROL, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A value fit for a mail header: one line, bounded. */
export const headerSafe = (value: unknown, max = MAX_SUBJECT): string => inline(value, max);

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);

/** Markup built by the `html` tag: only this is inserted unescaped. */
class SafeHtml {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}

const toHtml = (v: unknown): string => {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(toHtml).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(inline(v, 4000));
};

/** Template tag that escapes every interpolated value unless it is itself `html`. */
function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => {
    out += toHtml(v) + strings[i + 1];
  });
  return new SafeHtml(out);
}

const fullTime = (at: number) => {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
};
const percent = (confidence: number) => `${Math.round(Math.min(1, Math.max(0, confidence)) * 100)}%`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The facts one alert states, computed once for its subject, text and HTML. */
function describe(alert: AlertMessage) {
  const { payload: p, kind } = alert;
  const top = p.incident.causes[0] as Cause | undefined;
  const failure = FAILURE_LABELS[p.incident.kind] ?? inline(p.incident.kind);
  const end = kind === 'resolved' ? (p.incident.resolvedAt ?? p.at) : p.at;
  const duration = formatDuration(end - p.incident.firstFailureAt);
  const site = inline(p.site.name, 100);
  const cause = top ? inline(top.summary, 150) : '';
  let headline: string;
  switch (kind) {
    case 'opened':
      headline = `${site} DOWN: ${failure}${cause ? ` - ${cause}` : ''}`;
      break;
    case 'reminder':
      headline = `${site} still DOWN (${duration}): ${failure}${cause ? ` - ${cause}` : ''}`;
      break;
    case 'cause_changed':
      headline = `${site}: probable cause changed to ${cause || 'unknown'}`;
      break;
    case 'resolved':
      headline = `${site} RESOLVED after ${duration}${cause ? ` (cause: ${cause})` : ''}`;
      break;
    case 'closed':
      headline = `${site} deleted while DOWN: incident closed after ${duration}`;
      break;
  }
  return { p, kind, top, failure, duration, site, headline };
}

type Described = ReturnType<typeof describe>;

/** Plain words for the owner, per kind; the causes' own advice follows them. */
const CLOSING: Record<AlertKind, string> = {
  opened:
    'Start with the gateway\'s error log around the first failure: it names the upstream it tried and the error it got. Gatewatch keeps checking and writes again when the probable cause changes or the site recovers.',
  reminder:
    'The site has not recovered since the last email. If someone is on it, a maintenance window on the site silences further emails.',
  cause_changed: 'New checks point elsewhere than the previous email said; the ranking below replaces it.',
  resolved: 'The site answers as expected again.',
  closed:
    'The site was deleted from Gatewatch while this incident was open: it is no longer checked, no further email about it will follow, and its history was deleted with it.',
};

/** After the incident ends there is nothing left to do: its emails state what happened, without next steps. */
const ended = (kind: AlertKind) => kind === 'resolved' || kind === 'closed';

function textSection(d: Described, options: RenderOptions): string {
  const { p } = d;
  const lines = [d.headline, ''];
  const link = incidentLink(p.incident.id, options);
  lines.push(`Site:      ${d.site} <${inline(p.site.url, 2048)}>`);
  lines.push(`Incident:  #${p.incident.id} ${link ? `<${link}>` : `(GET /api/incidents/${p.incident.id})`}`);
  lines.push(`Failure:   ${d.failure}${p.incident.kinds.length > 1 ? ` (also seen: ${p.incident.kinds.filter((k) => k !== p.incident.kind).map((k) => FAILURE_LABELS[k] ?? inline(k)).join(', ')})` : ''}`);
  lines.push(`Since:     ${fullTime(p.incident.firstFailureAt)} (first failed check); opened ${fullTime(p.incident.openedAt)}`);
  if (p.incident.resolvedAt !== null) lines.push(`Resolved:  ${fullTime(p.incident.resolvedAt)}, down for ${d.duration}`);
  else if (d.kind === 'closed') lines.push(`Closed:    ${fullTime(p.at)} (site deleted), down for ${d.duration}`);
  else lines.push(`Down for:  ${d.duration} as of ${fullTime(p.at)}`);
  lines.push(`Failed checks: ${p.incident.failedChecks}`);
  if (p.gateway) lines.push(`Answered by: ${gatewayName(p.gateway)} (the hop that returned the errors)`);
  if (d.kind === 'cause_changed' && p.previousCause) lines.push(`Previously: ${inline(p.previousCause)}`);
  lines.push('');
  if (p.incident.causes.length === 0) {
    lines.push('Probable cause: not known yet. Gatewatch re-evaluates while the incident is open.');
  } else {
    lines.push('Probable causes, most likely first:');
    p.incident.causes.forEach((c, i) => {
      lines.push(`  ${i + 1}. ${inline(c.summary)} (${percent(c.confidence)}, ${inline(c.code)})`);
      if (c.evidence.length) lines.push('     Evidence:', ...c.evidence.map((e) => `       - ${inline(e)}`));
      if (c.advice.length && !ended(d.kind)) lines.push('     Next steps:', ...c.advice.map((a) => `       - ${inline(a)}`));
    });
  }
  lines.push('', CLOSING[d.kind]);
  if (p.incident.timeline.length) {
    lines.push('', 'Timeline:');
    for (const e of p.incident.timeline) lines.push(`  ${formatTime(e.at, p.at)}  ${inline(e.message)}`);
  }
  return lines.join('\n');
}

function htmlSection(d: Described, options: RenderOptions): SafeHtml {
  const { p } = d;
  const link = incidentLink(p.incident.id, options);
  const causes = p.incident.causes.length
    ? html`<p><strong>Probable causes, most likely first:</strong></p><ol>${p.incident.causes.map(
        (c) => html`<li><strong>${c.summary}</strong> (${percent(c.confidence)}, <code>${c.code}</code>)${
          c.evidence.length ? html`<br>Evidence:<ul>${c.evidence.map((e) => html`<li>${e}</li>`)}</ul>` : ''
        }${c.advice.length && !ended(d.kind) ? html`Next steps:<ul>${c.advice.map((a) => html`<li>${a}</li>`)}</ul>` : ''}</li>`,
      )}</ol>`
    : html`<p>Probable cause: not known yet. Gatewatch re-evaluates while the incident is open.</p>`;
  const timeline = p.incident.timeline.length
    ? html`<p><strong>Timeline:</strong></p><ul>${p.incident.timeline.map(
        (e) => html`<li><code>${formatTime(e.at, p.at)}</code> ${e.message}</li>`,
      )}</ul>`
    : '';
  return html`<h2>${d.headline}</h2>
<table>
<tr><td>Site</td><td><strong>${p.site.name}</strong> &lt;${p.site.url}&gt;</td></tr>
<tr><td>Incident</td><td>${link ? html`<a href="${link}">#${p.incident.id}</a>` : html`#${p.incident.id} (GET /api/incidents/${p.incident.id})`}</td></tr>
<tr><td>Failure</td><td>${d.failure}</td></tr>
<tr><td>Since</td><td>${fullTime(p.incident.firstFailureAt)} (first failed check); opened ${fullTime(p.incident.openedAt)}</td></tr>
${p.incident.resolvedAt !== null
    ? html`<tr><td>Resolved</td><td>${fullTime(p.incident.resolvedAt)}, down for ${d.duration}</td></tr>`
    : d.kind === 'closed'
    ? html`<tr><td>Closed</td><td>${fullTime(p.at)} (site deleted), down for ${d.duration}</td></tr>`
    : html`<tr><td>Down for</td><td>${d.duration} as of ${fullTime(p.at)}</td></tr>`}
<tr><td>Failed checks</td><td>${p.incident.failedChecks}</td></tr>
${p.gateway ? html`<tr><td>Answered by</td><td>${gatewayName(p.gateway)} (the hop that returned the errors)</td></tr>` : ''}
${d.kind === 'cause_changed' && p.previousCause ? html`<tr><td>Previously</td><td>${p.previousCause}</td></tr>` : ''}
</table>
${causes}
<p>${CLOSING[d.kind]}</p>
${timeline}`;
}

const byKindThenSite = (a: Described, b: Described) =>
  KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.site.localeCompare(b.site) || a.p.incident.id - b.p.incident.id;

/** The subject one alert would have on its own (also the preview /api/alerts shows). */
export const renderSubject = (alert: AlertMessage): string => headerSafe(`${SUBJECT_PREFIX} ${describe(alert).headline}`);

/** One email for alerts that share a recipient list: one alert reads as itself, several as a list. */
export function renderAlertEmail(alerts: AlertMessage[], footer: string, options: RenderOptions = {}): RenderedEmail {
  if (alerts.length === 0) throw new Error('renderAlertEmail needs at least one alert');
  const described = alerts.map(describe).sort(byKindThenSite);
  const ids = alerts.map((a) => `#${a.id}`).join(', ');
  const foot = `-- \nGatewatch ${alerts.length === 1 ? 'alert' : 'alerts'} ${ids}. ${inline(footer)}`;

  if (described.length === 1) {
    const [d] = described;
    return {
      subject: headerSafe(`${SUBJECT_PREFIX} ${d.headline}`),
      text: `${textSection(d, options)}\n\n${foot}\n`,
      html: page(html`${htmlSection(d, options)}<hr><p><small>${foot.slice(4)}</small></p>`),
    };
  }

  const siteCount = new Set(described.map((d) => d.p.site.id)).size;
  const counts = KIND_ORDER.map((k) => [k, described.filter((d) => d.kind === k).length] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${KIND_LABELS[k]}`)
    .join(', ');
  const summary = `${plural(siteCount, 'site')}: ${counts}`;
  const listLines = described.map((d) => `  - ${d.headline}`);
  const text = [summary, '', ...listLines, '', ...described.map((d) => `${'='.repeat(72)}\n${textSection(d, options)}\n`), foot, ''].join('\n');
  return {
    subject: headerSafe(`${SUBJECT_PREFIX} ${summary}`),
    text,
    html: page(
      html`<h1>${summary}</h1><ul>${described.map((d) => html`<li>${d.headline}</li>`)}</ul>${described.map(
        (d) => html`<hr>${htmlSection(d, options)}`,
      )}<hr><p><small>${foot.slice(4)}</small></p>`,
    ),
  };
}

const page = (body: SafeHtml): string =>
  `<!doctype html>\n<html><head><meta charset="utf-8"></head><body style="font-family:sans-serif">\n${body.value}\n</body></html>\n`;
