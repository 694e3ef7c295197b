import { describe, expect, it } from 'vitest';
import { assertHeaderSafe, type OutgoingEmail } from '../src/alerts/alerts.mailer.js';
import { escapeHtml, headerSafe, renderAlertEmail, renderSubject } from '../src/alerts/alerts.render.js';
import type { AlertMessage, AlertPayload } from '../src/alerts/alerts.types.js';
import type { AlertKind } from '../src/alerts/alerts.table.js';

const T0 = Date.parse('2030-03-04T12:00:00Z');

const payload = (over: Partial<AlertPayload['incident']> = {}, site = 'shop'): AlertPayload => ({
  site: { id: 1, name: site, url: 'https://shop.example.com/' },
  incident: {
    id: 7,
    kind: 'bad_gateway',
    kinds: ['bad_gateway'],
    openedAt: T0,
    firstFailureAt: T0 - 60_000,
    resolvedAt: null,
    failedChecks: 3,
    causes: [
      {
        code: 'upstream_down',
        confidence: 0.912,
        summary: 'upstream app-1 refuses connections',
        evidence: ['upstream app-1 refused 5 of 5 connections since 11:59:00Z'],
        advice: ['Start app-1 again.'],
      },
    ],
    timeline: [{ at: T0, type: 'opened', message: 'opened after 3 failed checks' }],
    ...over,
  },
  gateway: 'haproxy',
  at: T0,
});

const alert = (kind: AlertKind, p: AlertPayload = payload(), id = 1): AlertMessage => ({ id, kind, payload: p });

describe('alert rendering', () => {
  it('words each kind of subject', () => {
    expect(renderSubject(alert('opened'))).toBe('[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    const later = { ...payload(), at: T0 + 3_600_000 + 60_000 };
    expect(renderSubject(alert('reminder', later))).toBe(
      '[Gatewatch] shop still DOWN (1h 2m): 502 Bad Gateway - upstream app-1 refuses connections',
    );
    expect(renderSubject(alert('cause_changed'))).toBe('[Gatewatch] shop: probable cause changed to upstream app-1 refuses connections');
    expect(renderSubject(alert('resolved', payload({ resolvedAt: T0 + 190_000 })))).toBe(
      '[Gatewatch] shop RESOLVED after 4m 10s (cause: upstream app-1 refuses connections)',
    );
    expect(renderSubject(alert('opened', payload({ kind: 'conn_refused', causes: [] })))).toBe('[Gatewatch] shop DOWN: connection refused');
  });

  it('shows confidence as a percentage and names the gateway product', () => {
    const email = renderAlertEmail([alert('opened')], 'Sent to ops@example.com.');
    for (const part of [email.text, email.html]) {
      expect(part).toContain('91%');
      expect(part).toContain('HAProxy');
      expect(part).toContain('Start app-1 again.');
    }
  });

  it('summarises a group by kind and counts distinct sites', () => {
    const email = renderAlertEmail(
      [
        alert('opened', payload({}, 'a'), 1),
        alert('resolved', { ...payload({ resolvedAt: T0 + 60_000 }, 'b'), site: { id: 2, name: 'b', url: 'http://b/' } }, 2),
        // Site a again, about an older incident still open.
        alert('reminder', payload({ id: 5 }, 'a'), 3),
      ],
      '',
    );
    expect(email.subject).toBe('[Gatewatch] 2 sites: 1 DOWN, 1 still DOWN, 1 RESOLVED');
    expect(email.text.indexOf('a DOWN')).toBeLessThan(email.text.indexOf('b RESOLVED'));
  });

  it('keeps control characters out of subjects and lines, and escapes HTML', () => {
    const evil = alert('opened', payload({}, 'shop\r\nBcc: x@y\u0085\u2028<b>'));
    const email = renderAlertEmail([evil], '');
    expect(email.subject).toBe('[Gatewatch] shop Bcc: x@y <b> DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    expect(email.subject).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(email.text.split('\n')[0]).toBe('shop Bcc: x@y <b> DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    expect(email.html).toContain('shop Bcc: x@y &lt;b&gt; DOWN');
    expect(email.html).not.toContain('<b>');
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    expect(headerSafe('x'.repeat(500)).length).toBeLessThanOrEqual(200);
  });

  it('refuses to hand nodemailer a header with a line break', () => {
    const email: OutgoingEmail = {
      from: 'gatewatch@localhost',
      to: ['ops@example.com'],
      subject: 'fine',
      text: 'line\r\nbreaks are fine in bodies',
      html: '<p>x</p>',
      messageId: '<a@b>',
      headers: {},
      date: new Date(T0),
    };
    expect(() => assertHeaderSafe(email)).not.toThrow();
    expect(() => assertHeaderSafe({ ...email, subject: 'a\r\nBcc: evil@x' })).toThrow(/subject/);
    expect(() => assertHeaderSafe({ ...email, to: ['ops@example.com\nBcc: evil@x'] })).toThrow(/to/);
    expect(() => assertHeaderSafe({ ...email, headers: { 'X-Ids': '1\r\n2' } })).toThrow(/X-Ids/);
  });
});
