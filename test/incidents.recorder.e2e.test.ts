/**
 * Reminders, cause changes and maintenance silencing end to end through the recorder: rounds
 * written by hand (as the scheduler hands them over) on a clock the test moves, stored by the
 * real recorder, diagnosed, written to the outbox, reminded by housekeeping and mailed to a real
 * SMTP server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCheckRow } from '../src/checks/checks.table.js';
import type { Outcome } from '../src/probes/probes.types.js';
import type { SiteView } from '../src/sites/sites.repository.js';
import { createTestService, type TestService } from './support/service.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';

let t: TestService | undefined;
let smtp: TestSmtpServer | undefined;
afterEach(async () => {
  await t?.close();
  await smtp?.close();
  t = smtp = undefined;
});

const T0 = Date.parse('2030-05-06T08:00:00Z');
const MINUTE = 60_000;

function siteCheck(site: SiteView, at: number, outcome: Outcome): NewCheckRow {
  const bad = outcome === 'bad_gateway';
  return {
    siteId: site.id,
    target: 'site',
    targetName: site.name,
    startedAt: at,
    outcome,
    statusCode: bad ? 502 : 200,
    errorMessage: bad ? 'HTTP 502 Bad Gateway' : null,
    addresses: ['127.0.0.1'],
    address: '127.0.0.1',
    dnsMs: 1,
    connectMs: 2,
    tlsMs: null,
    ttfbMs: 20,
    totalMs: 25,
    gateway: bad ? 'nginx' : null,
  };
}

function upstreamCheck(site: SiteView, at: number, outcome: Outcome): NewCheckRow {
  const up = site.upstreams[0];
  const refused = outcome === 'conn_refused';
  return {
    siteId: site.id,
    target: String(up.id),
    targetName: up.name,
    startedAt: at,
    outcome,
    statusCode: refused ? null : 200,
    errorMessage: refused ? 'connect ECONNREFUSED 127.0.0.1:9001' : null,
    addresses: ['127.0.0.1'],
    address: '127.0.0.1',
    dnsMs: 1,
    connectMs: refused ? null : 2,
    tlsMs: null,
    ttfbMs: refused ? null : 15,
    totalMs: refused ? 3 : 18,
    gateway: null,
  };
}

describe('incidents through the recorder, on a moving clock', () => {
  it('opens, changes cause, reminds, is silenced by a maintenance window, and resolves: one thread of emails', async () => {
    smtp = await startSmtpServer();
    const clock = { t: T0, now: () => clock.t };
    const lines: { msg: string; fields: Record<string, unknown> }[] = [];
    const note = (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ msg, fields });
    const logger = { debug: () => undefined, info: note, warn: note, error: note };
    t = createTestService({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_GROUP_SECONDS: '0', REMINDER_MINUTES: '60' }, { clock }, logger);
    const created = await t.call('POST', '/api/sites', {
      name: 'shop',
      url: 'http://127.0.0.1:8080/',
      upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9001/health' }],
      intervalSeconds: 60,
      failureThreshold: 3,
      recoveryThreshold: 2,
      alertEmails: ['owner@example.com'],
    });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    const site = () => t!.svc.sites.get(id)!;

    /** One round at the clock's time, stored by the recorder; then the clock moves a minute. */
    const round = (siteOutcome: Outcome, upstreamOutcome: Outcome) => {
      const s = site();
      t!.svc.recorder.record([{ site: s, startedAt: clock.t, checks: [siteCheck(s, clock.t, siteOutcome), upstreamCheck(s, clock.t, upstreamOutcome)] }]);
      clock.t += MINUTE;
    };
    const send = () => t!.svc.sender.runOnce();
    const subjects = () => smtp!.messages.map((m) => m.subject);
    const openIncident = async () => (await t!.call('GET', `/api/incidents?siteId=${id}&state=open`)).body.incidents[0];

    // A healthy hour of baseline, then the upstream refuses and nginx answers 502.
    for (let i = 0; i < 10; i++) round('ok', 'ok');
    for (let i = 0; i < 3; i++) round('bad_gateway', 'conn_refused');
    await send();
    expect(subjects()).toEqual([expect.stringMatching(/^\[Gatewatch\] shop DOWN: 502 Bad Gateway - .*app-1/)]);
    const incident = await openIncident();
    expect(incident.causes[0].code).toBe('upstream_down');

    // The upstream answers again while nginx keeps saying 502: the probable cause changes.
    for (let i = 0; i < 6 && (await openIncident()).causes[0].code === 'upstream_down'; i++) round('bad_gateway', 'ok');
    expect((await openIncident()).causes[0].code).toBe('gateway_misconfig');
    await send();
    expect(subjects()).toHaveLength(2);
    expect(subjects()[1]).toMatch(/^\[Gatewatch\] shop: probable cause changed to /);
    expect(smtp.messages[1].text).toMatch(/Previously: .*app-1/);
    // The log: one info line when it opened and one when its cause changed (site, kind, top cause).
    expect(lines.filter((l) => l.msg.startsWith('incident ')).map((l) => [l.msg, l.fields.site, l.fields.kind, l.fields.cause])).toEqual([
      ['incident opened', 'shop', 'bad_gateway', 'upstream_down'],
      ['incident cause changed', 'shop', 'bad_gateway', 'gateway_misconfig'],
    ]);

    // An hour later, still failing: housekeeping writes a reminder.
    clock.t += 60 * MINUTE;
    round('bad_gateway', 'ok');
    await t.svc.housekeeping.runOnce();
    await send();
    expect(subjects()).toHaveLength(3);
    expect(subjects()[2]).toMatch(/^\[Gatewatch\] shop still DOWN \(1h \d+m\): 502 Bad Gateway/);

    // A maintenance window from now: no reminder, and the recovery inside it is not mailed either.
    const window = { from: clock.t - MINUTE, to: clock.t + 3 * 60 * MINUTE, reason: 'gateway migration' };
    expect((await t.call('PATCH', `/api/sites/${id}`, { maintenance: [window] })).status).toBe(200);
    clock.t += 61 * MINUTE;
    round('bad_gateway', 'ok');
    await t.svc.housekeeping.runOnce();
    round('ok', 'ok');
    round('ok', 'ok');
    await send();
    expect(await openIncident()).toBeUndefined();
    const [resolved] = (await t.call('GET', `/api/incidents?siteId=${id}`)).body.incidents;
    expect(resolved).toMatchObject({ id: incident.id, state: 'resolved' });
    expect(subjects()).toHaveLength(3);
    const alerts = (await t.call('GET', `/api/alerts?incidentId=${incident.id}`)).body.alerts as { kind: string; state: string; cancelReason: string | null }[];
    expect(alerts.filter((a) => a.kind === 'resolved')).toEqual([expect.objectContaining({ state: 'cancelled', cancelReason: 'maintenance' })]);
    expect(alerts.filter((a) => a.kind === 'reminder' && a.state !== 'sent')).toEqual([]);

    // The three emails are one thread: each replies to the one before.
    const ids = smtp.messages.map((m) => m.header('message-id'));
    expect(new Set(ids).size).toBe(3);
    expect(smtp.messages[1].header('in-reply-to')).toBe(ids[0]);
    expect(smtp.messages[2].header('in-reply-to')).toBe(ids[1]);
    expect(smtp.messages[2].header('references')).toBe(`${ids[0]} ${ids[1]}`);

    // A new failure inside the window opens a silenced incident: recorded, nobody mailed.
    for (let i = 0; i < 3; i++) round('bad_gateway', 'conn_refused');
    await send();
    const silenced = await openIncident();
    expect(silenced).toBeDefined();
    expect(silenced.id).not.toBe(incident.id);
    expect(subjects()).toHaveLength(3);
    const quiet = (await t.call('GET', `/api/alerts?incidentId=${silenced.id}`)).body.alerts as { kind: string; state: string; cancelReason: string | null }[];
    expect(quiet).toEqual([expect.objectContaining({ kind: 'opened', state: 'cancelled', cancelReason: 'maintenance' })]);
  });

  it('7-day and 30-day uptime from the rollups: old rounds count once folded into hours, after their raw checks are gone', async () => {
    const DAY = 24 * 60 * MINUTE;
    const clock = { t: T0 - 20 * DAY, now: () => clock.t };
    t = createTestService({ ALERT_TO: 'ops@example.com', RETENTION_RAW_HOURS: '48' }, { clock });
    const created = await t.call('POST', '/api/sites', { name: 'shop', url: 'http://127.0.0.1:8080/', upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9001/health' }], failureThreshold: 10 });
    const id = created.body.id as number;
    const tick = (await t.call('POST', '/api/sites', { name: 'tick', url: 'http://127.0.0.1:8081/', upstreams: [{ name: 'app-2', url: 'http://127.0.0.1:9002/health' }] })).body.id as number;
    const round = (siteOutcome: Outcome) => {
      const s = t!.svc.sites.get(id)!;
      t!.svc.recorder.record([{ site: s, startedAt: clock.t, checks: [siteCheck(s, clock.t, siteOutcome), upstreamCheck(s, clock.t, 'ok')] }]);
      clock.t += MINUTE;
    };
    /**
     * Time passes; housekeeping folds the closed hours and drops raw checks past retention. It
     * catches up on a backlog of hours a batch per run, as its every-minute runs would.
     */
    const later = async (ms: number) => {
      clock.t += ms;
      // Another site's round: the recorder writes every minute that has closed (its timer would, too).
      const other = t!.svc.sites.get(tick)!;
      t!.svc.recorder.record([{ site: other, startedAt: clock.t, checks: [siteCheck(other, clock.t, 'ok'), upstreamCheck(other, clock.t, 'ok')] }]);
      for (let i = 0; i < 30; i++) await t!.svc.housekeeping.runOnce();
    };

    // 20 days ago: two failing rounds (HTTP 500 counts as down). 3 days ago and today: two good ones each.
    round('http_error');
    round('http_error');
    await later(2 * 60 * MINUTE);
    await later(17 * DAY - 2 * 60 * MINUTE);
    round('ok');
    round('ok');
    await later(3 * DAY);
    round('ok');
    round('ok');

    // The raw checks of 20 and 3 days ago are gone; the rollups keep their count.
    const raw = (await t.call('GET', `/api/sites/${id}/checks?limit=100&target=site`)).body.checks as { startedAt: number }[];
    expect(raw).toHaveLength(2);
    const status = (await t.call('GET', `/api/status/${id}`)).body;
    expect(status.uptime).toEqual({ '24h': 100, '7d': 100, '30d': 66.667 });
    const listed = (await t.call('GET', '/api/status')).body.sites.find((x: { id: number }) => x.id === id);
    expect(listed.uptime).toEqual(status.uptime);
  });
});
