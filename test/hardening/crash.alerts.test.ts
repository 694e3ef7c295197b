/**
 * Hardening: SIGKILL around alerts. The real service runs as a child process with a real SMTP
 * server; it is killed while an email is on the wire and while an incident opens, restarted on
 * the same database, and must lose no alert and send none twice, beyond a copy carrying the same
 * Message-ID (which a mail client drops).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startNginx502Server, type TestServer } from '../support/http-servers.js';
import { killAll, spawnService, type SpawnedService } from '../support/proc.js';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'crash-alerts-token-0123456789abcdef';

let dir: string;
let dbPath: string;
let gateway: TestServer;
let smtp: TestSmtpServer;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-crash-alerts-'));
  dbPath = join(dir, 'gw.db');
  gateway = await startNginx502Server();
  smtp = await startSmtpServer();
});
afterEach(async () => {
  await killAll();
  await gateway.close();
  await smtp.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ DATABASE_PATH: dbPath, API_TOKEN: TOKEN, SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_GROUP_SECONDS: '0' });

const api = async (svc: SpawnedService, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${svc.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

/** The database file as the crash left it, read by a connection of our own. */
function readDb<T>(read: (db: Database.Database) => T): T {
  const db = new Database(dbPath, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const downEmails = () => smtp.messages.filter((m) => /DOWN/.test(m.subject));

/** One alert for the incident, sent; every DOWN email a copy of the same message. */
async function expectSentOnce(svc: SpawnedService, siteId: number) {
  const incidents = (await api(svc, 'GET', `/api/incidents?siteId=${siteId}`)).body.incidents;
  expect(incidents).toHaveLength(1);
  const alertsOf = async () => (await api(svc, 'GET', `/api/alerts?incidentId=${incidents[0].id}`)).body.alerts as { kind: string; state: string }[];
  await waitFor(async () => (await alertsOf()).some((a) => a.kind === 'opened' && a.state === 'sent'), { timeoutMs: 20_000, intervalMs: 100, message: 'the opened alert sent' });
  expect((await alertsOf()).filter((a) => a.kind === 'opened')).toHaveLength(1);
  const emails = downEmails();
  expect(emails.length).toBeGreaterThanOrEqual(1);
  expect(emails.length).toBeLessThanOrEqual(2);
  expect(new Set(emails.map((m) => m.header('message-id'))).size).toBe(1);
  const stored = readDb((db) => db.prepare(`SELECT message_id AS id FROM alerts WHERE kind = 'opened'`).all() as { id: string }[]);
  expect(stored.map((r) => r.id)).toEqual([emails[0].header('message-id')]);
}

describe('SIGKILL around alerts', () => {
  it('while the outbox is sending: after a restart the alert goes out again with the same Message-ID, and only once more', async () => {
    const release = smtp.holdData();
    const first = await spawnService(env());
    const site = (await api(first, 'POST', '/api/sites', { name: 'shop', url: gateway.url, intervalSeconds: 1, failureThreshold: 1, alertEmails: ['owner@example.com'] })).body;
    // The message is on the wire: the server has its DATA, the sender waits for the 250.
    await smtp.dataArrived(1);
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    release();

    // The crash left the alert pending: it was never recorded as sent.
    const rows = readDb((db) => db.prepare(`SELECT kind, state FROM alerts`).all() as { kind: string; state: string }[]);
    expect(rows).toEqual([{ kind: 'opened', state: 'pending' }]);

    const second = await spawnService(env());
    await expectSentOnce(second, site.id);
    expect(second.log()).not.toMatch(/"level":"error"/);
  });

  it('while an incident opens: the incident and its alert are both kept (one transaction), nothing opens twice, one DOWN email', async () => {
    const first = await spawnService(env());
    const site = (await api(first, 'POST', '/api/sites', { name: 'shop', url: gateway.url, intervalSeconds: 1, failureThreshold: 2, alertEmails: ['owner@example.com'] })).body;
    // Killed the moment the incident is on disk, before the sender's next poll could mail it.
    const reader = new Database(dbPath, { readonly: true });
    try {
      const count = reader.prepare('SELECT COUNT(*) AS n FROM incidents');
      await waitFor(() => (count.get() as { n: number }).n > 0, {
        timeoutMs: 30_000,
        intervalMs: 2,
        message: 'the incident row',
      });
    } finally {
      first.kill('SIGKILL');
      reader.close();
    }
    expect(await first.exited).toBe('SIGKILL');

    const [counts] = readDb((db) => [
      db.prepare(`SELECT (SELECT COUNT(*) FROM incidents) AS incidents, (SELECT COUNT(*) FROM alerts WHERE kind = 'opened') AS opened`).get() as { incidents: number; opened: number },
    ]);
    expect(counts).toEqual({ incidents: 1, opened: 1 });
    expect(readDb((db) => db.pragma('integrity_check', { simple: true }))).toBe('ok');

    const second = await spawnService(env());
    await expectSentOnce(second, site.id);
    // The site still fails after the restart: the same incident stays open, no new one.
    await waitFor(async () => ((await api(second, 'GET', `/api/sites/${site.id}/checks?limit=50`)).body.checks as unknown[]).length >= 4, { timeoutMs: 20_000, intervalMs: 200, message: 'rounds after the restart' });
    const open = (await api(second, 'GET', `/api/incidents?siteId=${site.id}`)).body.incidents;
    expect(open).toHaveLength(1);
    expect(open[0].state).toBe('open');
    expect(downEmails().length).toBeLessThanOrEqual(2);
  });
});
