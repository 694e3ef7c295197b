import { escapeHtml, headerSafe, inline, type RenderedEmail } from '../alerts/alerts.render.js';
import type { AlertRow } from '../alerts/alerts.table.js';
import type { CertAlertPayload } from '../alerts/alerts.types.js';

const DAY = 86_400_000;

/** The payload of a cert_expiring outbox row (stored in the column typed for incident alerts). */
export const certPayloadOf = (row: Pick<AlertRow, 'payload'>): CertAlertPayload => row.payload as unknown as CertAlertPayload;

const utc = (at: number) => {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
};

/** Whole days left, rounded down (0 on the last day). */
export const daysLeft = (p: CertAlertPayload) => Math.max(0, Math.floor((p.certificate.expiresAt - p.at) / DAY));

const targetWords = (p: CertAlertPayload) =>
  p.certificate.target === 'site' ? inline(p.site.name, 100) : `${inline(p.site.name, 100)} (upstream ${inline(p.certificate.targetName, 100)})`;

/** One line: what expires when. */
export function certHeadline(p: CertAlertPayload): string {
  const days = daysLeft(p);
  const when = days === 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`;
  return `${p.reminder ? 'Reminder: ' : ''}TLS certificate of ${targetWords(p)} expires ${when} (${utc(p.certificate.expiresAt)})`;
}

export const certSubject = (p: CertAlertPayload) => headerSafe(`[Gatewatch] ${certHeadline(p)}`);

const ADVICE =
  'Renew the certificate and reload the server that presents it (certbot renew, your ACME client, or your CA), then check that the new one is served: Gatewatch reads it on every check and stops warning once the expiry moves out of the window.';

/** The text lines of one cert_expiring alert. */
export function certLines(p: CertAlertPayload): string[] {
  return [
    certHeadline(p),
    '',
    `Site:      ${inline(p.site.name, 100)} <${inline(p.site.url, 2048)}>`,
    `Target:    ${p.certificate.target === 'site' ? 'the site URL' : `upstream ${inline(p.certificate.targetName, 100)}`} <${inline(p.certificate.url, 2048)}>`,
    `Expires:   ${utc(p.certificate.expiresAt)} (${daysLeft(p)} days from ${utc(p.at)})`,
    `Issuer:    ${p.certificate.issuer ? inline(p.certificate.issuer, 200) : 'unknown'}`,
    '',
    ADVICE,
  ];
}

/** One email for cert_expiring alerts that share a recipient list. */
export function renderCertEmail(rows: { id: number; payload: CertAlertPayload }[], footer: string): RenderedEmail {
  const foot = `-- \nGatewatch alert${rows.length === 1 ? '' : 's'} ${rows.map((r) => `#${r.id}`).join(', ')}. ${inline(footer)}`;
  const sections = rows.map((r) => certLines(r.payload));
  const subject =
    rows.length === 1 ? certSubject(rows[0].payload) : headerSafe(`[Gatewatch] ${rows.length} TLS certificates expire soon`);
  const text = `${sections.map((s) => s.join('\n')).join(`\n\n${'='.repeat(72)}\n`)}\n\n${foot}\n`;
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"></head><body style="font-family:sans-serif">\n${sections
    .map((s) => `<h2>${escapeHtml(s[0])}</h2>\n<pre>${escapeHtml(s.slice(2).join('\n'))}</pre>`)
    .join('<hr>')}<hr><p><small>${escapeHtml(foot.slice(4))}</small></p>\n</body></html>\n`;
  return { subject, text, html };
}
