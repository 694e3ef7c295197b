import { certHeadline, certLines, certPayloadOf, daysLeft } from '../certs/certs.render.js';
import { inline, renderSubject } from './alerts.render.js';
import type { AlertRow } from './alerts.table.js';

/** The body of one webhook delivery, rendered from its alert alone (the same bytes on every attempt). */
export interface WebhookBody {
  /** The alert kind, also sent as X-Gatewatch-Event. */
  event: string;
  body: string;
}

const withoutPrefix = (subject: string) => subject.replace(/^\[Gatewatch\]\s*/, '');

/** The incident's page when PUBLIC_URL is set. */
const incidentLink = (publicUrl: string | undefined, id: number) => (publicUrl ? `${publicUrl.replace(/\/+$/, '')}/incidents/${id}` : null);

/**
 * `json`: the alert as JSON (`event`, `alertId`, `site`, `incident` with ranked causes, or
 * `certificate`), stable for one alert. `slack`: an incoming-webhook message, `{ text, blocks }`.
 */
export function renderWebhook(alert: AlertRow, format: 'json' | 'slack', publicUrl?: string): WebhookBody {
  const event = alert.kind;
  if (alert.kind === 'cert_expiring') {
    const p = certPayloadOf(alert);
    const headline = certHeadline(p);
    if (format === 'slack') return { event, body: JSON.stringify(slack(headline, certLines(p).slice(2, 6), null)) };
    return {
      event,
      body: JSON.stringify({
        event,
        alertId: alert.id,
        at: p.at,
        summary: headline,
        site: p.site,
        certificate: { ...p.certificate, daysLeft: daysLeft(p) },
        reminder: p.reminder,
      }),
    };
  }

  const p = alert.payload;
  const headline = withoutPrefix(renderSubject({ id: alert.id, kind: alert.kind, payload: p }));
  const link = incidentLink(publicUrl, p.incident.id);
  if (format === 'slack') {
    const top = p.incident.causes[0];
    const facts = [
      `*Site:* ${inline(p.site.name, 100)} <${inline(p.site.url, 2048)}>`,
      `*Incident:* #${p.incident.id}, ${p.incident.resolvedAt === null ? 'open' : 'resolved'} since ${new Date(p.incident.openedAt).toISOString()}`,
      ...(top ? [`*Probable cause:* ${inline(top.summary)} (${Math.round(top.confidence * 100)}%)`, ...top.advice.slice(0, 2).map((a) => `• ${inline(a)}`)] : []),
    ];
    return { event, body: JSON.stringify(slack(headline, facts, link)) };
  }
  return {
    event,
    body: JSON.stringify({
      event,
      alertId: alert.id,
      at: p.at,
      summary: headline,
      site: p.site,
      incident: {
        id: p.incident.id,
        state: p.incident.resolvedAt === null ? 'open' : 'resolved',
        kind: p.incident.kind,
        kinds: p.incident.kinds,
        openedAt: p.incident.openedAt,
        firstFailureAt: p.incident.firstFailureAt,
        resolvedAt: p.incident.resolvedAt,
        failedChecks: p.incident.failedChecks,
        causes: p.incident.causes,
        url: link,
      },
      gateway: p.gateway,
      previousCause: p.previousCause ?? null,
    }),
  };
}

/** A Slack incoming-webhook message: the headline as `text` (notifications), details as blocks. */
function slack(headline: string, lines: string[], link: string | null) {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    text: escape(headline),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${escape(headline)}*` } },
      ...(lines.length ? [{ type: 'section', text: { type: 'mrkdwn', text: lines.map(escape).join('\n').slice(0, 2900) } }] : []),
      ...(link ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `<${link}|Incident page>` }] }] : []),
    ],
  };
}
