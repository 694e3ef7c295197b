import { afterEach, describe, expect, it } from 'vitest';
import { recordingLogger } from './support/logger.js';
import { startHealthyServer, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';
import { waitFor } from './support/wait.js';

let t: TestService | undefined;
let smtp: TestSmtpServer | undefined;
let target: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  await smtp?.close();
  await target?.close();
  t = smtp = target = undefined;
});

const countChecks = () => (t!.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM raw_checks').get() as { n: number }).n;

/**
 * The database's file cannot grow past its current size (SQLite's max_page_count on the service's
 * own connection: what a full filesystem does to it), and the pages it has are filled up.
 */
function fillTheDisk() {
  const sqlite = t!.svc.db.$client;
  sqlite.exec('CREATE TABLE IF NOT EXISTS test_filler (x BLOB)');
  const pages = (sqlite.pragma('page_count', { simple: true }) as number) + 0;
  sqlite.pragma(`max_page_count = ${pages}`);
  const insert = sqlite.prepare('INSERT INTO test_filler (x) VALUES (zeroblob(?))');
  for (const size of [4000, 500, 50, 8, 1]) {
    for (;;) {
      try {
        insert.run(size);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('SQLITE_FULL');
        break;
      }
    }
  }
}

/** Space returns: the file may grow again. */
const freeTheDisk = () => t!.svc.db.$client.pragma('max_page_count = 1073741823');

describe('a full disk', () => {
  it('healthz 503 with the reason, writes 507 storage.full, one log line then a summary, the operator told, and everything resumes by itself', async () => {
    target = await startHealthyServer();
    smtp = await startSmtpServer();
    const { logger, entries } = recordingLogger();
    t = createTestService(
      { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_TO: 'operator@example.com', ALERT_GROUP_SECONDS: '0' },
      { storageSummaryEveryMs: 300 },
      logger,
    );
    t.svc.scheduler.start();
    t.svc.sender.start();
    // Nine checks a round (the site and eight upstreams, all healthy): the pages the checks already
    // have fill up within a few rounds once the file cannot grow.
    const upstreams = Array.from({ length: 8 }, (_, i) => ({ name: `app-${i}`, url: `${target!.url}health/${i}` }));
    const site = (await t.call('POST', '/api/sites', { name: 'shop', url: target.url, upstreams, intervalSeconds: 1, alertEmails: ['owner@example.com'] })).body;
    await waitFor(() => countChecks() >= 18, { timeoutMs: 20_000, message: 'first checks stored' });
    expect((await t.call('GET', '/healthz', undefined, { token: null })).status).toBe(200);

    // Rounds stop while the disk fills, so that the first write that finds no room is a check on
    // demand below, and no round slips into the room the checks' own pages still have.
    expect((await t.call('PATCH', `/api/sites/${site.id}`, { paused: true })).status).toBe(200);
    fillTheDisk();
    // A check is a few dozen bytes: checks on demand are stored while those pages take a row,
    // then the first that finds no room is a 507 storage.full.
    let now = await t.call('POST', `/api/sites/${site.id}/check`);
    for (let i = 0; i < 200 && now.status === 200; i++) now = await t.call('POST', `/api/sites/${site.id}/check`);
    expect(now.status).toBe(507);
    expect(now.body.error.code).toBe('storage.full');
    const stuckAt = countChecks();

    // Checks cannot be stored: /healthz says so, with the reason.
    const health = await waitFor(
      async () => {
        const h = await t!.call('GET', '/healthz', undefined, { token: null });
        return h.status === 503 && h;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: `healthz 503 ${JSON.stringify(entries.slice(-8))} ${countChecks()} ${t!.svc.db.$client.pragma("page_count", { simple: true })}` },
    );
    expect(health.body).toMatchObject({ ok: false, storage: 'failing' });
    expect(health.body.reason).toMatch(/database or disk is full.*checks are not being stored/);

    // Writes through the API: a clear 507, never a 500 (and no stack trace in the log).
    const answers: number[] = [];
    for (let i = 0; i < 200 && !answers.includes(507); i++) {
      const created = await t.call('POST', '/api/sites', { name: `more-${i}`, url: `${target.url}more/${'x'.repeat(500)}/${i}`, paused: true });
      answers.push(created.status);
      if (created.status === 507) {
        expect(created.body.error.code).toBe('storage.full');
        expect(created.body.error.message).toMatch(/disk is full/);
      }
    }
    expect(answers).toContain(507);
    expect(answers.filter((s) => s !== 201 && s !== 507)).toEqual([]);

    // The operator hears of it by email (straight to SMTP: the outbox is in the full database).
    const notice = await waitFor(() => smtp!.messages.find((m) => /checks are not being stored/.test(m.subject)), { timeoutMs: 20_000, message: 'the operator notice' });
    expect(notice.envelopeTo).toEqual(['operator@example.com']);
    expect(notice.text).toContain('database or disk is full');

    // The log: the failure once, then summaries; never an error line per batch or per request.
    await waitFor(() => entries.some((e) => e.msg.startsWith('database writes still failing')), { timeoutMs: 10_000, message: 'a summary line' });
    expect(entries.filter((e) => e.msg.startsWith('database writes failing'))).toHaveLength(1);
    expect(entries.filter((e) => e.msg === 'request failed' || e.msg === 'could not store a batch of checks')).toEqual([]);
    const summary = entries.find((e) => e.msg.startsWith('database writes still failing'))!;
    expect(summary.level).toBe('warn');
    expect((summary.fields.total as { roundsNotStored: number }).roundsNotStored).toBeGreaterThan(0);
    expect(countChecks()).toBe(stuckAt);

    // Space returns: everything resumes by itself.
    freeTheDisk();
    expect((await t.call('PATCH', `/api/sites/${site.id}`, { paused: false })).status).toBe(200);
    await waitFor(async () => (await t!.call('GET', '/healthz', undefined, { token: null })).status === 200, { timeoutMs: 20_000, message: 'healthz 200 again' });
    await waitFor(() => countChecks() > stuckAt, { timeoutMs: 20_000, message: 'checks stored again' });
    const again = await t.call('POST', '/api/sites', { name: 'after', url: `${target.url}after`, paused: true });
    expect(again.status).toBe(201);
    const back = await waitFor(() => smtp!.messages.find((m) => /checks are stored again/.test(m.subject)), { timeoutMs: 20_000, message: 'the recovery notice' });
    expect(back.header('in-reply-to')).toBe(notice.header('message-id'));
    expect(back.text).toMatch(/Not stored meanwhile: \d+ checks of \d+ rounds; [1-9]\d* API writes were refused/);
    const recovered = entries.filter((e) => e.msg === 'database writes work again');
    expect(recovered).toHaveLength(1);
    expect(recovered[0].fields.checksNotStored).toBeGreaterThan(0);
    // No owner email came out of any of it (the site never failed).
    expect(smtp.messages.filter((m) => m.envelopeTo.includes('owner@example.com'))).toEqual([]);
  });
});
