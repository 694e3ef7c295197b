import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlertSender, createAlertsOutbox, type AlertSender, type AlertSiteInfo } from '../src/alerts/index.js';
import { alerts, type AlertRow } from '../src/alerts/alerts.table.js';
import { closeDatabase, openDatabase, type Db } from '../src/db/client.js';
import type { Cause } from '../src/diagnosis/diagnosis.types.js';
import { incidents, type IncidentRow } from '../src/incidents/incidents.table.js';
import { recordingLogger } from './support/logger.js';
import { sites, type MaintenanceWindow, type SiteRow } from '../src/sites/sites.table.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';
import { createSelfSignedCert } from './support/tls.js';
import { waitFor } from './support/wait.js';

// ---- fixtures -----------------------------------------------------------------------------

const T0 = Date.parse('2030-03-04T12:00:00Z');
const GROUP_S = 30;
const GROUP_MS = GROUP_S * 1000;

class FakeClock {
  constructor(public t = T0) {}
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

const upstreamDown: Cause = {
  code: 'upstream_down',
  confidence: 0.86,
  summary: 'upstream app-1 refuses connections',
  evidence: ['upstream app-1 refused 5 of 5 connections since 12:03:10Z', 'nginx answered 502 Bad Gateway to 3 of 3 checks'],
  advice: ['Start app-1 again or check why its process exited.', "Read nginx's error log for connect() failures."],
};
const overload: Cause = {
  code: 'overload',
  confidence: 0.4,
  summary: 'upstream app-1 is overloaded',
  evidence: ['ttfb of app-1 rose from 40 ms to 2.1 s before the streak'],
  advice: ['Look at CPU and memory of app-1.'],
};
const misconfig: Cause = {
  code: 'gateway_misconfig',
  confidence: 0.7,
  summary: 'every upstream answers directly, yet the gateway says 502',
  evidence: ['app-1 answered 200 to 4 of 4 direct checks while nginx answered 502'],
  advice: ['Compare the proxy_pass target with the upstream address.'],
};

function tempDbPath() {
  const dir = mkdtempSync(join(tmpdir(), 'gw-alerts-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'gatewatch.db');
}

function insertSite(db: Db, fields: Partial<typeof sites.$inferInsert> = {}): SiteRow {
  return db
    .insert(sites)
    .values({
      name: 'shop',
      url: 'https://shop.example.com/',
      intervalSeconds: 60,
      timeoutMs: 10_000,
      failureThreshold: 3,
      recoveryThreshold: 2,
      expectedStatus: [200, 299],
      alertEmails: ['ops@example.com'],
      maintenance: [],
      paused: false,
      state: 'down',
      createdAt: T0 - 86_400_000,
      updatedAt: T0 - 86_400_000,
      ...fields,
    })
    .returning()
    .get();
}

function insertIncident(db: Db, siteId: number, fields: Partial<typeof incidents.$inferInsert> = {}): IncidentRow {
  const openedAt = fields.openedAt ?? T0;
  return db
    .insert(incidents)
    .values({
      siteId,
      state: 'open',
      kind: 'bad_gateway',
      kinds: ['bad_gateway'],
      openedAt,
      firstFailureAt: openedAt - 120_000,
      resolvedAt: null,
      failedChecks: 3,
      goodStreak: 0,
      causes: [upstreamDown, overload],
      timeline: [
        { at: openedAt - 120_000, type: 'first_failure', message: 'nginx answered 502 Bad Gateway' },
        { at: openedAt, type: 'opened', message: 'opened after 3 failed checks (502 Bad Gateway)' },
      ],
      silenced: false,
      updatedAt: openedAt,
      ...fields,
    })
    .returning()
    .get();
}

/** Resolves an incident the way the incidents service would, returning the new row. */
function resolveIncident(db: Db, incident: IncidentRow, at: number): IncidentRow {
  return db
    .update(incidents)
    .set({
      state: 'resolved',
      resolvedAt: at,
      timeline: [...incident.timeline, { at, type: 'resolved', message: 'resolved after 2 good checks' }],
      updatedAt: at,
    })
    .where(eq(incidents.id, incident.id))
    .returning()
    .get();
}

function changeCauses(db: Db, incident: IncidentRow, causes: Cause[]): IncidentRow {
  return db.update(incidents).set({ causes }).where(eq(incidents.id, incident.id)).returning().get();
}

const rows = (db: Db): AlertRow[] => db.select().from(alerts).orderBy(alerts.id).all();
const siteInfo = (site: SiteRow): AlertSiteInfo => site;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Harness {
  db: Db;
  path: string;
  clock: FakeClock;
  smtp: TestSmtpServer;
  outbox: ReturnType<typeof createAlertsOutbox>;
  sender: AlertSender;
  log: ReturnType<typeof recordingLogger>;
  newSender(extra?: Partial<Parameters<typeof createAlertSender>[0]>): AlertSender;
}

async function harness(
  opts: {
    alertTo?: string[];
    groupSeconds?: number;
    reminderMinutes?: number;
    smtp?: Parameters<typeof startSmtpServer>[0];
    smtpUrl?: (smtp: TestSmtpServer) => string | undefined;
    tls?: Parameters<typeof createAlertSender>[0]['tls'];
  } = {},
): Promise<Harness> {
  const path = tempDbPath();
  const db = openDatabase(path);
  cleanups.push(() => closeDatabase(db));
  const clock = new FakeClock();
  const smtp = await startSmtpServer(opts.smtp);
  cleanups.push(() => smtp.close());
  const log = recordingLogger();
  const outbox = createAlertsOutbox(db, {
    alertTo: opts.alertTo ?? ['oncall@example.com'],
    groupSeconds: opts.groupSeconds ?? GROUP_S,
    reminderMinutes: opts.reminderMinutes ?? 60,
    clock,
  });
  const newSender = (extra: Partial<Parameters<typeof createAlertSender>[0]> = {}) => {
    const sender = createAlertSender({
      db,
      clock,
      logger: log.logger,
      smtpUrl: opts.smtpUrl ? opts.smtpUrl(smtp) : smtp.url,
      from: 'gatewatch@monitor.example',
      tls: opts.tls,
      pollMs: 20,
      ...extra,
    });
    cleanups.push(() => sender.stop());
    return sender;
  };
  return { db, path, clock, smtp, outbox, sender: newSender(), log, newSender };
}

// ---- tests --------------------------------------------------------------------------------

describe('alert emails', () => {
  it('sends an opened alert to the site\'s own addresses after the grouping window, with text and HTML', async () => {
    const h = await harness();
    const site = insertSite(h.db, { alertEmails: ['ops@example.com', 'dev@example.com'] });
    const incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(siteInfo(site), incident, 'opened');

    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 0 });
    expect(h.smtp.messages).toHaveLength(0);

    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    expect(h.smtp.messages).toHaveLength(1);
    const [m] = h.smtp.messages;
    expect(m.envelopeTo.sort()).toEqual(['dev@example.com', 'ops@example.com']);
    expect(m.envelopeFrom).toBe('gatewatch@monitor.example');
    expect(m.subject).toBe('[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    expect(m.header('auto-submitted')).toBe('auto-generated');
    for (const part of [m.text, m.html]) {
      expect(part).toContain('upstream app-1 refuses connections');
      expect(part).toContain('86%');
      expect(part).toContain('40%');
      expect(part).toContain('upstream app-1 refused 5 of 5 connections since 12:03:10Z');
      expect(part).toContain('Start app-1 again or check why its process exited.');
      expect(part).toContain('nginx (the hop that returned the errors)');
      expect(part).toContain('opened after 3 failed checks');
      expect(part).toContain(`/api/incidents/${incident.id}`);
      expect(part).toContain('https://shop.example.com/');
    }
    expect(m.html).toMatch(/<ol>.*<li>/s);

    const [row] = rows(h.db);
    expect(row).toMatchObject({ state: 'sent', attempts: 1, sentAt: h.clock.t, lastError: null });
    expect(row.messageId).toMatch(/^<gatewatch\.\d+\.[0-9a-f]{16}@monitor\.example>$/);
    expect(m.header('message-id')).toBe(row.messageId);

    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 0 });
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('uses ALERT_TO for a site without its own addresses, and records a site with nobody to tell', async () => {
    const h = await harness({ alertTo: ['oncall@example.com'] });
    const a = insertSite(h.db, { name: 'blog', alertEmails: [] });
    h.outbox.enqueue(siteInfo(a), insertIncident(h.db, a.id), 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.envelopeTo)).toEqual([['oncall@example.com']]);

    const nobody = createAlertsOutbox(h.db, { alertTo: [], groupSeconds: GROUP_S, reminderMinutes: 60, clock: h.clock });
    const b = insertSite(h.db, { name: 'wiki', alertEmails: [] });
    nobody.enqueue(siteInfo(b), insertIncident(h.db, b.id), 'opened');
    expect(rows(h.db).at(-1)).toMatchObject({ siteId: b.id, state: 'cancelled', cancelReason: 'no recipients', recipients: [] });
  });

  it('tells each change of one incident: opened, cause changed, reminder, resolved', async () => {
    const h = await harness({ reminderMinutes: 60 });
    const site = insertSite(h.db);
    let incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();

    h.clock.advance(10 * 60_000);
    incident = changeCauses(h.db, incident, [misconfig, upstreamDown]);
    h.outbox.enqueue(site, incident, 'cause_changed');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();

    h.clock.advance(60 * 60_000);
    expect(h.outbox.enqueueReminders((id) => (id === site.id ? site : undefined))).toBe(1);
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();

    h.clock.advance(5 * 60_000);
    incident = resolveIncident(h.db, incident, h.clock.t);
    h.outbox.enqueue(site, incident, 'resolved');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();

    const subjects = h.smtp.messages.map((m) => m.subject);
    // Down from the first failure (2 min before opening) to the resolve: 2m + 30s + 10m + 30s + 60m + 30s + 5m.
    expect(subjects).toEqual([
      '[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections',
      '[Gatewatch] shop: probable cause changed to every upstream answers directly, yet the gateway says 502',
      '[Gatewatch] shop still DOWN (1h 13m): 502 Bad Gateway - every upstream answers directly, yet the gateway says 502',
      '[Gatewatch] shop RESOLVED after 1h 18m (cause: every upstream answers directly, yet the gateway says 502)',
    ]);
    expect(h.smtp.messages[1].text).toContain('Previously: upstream app-1 refuses connections');
    expect(h.smtp.messages[3].text).toContain('down for 1h 18m');
    expect(h.smtp.messages).toHaveLength(4);
    expect(h.smtp.messages.every((m) => m.text.length > 0 && m.html.length > 0)).toBe(true);
    expect(h.smtp.messages.every((m) => m.envelopeTo.join() === 'ops@example.com')).toBe(true);
  });

  it('survives an SMTP outage: retries with back-off and delivers exactly once when the server is back', async () => {
    const h = await harness({ smtp: { down: true } });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);

    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 1 });
    let [row] = rows(h.db);
    expect(row).toMatchObject({ state: 'pending', attempts: 1, lastAttemptAt: h.clock.t });
    expect(row.lastError).toMatch(/ESOCKET|ECONNREFUSED/);
    expect(row.dueAt - row.lastAttemptAt!).toBe(5_000);

    // Not due yet: nothing is tried.
    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 0 });
    h.clock.advance(5_000);
    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 1 });
    [row] = rows(h.db);
    expect(row).toMatchObject({ state: 'pending', attempts: 2 });
    expect(row.dueAt - row.lastAttemptAt!).toBe(10_000);

    await h.smtp.up();
    h.sender.start();
    h.clock.advance(10_000);
    await waitFor(() => rows(h.db)[0].state === 'sent', { timeoutMs: 15_000, message: 'alert not sent after the outage' });
    // Give the polling loop more turns: still exactly one message.
    const polls = h.smtp.connections;
    h.clock.advance(3_600_000);
    await h.sender.runOnce();
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(1);
    expect(h.smtp.connections).toBe(polls);
    expect(rows(h.db)[0]).toMatchObject({ state: 'sent', attempts: 3 });
    expect(rows(h.db)[0].lastError).toMatch(/ESOCKET|ECONNREFUSED/);
  });

  it('caps the back-off at five minutes', async () => {
    const h = await harness({ smtp: { down: true } });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      h.clock.t = rows(h.db)[0].dueAt;
      await h.sender.runOnce();
      const row = rows(h.db)[0];
      delays.push(row.dueAt - row.lastAttemptAt!);
    }
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 300, 300, 300].map((s) => s * 1000));
  });

  it('delivers alerts left pending by a restart, once', async () => {
    const h = await harness({ smtpUrl: () => undefined });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    await h.sender.stop();
    closeDatabase(h.db);

    const db = openDatabase(h.path);
    cleanups.push(() => closeDatabase(db));
    h.clock.advance(GROUP_MS);
    const again = createAlertSender({ db, clock: h.clock, logger: h.log.logger, smtpUrl: h.smtp.url, from: 'gatewatch@monitor.example' });
    cleanups.push(() => again.stop());
    expect(await again.runOnce()).toEqual({ sent: 1, failed: 0 });
    expect(await again.runOnce()).toEqual({ sent: 0, failed: 0 });
    expect(h.smtp.messages).toHaveLength(1);
    expect(rows(db)[0].state).toBe('sent');
  });

  it('never sends an accepted message again after a restart', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(1);
    await h.sender.stop();
    closeDatabase(h.db);

    const db = openDatabase(h.path);
    cleanups.push(() => closeDatabase(db));
    h.clock.advance(24 * 3_600_000);
    const again = createAlertSender({ db, clock: h.clock, logger: h.log.logger, smtpUrl: h.smtp.url, from: 'gatewatch@monitor.example' });
    cleanups.push(() => again.stop());
    expect(await again.runOnce()).toEqual({ sent: 0, failed: 0 });
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('groups the alerts of 30 sites for one recipient list into one email listing every site', async () => {
    const h = await harness({ alertTo: ['oncall@example.com'] });
    const all = Array.from({ length: 30 }, (_, i) => insertSite(h.db, { name: `site-${String(i + 1).padStart(2, '0')}`, alertEmails: [] }));
    // Two of them were already down (and told) before; they recover in this window.
    const earlier = all.slice(28).map((site) => {
      const incident = insertIncident(h.db, site.id, { openedAt: T0 - 3_600_000 });
      h.outbox.enqueue(site, incident, 'opened');
      return { site, incident };
    });
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(1);
    h.smtp.messages.length = 0;

    h.clock.advance(60_000);
    for (const site of all.slice(0, 28)) h.outbox.enqueue(site, insertIncident(h.db, site.id, { openedAt: h.clock.t }), 'opened');
    for (const { site, incident } of earlier) h.outbox.enqueue(site, resolveIncident(h.db, incident, h.clock.t), 'resolved');
    // Another recipient list gets its own email.
    const other = insertSite(h.db, { name: 'intranet', alertEmails: ['it@example.com'] });
    h.outbox.enqueue(other, insertIncident(h.db, other.id, { openedAt: h.clock.t }), 'opened');

    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 2, failed: 0 });
    expect(h.smtp.messages).toHaveLength(2);
    const group = h.smtp.messages.find((m) => m.envelopeTo.join() === 'oncall@example.com')!;
    expect(group.subject).toBe('[Gatewatch] 30 sites: 28 DOWN, 2 RESOLVED');
    for (const site of all) {
      expect(group.text).toContain(site.name);
      expect(group.html).toContain(site.name);
    }
    expect(group.text).toContain('site-29 RESOLVED after 1h 3m');
    const single = h.smtp.messages.find((m) => m.envelopeTo.join() === 'it@example.com')!;
    expect(single.subject).toBe('[Gatewatch] intranet DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    expect(rows(h.db).filter((r) => r.state === 'sent')).toHaveLength(33);
  });

  it('sends nothing for an incident that opens and resolves inside the grouping window', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    const incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    h.clock.advance(GROUP_MS - 1000);
    h.outbox.enqueue(site, resolveIncident(h.db, incident, h.clock.t), 'resolved');
    h.clock.advance(3_600_000);
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(0);
    expect(rows(h.db).map((r) => [r.kind, r.state, r.cancelReason])).toEqual([
      ['opened', 'cancelled', 'resolved within the grouping window'],
      ['resolved', 'cancelled', 'resolved within the grouping window'],
    ]);
  });

  it('folds an opening that could not be delivered into the resolved email', async () => {
    const h = await harness({ smtp: { down: true } });
    const site = insertSite(h.db);
    const incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    h.clock.advance(5 * 60_000);
    h.outbox.enqueue(site, resolveIncident(h.db, incident, h.clock.t), 'resolved');
    await h.smtp.up();
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject)).toEqual([
      '[Gatewatch] shop RESOLVED after 7m 30s (cause: upstream app-1 refuses connections)',
    ]);
    expect(h.smtp.messages[0].text).toContain('opened 2030-03-04 12:00:00Z');
    expect(rows(h.db).map((r) => [r.kind, r.state, r.cancelReason])).toEqual([
      ['opened', 'cancelled', 'folded into the resolved alert'],
      ['resolved', 'sent', null],
    ]);
  });

  it('lets a pending opening carry a cause change, and a newer cause change replace an unsent one', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    let incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    h.clock.advance(10_000);
    incident = changeCauses(h.db, incident, [misconfig]);
    h.outbox.enqueue(site, incident, 'cause_changed');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject)).toEqual([
      '[Gatewatch] shop DOWN: 502 Bad Gateway - every upstream answers directly, yet the gateway says 502',
    ]);

    incident = changeCauses(h.db, incident, [overload]);
    h.outbox.enqueue(site, incident, 'cause_changed');
    h.clock.advance(5_000);
    incident = changeCauses(h.db, incident, [upstreamDown]);
    h.outbox.enqueue(site, incident, 'cause_changed');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject).slice(1)).toEqual([
      '[Gatewatch] shop: probable cause changed to upstream app-1 refuses connections',
    ]);
    expect(h.smtp.messages[1].text).toContain('Previously: every upstream answers directly, yet the gateway says 502');
    expect(rows(h.db).map((r) => [r.kind, r.state, r.cancelReason])).toEqual([
      ['opened', 'sent', null],
      ['cause_changed', 'cancelled', 'folded into the pending opened alert'],
      ['cause_changed', 'cancelled', 'superseded by a newer cause change'],
      ['cause_changed', 'sent', null],
    ]);
  });

  it('folds a reminder that could not be delivered into the resolved email', async () => {
    const h = await harness({ reminderMinutes: 60 });
    const site = insertSite(h.db);
    const incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    await h.smtp.down();
    h.clock.advance(60 * 60_000);
    expect(h.outbox.enqueueReminders(() => site)).toBe(1);
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 1 });
    h.clock.advance(60_000);
    h.outbox.enqueue(site, resolveIncident(h.db, incident, h.clock.t), 'resolved');
    await h.smtp.up();
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject)).toEqual([
      '[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections',
      '[Gatewatch] shop RESOLVED after 1h 4m (cause: upstream app-1 refuses connections)',
    ]);
    expect(rows(h.db).map((r) => [r.kind, r.state, r.cancelReason])).toEqual([
      ['opened', 'sent', null],
      ['reminder', 'cancelled', 'folded into the resolved alert'],
      ['resolved', 'sent', null],
    ]);
  });

  it('commits the alert with the incident change, or not at all', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    expect(() =>
      h.db.transaction(() => {
        h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
        throw new Error('the round failed after the incident was written');
      }),
    ).toThrow(/round failed/);
    expect(h.db.select().from(incidents).all()).toHaveLength(0);
    expect(rows(h.db)).toHaveLength(0);

    h.db.transaction(() => h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened'));
    expect(rows(h.db)).toHaveLength(1);
  });

  it('stays silent about incidents inside maintenance windows', async () => {
    const h = await harness();
    const window: MaintenanceWindow = { from: T0 - 60_000, to: T0 + 3_600_000, reason: 'upgrade' };
    const site = insertSite(h.db, { maintenance: [window] });

    // Opened inside the window (the service marks it silenced): nothing now, nothing after it.
    const silenced = insertIncident(h.db, site.id, { silenced: true });
    h.outbox.enqueue(site, silenced, 'opened');
    h.clock.t = window.to + 60_000;
    h.outbox.enqueue(site, changeCauses(h.db, silenced, [misconfig]), 'cause_changed');
    expect(h.outbox.enqueueReminders(() => site)).toBe(0);
    h.clock.t = window.to + 2 * 3_600_000;
    expect(h.outbox.enqueueReminders(() => site)).toBe(0);
    h.outbox.enqueue(site, resolveIncident(h.db, silenced, h.clock.t), 'resolved');
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(0);
    expect(rows(h.db).length).toBeGreaterThan(0);
    expect(rows(h.db).every((r) => r.state === 'cancelled' && r.cancelReason === 'maintenance')).toBe(true);

    // Opened (and told) before a window, recovered inside it: no resolved email.
    const other = insertSite(h.db, { name: 'api', maintenance: [] });
    h.clock.t = T0 + 10 * 3_600_000;
    const before = insertIncident(h.db, other.id, { openedAt: h.clock.t });
    h.outbox.enqueue(other, before, 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject)).toEqual(['[Gatewatch] api DOWN: 502 Bad Gateway - upstream app-1 refuses connections']);
    const windowed = { ...other, maintenance: [{ from: h.clock.t, to: h.clock.t + 3_600_000 }] };
    h.clock.advance(10 * 60_000);
    h.outbox.enqueue(windowed, resolveIncident(h.db, before, h.clock.t), 'resolved');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(1);
    expect(rows(h.db).at(-1)).toMatchObject({ kind: 'resolved', state: 'cancelled', cancelReason: 'maintenance' });
  });

  it('keeps header injection out of the message: no extra header, no extra recipient', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    // The API refuses control characters in names; force one past it, into the stored payload.
    const [row] = rows(h.db);
    const evil = 'shop\r\nBcc: evil@x.example\r\nX-Injected: yes';
    h.db.update(sites).set({ name: evil }).where(eq(sites.id, site.id)).run();
    h.db
      .update(alerts)
      .set({ payload: { ...row.payload, site: { ...row.payload.site, name: evil } } })
      .where(eq(alerts.id, row.id))
      .run();
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });

    const [m] = h.smtp.messages;
    expect(m.envelopeTo).toEqual(['ops@example.com']);
    expect(m.header('bcc')).toBeUndefined();
    expect(m.header('x-injected')).toBeUndefined();
    expect(m.headers.map(([name]) => name)).not.toContain('bcc');
    expect(m.raw).not.toMatch(/^Bcc:/im);
    expect(m.subject).toBe('[Gatewatch] shop Bcc: evil@x.example X-Injected: yes DOWN: 502 Bad Gateway - upstream app-1 refuses connections');
    expect(m.text).not.toMatch(/^Bcc:/m);
  });

  it('escapes user-supplied text in the HTML part', async () => {
    const h = await harness();
    const site = insertSite(h.db, { name: '<script>alert(1)</script>', url: 'https://shop.example.com/?a=1&b="2"' });
    const evidence: Cause = { ...upstreamDown, evidence: ['upstream <img src=x onerror=alert(2)> refused'] };
    h.outbox.enqueue(site, insertIncident(h.db, site.id, { causes: [evidence] }), 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    const [m] = h.smtp.messages;
    expect(m.html).not.toContain('<script>');
    expect(m.html).not.toContain('<img');
    expect(m.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(m.html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(m.html).toContain('https://shop.example.com/?a=1&amp;b=&quot;2&quot;');
    expect(m.text).toContain('<script>alert(1)</script>');
    expect(m.subject).toContain('<script>alert(1)</script> DOWN');
  });

  it('reminds every REMINDER_MINUTES while an incident stays open, and never with 0', async () => {
    const h = await harness({ reminderMinutes: 60 });
    const site = insertSite(h.db);
    const lookup = (id: number) => (id === site.id ? site : undefined);
    const incident = insertIncident(h.db, site.id);
    h.outbox.enqueue(site, incident, 'opened');
    // The opening is still pending: no reminder on top of it, however long it waits.
    h.clock.advance(2 * 3_600_000);
    expect(h.outbox.enqueueReminders(lookup)).toBe(0);
    await h.sender.runOnce();
    const sentAt = h.clock.t;

    h.clock.t = sentAt + 59 * 60_000;
    expect(h.outbox.enqueueReminders(lookup)).toBe(0);
    h.clock.t = sentAt + 60 * 60_000;
    expect(h.outbox.enqueueReminders(lookup)).toBe(1);
    expect(h.outbox.enqueueReminders(lookup)).toBe(0);
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    const secondAt = h.clock.t;
    h.clock.t = secondAt + 59 * 60_000;
    expect(h.outbox.enqueueReminders(lookup)).toBe(0);
    h.clock.t = secondAt + 60 * 60_000;
    expect(h.outbox.enqueueReminders(lookup)).toBe(1);
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    expect(h.smtp.messages.map((m) => m.subject)).toEqual([
      '[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections',
      '[Gatewatch] shop still DOWN (3h 2m): 502 Bad Gateway - upstream app-1 refuses connections',
      '[Gatewatch] shop still DOWN (4h 2m): 502 Bad Gateway - upstream app-1 refuses connections',
    ]);

    // A resolved incident is never reminded of.
    h.outbox.enqueue(site, resolveIncident(h.db, incident, h.clock.t), 'resolved');
    h.clock.advance(10 * 3_600_000);
    expect(h.outbox.enqueueReminders(lookup)).toBe(0);

    const off = createAlertsOutbox(h.db, { alertTo: [], groupSeconds: GROUP_S, reminderMinutes: 0, clock: h.clock });
    const quiet = insertSite(h.db, { name: 'quiet' });
    off.enqueue(quiet, insertIncident(h.db, quiet.id, { openedAt: h.clock.t }), 'opened');
    h.clock.advance(GROUP_MS);
    await h.sender.runOnce();
    h.clock.advance(30 * 24 * 3_600_000);
    expect(off.enqueueReminders(() => quiet)).toBe(0);
    expect(rows(h.db).filter((r) => r.kind === 'reminder')).toHaveLength(2);
  });

  it('without SMTP_URL keeps alerts pending and warns once', async () => {
    const h = await harness({ smtpUrl: () => undefined });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    h.sender.start();
    await h.sender.runOnce();
    await h.sender.runOnce();
    const warnings = h.log.entries.filter((e) => e.level === 'warn');
    expect(warnings.map((w) => w.msg)).toEqual(['SMTP_URL is not set; 1 alerts wait in the outbox']);
    expect(rows(h.db)[0]).toMatchObject({ state: 'pending', attempts: 0 });
    expect(h.smtp.connections).toBe(0);
  });

  it('records a rejected recipient as a failure and delivers once it is accepted', async () => {
    const h = await harness();
    h.smtp.rejectRecipient('ops@example.com');
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 0, failed: 1 });
    let [row] = rows(h.db);
    expect(row).toMatchObject({ state: 'pending', attempts: 1 });
    expect(row.lastError).toMatch(/EENVELOPE/);
    expect(row.lastError).toContain('ops@example.com');

    h.smtp.acceptRecipient('ops@example.com');
    h.clock.advance(5_000);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    [row] = rows(h.db);
    expect(row).toMatchObject({ state: 'sent', attempts: 2 });
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('marks a message accepted for some recipients as sent and notes the rejected ones', async () => {
    const h = await harness();
    h.smtp.rejectRecipient('gone@example.com');
    const site = insertSite(h.db, { alertEmails: ['ops@example.com', 'gone@example.com'] });
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    const [row] = rows(h.db);
    expect(row.state).toBe('sent');
    expect(row.lastError).toContain('gone@example.com');
    expect(h.smtp.messages.map((m) => m.envelopeTo)).toEqual([['ops@example.com']]);
    h.clock.advance(3_600_000);
    await h.sender.runOnce();
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('sends over smtps:// to a server with a self-signed certificate it was told to trust', async () => {
    const cert = await createSelfSignedCert();
    const h = await harness({ smtp: { tls: cert }, tls: { ca: cert.cert } });
    expect(h.smtp.url).toMatch(/^smtps:/);
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    expect(h.smtp.messages[0].secure).toBe(true);

    // Without trusting it, the certificate is refused and the alert waits.
    const untrusting = h.newSender({ tls: undefined });
    const other = insertSite(h.db, { name: 'api' });
    h.outbox.enqueue(other, insertIncident(h.db, other.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await untrusting.runOnce()).toEqual({ sent: 0, failed: 1 });
    expect(rows(h.db)[1].lastError).toMatch(/self[- ]signed|certificate/i);
  });

  it('upgrades a plain smtp:// connection with STARTTLS when the server offers it', async () => {
    const cert = await createSelfSignedCert();
    const h = await harness({ smtp: { starttls: cert }, tls: { ca: cert.cert } });
    expect(h.smtp.url).toMatch(/^smtp:/);
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    expect(h.smtp.messages[0].secure).toBe(true);
  });

  it('logs in with the credentials of SMTP_URL', async () => {
    const h = await harness({
      smtp: { auth: { user: 'alert@bot', pass: 'p@ss:w/rd' } },
      smtpUrl: (smtp) => smtp.url.replace('smtp://', `smtp://${encodeURIComponent('alert@bot')}:${encodeURIComponent('p@ss:w/rd')}@`),
    });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 0 });
    expect(h.smtp.messages[0].user).toBe('alert@bot');

    const wrong = h.newSender({ smtpUrl: h.smtp.url.replace('smtp://', 'smtp://alert%40bot:nope@') });
    const other = insertSite(h.db, { name: 'api' });
    h.outbox.enqueue(other, insertIncident(h.db, other.id), 'opened');
    h.clock.advance(GROUP_MS);
    expect(await wrong.runOnce()).toEqual({ sent: 0, failed: 1 });
    expect(rows(h.db)[1].lastError).toMatch(/EAUTH|535/);
  });

  it('stop() waits for the send in flight and records it; runs never overlap', async () => {
    const h = await harness();
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    const release = h.smtp.holdData();
    const first = h.sender.runOnce();
    const second = h.sender.runOnce();
    await h.smtp.dataArrived(1);
    let stopped = false;
    const stopping = h.sender.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(rows(h.db)[0].state).toBe('sent');
    expect(await first).toEqual({ sent: 1, failed: 0 });
    expect(await second).toEqual({ sent: 0, failed: 0 });
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('stop() gives up waiting after its bound, and the late answer is still recorded', async () => {
    const h = await harness();
    const sender = h.newSender({ stopTimeoutMs: 100 });
    const site = insertSite(h.db);
    h.outbox.enqueue(site, insertIncident(h.db, site.id), 'opened');
    h.clock.advance(GROUP_MS);
    const release = h.smtp.holdData();
    const run = sender.runOnce();
    await h.smtp.dataArrived(1);
    await sender.stop();
    expect(h.log.entries.some((e) => e.msg === 'alert sender stopped with a send still in flight')).toBe(true);
    release();
    expect(await run).toEqual({ sent: 1, failed: 0 });
    expect(rows(h.db)[0].state).toBe('sent');
  });

  it('an alert that cannot be rendered fails alone; other recipients still get theirs', async () => {
    const h = await harness();
    const a = insertSite(h.db, { name: 'a', alertEmails: ['a@example.com'] });
    const b = insertSite(h.db, { name: 'b', alertEmails: ['b@example.com'] });
    h.outbox.enqueue(a, insertIncident(h.db, a.id), 'opened');
    h.outbox.enqueue(b, insertIncident(h.db, b.id), 'opened');
    const broken = rows(h.db)[0];
    h.db
      .update(alerts)
      .set({ payload: {} as AlertRow['payload'] })
      .where(eq(alerts.id, broken.id))
      .run();
    h.clock.advance(GROUP_MS);
    expect(await h.sender.runOnce()).toEqual({ sent: 1, failed: 1 });
    expect(h.smtp.messages.map((m) => m.envelopeTo)).toEqual([['b@example.com']]);
    expect(rows(h.db)[0]).toMatchObject({ state: 'pending', attempts: 1 });
    expect(rows(h.db)[0].lastError).toBeTruthy();
  });
});
