import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertsRoutes, createAlertsOutbox } from '../src/alerts/index.js';
import { alerts } from '../src/alerts/alerts.table.js';
import { closeDatabase, openDatabase, type Db } from '../src/db/client.js';
import { incidents } from '../src/incidents/incidents.table.js';
import { AppError } from '../src/shared/errors.js';
import { sites } from '../src/sites/sites.table.js';

const T0 = Date.parse('2030-03-04T12:00:00Z');
let dir: string;
let db: Db;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gw-alerts-routes-'));
  db = openDatabase(join(dir, 'gatewatch.db'));
});
afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const app = () =>
  new Hono()
    .route('/api/alerts', alertsRoutes({ db }))
    .onError((err, c) =>
      err instanceof AppError
        ? c.json({ error: { code: err.code, message: err.message, details: err.details } }, err.status)
        : c.json({ error: { code: 'internal', message: 'internal error' } }, 500),
    );

/** Three alerts: one sent, one pending, one cancelled (no recipients). */
function seed() {
  const clock = { t: T0, now: () => clock.t };
  const site = db
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
      createdAt: T0,
      updatedAt: T0,
    })
    .returning()
    .get();
  const incident = (openedAt: number) =>
    db
      .insert(incidents)
      .values({
        siteId: site.id,
        state: 'open',
        kind: 'bad_gateway',
        kinds: ['bad_gateway'],
        openedAt,
        firstFailureAt: openedAt - 60_000,
        resolvedAt: null,
        failedChecks: 3,
        goodStreak: 0,
        causes: [{ code: 'upstream_down', confidence: 0.9, summary: 'upstream app-1 refuses connections', evidence: [], advice: [] }],
        timeline: [],
        updatedAt: openedAt,
      })
      .returning()
      .get();
  const outbox = createAlertsOutbox(db, { alertTo: [], groupSeconds: 30, reminderMinutes: 60, clock });
  const first = incident(T0);
  outbox.enqueue(site, first, 'opened');
  db.update(alerts).set({ state: 'sent', sentAt: T0 + 30_000, attempts: 1, messageId: '<m@x>' }).run();
  clock.t += 60_000;
  const second = incident(clock.t);
  outbox.enqueue(site, second, 'opened');
  outbox.enqueue({ ...site, alertEmails: [] }, second, 'reminder');
  return { site, first, second };
}

describe('GET /api/alerts', () => {
  it('lists alerts newest first with their delivery state and subject', async () => {
    const { first, second } = seed();
    const res = await app().request('/api/alerts');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { alerts: Record<string, unknown>[] };
    expect(body.alerts.map((a) => [a.kind, a.state, a.cancelReason, a.incidentId])).toEqual([
      ['reminder', 'cancelled', 'no recipients', second.id],
      ['opened', 'pending', null, second.id],
      ['opened', 'sent', null, first.id],
    ]);
    expect(body.alerts[2]).toMatchObject({
      recipients: ['ops@example.com'],
      attempts: 1,
      sentAt: T0 + 30_000,
      createdAt: T0,
      dueAt: T0 + 30_000,
      lastError: null,
      lastAttemptAt: null,
      subject: '[Gatewatch] shop DOWN: 502 Bad Gateway - upstream app-1 refuses connections',
    });
    expect(body.alerts[0]).not.toHaveProperty('payload');
  });

  it('filters by state and incident and honours the limit', async () => {
    const { first, second } = seed();
    const get = async (q: string) => ((await (await app().request(`/api/alerts?${q}`)).json()) as { alerts: { id: number; state: string; incidentId: number }[] }).alerts;
    expect((await get('state=pending')).map((a) => a.state)).toEqual(['pending']);
    expect((await get('state=sent')).map((a) => a.incidentId)).toEqual([first.id]);
    expect((await get(`incidentId=${second.id}`)).length).toBe(2);
    expect((await get('limit=1')).length).toBe(1);
    expect((await get('limit=500')).length).toBe(3);
  });

  it('answers 400 naming the field for a bad query', async () => {
    seed();
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=abc', 'limit'],
      ['state=lost', 'state'],
      ['incidentId=-3', 'incidentId'],
      ['colour=red', 'query'],
    ] as const) {
      const res = await app().request(`/api/alerts?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string; details: { field: string }[] } };
      expect(body.error.code).toBe('validation.failed');
      expect(body.error.message).toContain(field);
    }
  });
});
