import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, type TestService } from './support/service.js';

const DAY = 24 * 3_600_000;

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('webhook delivery retention', () => {
  it('drops finished deliveries after 30 days and a deleted site’s once finished, keeping pending ones', async () => {
    const now = Date.UTC(2026, 5, 1);
    const clock = { at: now, now: () => clock.at };
    t = createTestService({}, { clock });
    const site = async (name: string) => (await t!.call('POST', '/api/sites', { name, url: 'http://127.0.0.1:9/' })).body.id as number;
    const kept = await site('kept');
    const gone = await site('gone');
    const insert = t.svc.db.$client.prepare(
      `INSERT INTO webhook_deliveries (alert_id, site_id, url, format, state, created_at, due_at, last_attempt_at, sent_at)
       VALUES (1, ?, 'http://127.0.0.1:9/hook', 'json', ?, ?, ?, ?, ?)`,
    );
    const add = (siteId: number, state: string, finishedAgo: number | null, createdAgo = 40 * DAY) => {
      const finished = finishedAgo === null ? null : now - finishedAgo;
      return Number(insert.run(siteId, state, now - createdAgo, now - createdAgo, finished, state === 'sent' ? finished : null).lastInsertRowid);
    };
    const expectKept = [
      add(kept, 'sent', 29 * DAY),
      add(kept, 'failed', 29 * DAY),
      add(kept, 'pending', null),
      add(kept, 'cancelled', null, 29 * DAY),
      add(gone, 'pending', null),
    ];
    // Enough old rows that the prune takes several batches.
    for (let i = 0; i < 3000; i++) add(kept, i % 2 ? 'sent' : 'failed', 31 * DAY);
    add(kept, 'cancelled', null, 31 * DAY);
    add(gone, 'sent', DAY);
    add(gone, 'failed', DAY);

    expect((await t.call('DELETE', `/api/sites/${gone}`)).status).toBe(204);
    await t.svc.housekeeping.runOnce();

    const left = (t.svc.db.$client.prepare('SELECT id FROM webhook_deliveries ORDER BY id').all() as { id: number }[]).map((r) => r.id);
    expect(left).toEqual(expectKept);
  });
});

describe('certificate notice retention', () => {
  it('drops notices of certificates no longer seen, keeping recent ones and a paused site’s', async () => {
    const now = Date.UTC(2026, 5, 1);
    const clock = { at: now, now: () => clock.at };
    t = createTestService({}, { clock });
    const site = async (name: string) => (await t!.call('POST', '/api/sites', { name, url: 'http://127.0.0.1:9/' })).body.id as number;
    const live = await site('live');
    const paused = await site('paused');
    expect((await t.call('PATCH', `/api/sites/${paused}`, { paused: true })).status).toBe(200);
    const insert = t.svc.db.$client.prepare(
      `INSERT INTO cert_notices (site_id, target, expires_at, issuer, first_notified_at, last_notified_at) VALUES (?, 'site', ?, NULL, ?, ?)`,
    );
    const add = (siteId: number, expiresAt: number, lastAgo: number) => insert.run(siteId, expiresAt, now - 60 * DAY, now - lastAgo);
    add(live, now + 5 * DAY, 2 * DAY); // still served: reminded lately
    add(live, now - 10 * DAY, 6 * DAY); // expired, still served
    add(live, now + 3 * DAY, 40 * DAY); // renewed long ago: goes
    add(paused, now + 3 * DAY, 40 * DAY); // paused: not looked at, stays
    await t.svc.housekeeping.runOnce();
    const left = t.svc.db.$client.prepare('SELECT site_id AS siteId, expires_at AS expiresAt FROM cert_notices ORDER BY site_id, expires_at').all();
    expect(left).toEqual([
      { siteId: live, expiresAt: now - 10 * DAY },
      { siteId: live, expiresAt: now + 5 * DAY },
      { siteId: paused, expiresAt: now + 3 * DAY },
    ]);
  });
});
