import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_MS, CHUNK_WRITE_DELAY_MS, CHUNKS_THROUGH_KEY, createChecksRepository } from '../src/checks/checks.repository.js';
import type { NewCheckRow } from '../src/checks/checks.table.js';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const T0 = Date.UTC(2026, 4, 1);

async function setup() {
  t = createTestService();
  const site = (await t.call('POST', '/api/sites', { name: 'a', url: 'http://127.0.0.1:9/', upstreams: [{ name: 'u', url: 'http://127.0.0.1:9/' }] })).body;
  const repo = t.svc.checks;
  const count = (sql: string, ...args: unknown[]) => (t!.svc.db.$client.prepare(sql).get(...args) as { n: number }).n;
  return { siteId: site.id as number, up: String(site.upstreams[0].id), repo, count };
}

const plain = (siteId: number, target: string, startedAt: number, extra: Partial<NewCheckRow> = {}): NewCheckRow => ({
  siteId,
  target,
  targetName: target,
  startedAt,
  outcome: 'ok',
  statusCode: 200,
  addresses: ['127.0.0.1'],
  address: '127.0.0.1',
  ttfbMs: 5,
  totalMs: 6,
  ...extra,
});

describe('raw checks in the compact layout', () => {
  it('reads back every field as written, nulls included', async () => {
    const { siteId, up, repo } = await setup();
    const full: NewCheckRow = {
      siteId,
      target: up,
      targetName: 'app-1',
      startedAt: T0,
      outcome: 'tls_error',
      statusCode: 526,
      errorMessage: 'certificate has expired',
      addresses: ['127.0.0.2', '::1'],
      address: '127.0.0.2',
      failedAddresses: ['::1'],
      dnsMs: 1,
      connectMs: 2,
      tlsMs: 3,
      ttfbMs: 4,
      totalMs: 5,
      gateway: 'nginx',
      certExpiresAt: T0 - 1000,
      certIssuer: 'Test CA',
      incidentId: null,
    };
    const bare: NewCheckRow = { siteId, target: 'site', targetName: 'a', startedAt: T0 + 1, outcome: 'dns_error', addresses: [] };
    const [a, b] = repo.insertReturning([full, bare]);
    const back = repo.window(siteId, 0, 10);
    expect(back).toEqual([a, b]);
    expect(back[0]).toEqual({ ...full, id: a.id });
    expect(back[1]).toEqual({
      ...bare,
      id: b.id,
      statusCode: null,
      errorMessage: null,
      address: null,
      failedAddresses: null,
      dnsMs: null,
      connectMs: null,
      tlsMs: null,
      ttfbMs: null,
      totalMs: null,
      gateway: null,
      certExpiresAt: null,
      certIssuer: null,
      incidentId: null,
    });
  });

  it('shares one dictionary row between checks with the same strings, and indexes each target per chunk', async () => {
    const { siteId, up, repo, count } = await setup();
    const rows: NewCheckRow[] = [];
    for (let i = 0; i < 30; i++) rows.push(plain(siteId, 'site', T0 + i * 60_000), plain(siteId, up, T0 + i * 60_000));
    rows.push(plain(siteId, 'site', T0 + 30 * 60_000, { outcome: 'bad_gateway', statusCode: 502, errorMessage: 'HTTP 502' }));
    repo.insertMany(rows);
    repo.writeClosedChunks();
    // Two targets' names, plus the one error text.
    expect(count('SELECT COUNT(*) AS n FROM check_details')).toBe(3);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks')).toBe(61);
    // 31 minutes from a chunk boundary: 4 chunks for 'site', 3 for the upstream. The two first
    // chunks closed more than CHUNK_WRITE_DELAY_MS before the last check: stored; the rest in memory.
    expect(count('SELECT COUNT(*) AS n FROM check_chunks')).toBe(4);
    expect(repo.openChunkCount()).toBe(3);
    const window = repo.window(siteId, T0 + 5 * 60_000, 1000);
    expect(window).toHaveLength(2 * 25 + 1);
    expect(window.map((c) => c.startedAt)).toEqual([...window.map((c) => c.startedAt)].sort((x, y) => x - y));
    expect(window.at(-1)).toMatchObject({ outcome: 'bad_gateway', errorMessage: 'HTTP 502', statusCode: 502 });
    expect(repo.list(siteId, { limit: 5, target: up }).map((c) => c.startedAt)).toEqual([29, 28, 27, 26, 25].map((i) => T0 + i * 60_000));
    expect(CHUNK_MS).toBe(10 * 60_000);
  });

  it('pruning keeps the checks an incident holds, which still read back; the rest and their chunks go', async () => {
    const { siteId, up, repo, count } = await setup();
    const rows: NewCheckRow[] = [];
    for (let i = 0; i < 60; i++) rows.push(plain(siteId, 'site', T0 + i * 60_000), plain(siteId, up, T0 + i * 60_000));
    repo.insertMany(rows);
    // raw_checks.inc has no foreign key: any incident id holds.
    const incident = 4242;
    // Hold the checks from minute 20 on, then stop holding from minute 25 on by pruning before minute 40 only.
    repo.attachToIncident(siteId, T0 + 20 * 60_000, incident);
    t!.svc.db.$client.prepare('UPDATE raw_checks SET inc = NULL WHERE t >= ?').run(T0 + 25 * 60_000);
    let n = 0;
    while ((n = repo.prune(T0 + 40 * 60_000, 7)) > 0) expect(n).toBeLessThanOrEqual(7);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks WHERE t < ?', T0 + 40 * 60_000)).toBe(2 * 5);
    expect(count('SELECT COUNT(*) AS n FROM check_chunks WHERE id >> 24 < ?', Math.floor((T0 + 40 * 60_000) / CHUNK_MS))).toBe(0);
    const all = repo.list(siteId, { limit: 1000 });
    expect(all).toHaveLength(2 * 20 + 2 * 5);
    expect(all.filter((c) => c.startedAt < T0 + 40 * 60_000).every((c) => c.incidentId === incident)).toBe(true);
  });

  it('pages with `before` through checks that share their startedAt, each once', async () => {
    const { siteId, up, repo } = await setup();
    const rows: NewCheckRow[] = [];
    for (let i = 0; i < 25; i++) rows.push(plain(siteId, 'site', T0 + i * 60_000), plain(siteId, up, T0 + i * 60_000));
    repo.insertMany(rows);
    const seen: number[] = [];
    let before: number | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = repo.list(siteId, { limit: 3, before });
      if (page.length === 0) break;
      seen.push(...page.map((c) => c.id));
      before = page.at(-1)!.startedAt;
    }
    expect(seen).toHaveLength(50);
    expect(new Set(seen).size).toBe(50);
  });
});

describe('open chunks, kept in memory until written', () => {
  /** As the recorder does: a transaction, then the chunks that closed. */
  const insert = (rows: NewCheckRow[]) => {
    t!.svc.db.transaction(() => t!.svc.checks.insertMany(rows));
    t!.svc.checks.writeClosedChunks();
  };
  const chunkRows = (count: (sql: string, ...args: unknown[]) => number) => count('SELECT COUNT(*) AS n FROM check_chunks');
  const through = () =>
    Number((t!.svc.db.$client.prepare('SELECT value FROM settings WHERE key = ?').get(CHUNKS_THROUGH_KEY) as { value: string } | undefined)?.value);

  it('reads the checks of an open chunk as if stored, and writes its row once, after the chunk closed', async () => {
    const { siteId, up, repo, count } = await setup();
    const start = Math.floor(T0 / CHUNK_MS) * CHUNK_MS;
    const rowsOfChunk = (): number[] => {
      const row = t!.svc.db.$client.prepare('SELECT ids FROM check_chunks WHERE id = ?').get(Math.floor(start / CHUNK_MS) * 2 ** 24 + (t!.svc.db.$client.prepare("SELECT id FROM rollup_targets WHERE site_id = ? AND target = 'site'").get(siteId) as { id: number }).id) as { ids: string } | undefined;
      return row ? row.ids.split(',').map(Number) : [];
    };
    // One round a minute through the chunk: nothing stored, every check read.
    for (let i = 0; i < 10; i++) insert([plain(siteId, 'site', start + i * 60_000), plain(siteId, up, start + i * 60_000)]);
    expect(chunkRows(count)).toBe(0);
    expect(repo.openChunkCount()).toBe(2);
    expect(repo.list(siteId, { limit: 100 })).toHaveLength(20);
    expect(repo.ofTarget(siteId, up, start, start + CHUNK_MS)).toHaveLength(10);
    expect(repo.window(siteId, start + 5 * 60_000, 100).map((c) => c.startedAt)).toEqual([5, 5, 6, 6, 7, 7, 8, 8, 9, 9].map((i) => start + i * 60_000));
    // The next chunk starts; the closed one stays in memory until CHUNK_WRITE_DELAY_MS after its end.
    insert([plain(siteId, 'site', start + CHUNK_MS + CHUNK_WRITE_DELAY_MS - 1)]);
    expect(chunkRows(count)).toBe(0);
    // A check late for the closed chunk joins it.
    insert([plain(siteId, 'site', start + CHUNK_MS - 1)]);
    insert([plain(siteId, 'site', start + CHUNK_MS + CHUNK_WRITE_DELAY_MS)]);
    expect(chunkRows(count)).toBe(2);
    expect(repo.openChunkCount()).toBe(1);
    expect(rowsOfChunk()).toHaveLength(11);
    // Every row up to the first one still only in memory is listed in a stored chunk.
    const firstOpen = repo.list(siteId, { limit: 100 }).filter((c) => c.startedAt >= start + CHUNK_MS).at(-1)!.id;
    expect(through()).toBe(firstOpen - 1);
    expect(repo.list(siteId, { limit: 100 })).toHaveLength(23);
    // A check later still for a written chunk is appended to its row.
    insert([plain(siteId, 'site', start + 1), plain(siteId, 'site', start + 2 * CHUNK_MS + CHUNK_WRITE_DELAY_MS)]);
    expect(rowsOfChunk()).toHaveLength(12);
    expect(repo.ofTarget(siteId, 'site', start, start + CHUNK_MS)).toHaveLength(12);
    repo.writeOpenChunks();
    expect(repo.openChunkCount()).toBe(0);
    expect(through()).toBe(count('SELECT MAX(id) AS n FROM raw_checks'));
    expect(repo.list(siteId, { limit: 100 })).toHaveLength(25);
  });

  it('a repository opened after a crash (open chunks never written) rebuilds them from the raw checks, each row once', async () => {
    const { siteId, up, repo, count } = await setup();
    const start = Math.floor(T0 / CHUNK_MS) * CHUNK_MS;
    for (let i = 0; i < 25; i++) insert([plain(siteId, 'site', start + i * 60_000), plain(siteId, up, start + i * 60_000)]);
    // A late check for the first chunk, written while the third is still open.
    insert([plain(siteId, 'site', start + 60_000 + 1)]);
    expect(repo.openChunkCount()).toBeGreaterThan(0);
    const before = repo.list(siteId, { limit: 100 });
    expect(before).toHaveLength(51);
    // The same database seen by a fresh repository, as after a SIGKILL: nothing missing, nothing twice.
    const again = createChecksRepository(t!.svc.db);
    expect(again.list(siteId, { limit: 100 })).toEqual(before);
    expect(again.openChunkCount()).toBe(repo.openChunkCount());
    again.writeOpenChunks();
    const ids = (t!.svc.db.$client.prepare('SELECT ids FROM check_chunks').all() as { ids: string }[]).flatMap((r) => {
      let id = 0;
      return r.ids.split(',').map((d) => (id += Number(d)));
    });
    expect(ids).toHaveLength(51);
    expect(new Set(ids).size).toBe(51);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks')).toBe(51);
  });

  it('deleting a site removes the checks of its open chunks too', async () => {
    const { siteId, up, repo, count } = await setup();
    // Recent enough for retention, and all in one chunk (the last whole one), whatever the time of the run.
    const chunk = (Math.floor(Date.now() / CHUNK_MS) - 1) * CHUNK_MS;
    insert([plain(siteId, 'site', chunk + 60_000), plain(siteId, up, chunk + 60_000), plain(siteId, 'site', chunk + 120_000)]);
    const other = (await t!.call('POST', '/api/sites', { name: 'b', url: 'http://127.0.0.1:9/' })).body.id as number;
    insert([plain(other, 'site', chunk + 120_000)]);
    expect(repo.openChunkCount()).toBe(3);
    expect((await t!.call('DELETE', `/api/sites/${siteId}`)).status).toBe(204);
    await t!.svc.housekeeping.runOnce();
    expect(count('SELECT COUNT(*) AS n FROM raw_checks')).toBe(1);
    expect(repo.openChunkCount()).toBe(1);
    expect(repo.list(other, { limit: 10 })).toHaveLength(1);
  });

  it('pruning removes old checks whether their chunk is stored or still open', async () => {
    const { siteId, up, repo, count } = await setup();
    const rows: NewCheckRow[] = [];
    for (let i = 0; i < 60; i++) rows.push(plain(siteId, 'site', T0 + i * 60_000), plain(siteId, up, T0 + i * 60_000));
    repo.insertMany(rows);
    expect(repo.openChunkCount()).toBeGreaterThan(0);
    while (repo.prune(T0 + 2 * 3_600_000, 50) > 0);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks')).toBe(0);
    expect(count('SELECT COUNT(*) AS n FROM check_chunks')).toBe(0);
    expect(repo.openChunkCount()).toBe(0);
    expect(repo.list(siteId, { limit: 1000 })).toEqual([]);
  });

  it("notes a dictionary row's use in memory and writes its seen_at with the chunks, again after a crash", async () => {
    const { siteId, repo } = await setup();
    const start = Math.floor(T0 / CHUNK_MS) * CHUNK_MS;
    const seenAt = () => (t!.svc.db.$client.prepare('SELECT seen_at AS n FROM check_details WHERE body LIKE ?').get('["site",%') as { n: number }).n;
    const at = (minute: number) => insert([plain(siteId, 'site', start + minute * 60_000)]);
    for (let m = 0; m <= 12; m++) at(m);
    // Used again at minute 11 (its seen_at 10 minutes old): noted, not written yet.
    expect(seenAt()).toBe(start);
    at(13);
    // The first chunk is written (13 min = its end + CHUNK_WRITE_DELAY_MS), and the dictionary row with it.
    expect(CHUNK_WRITE_DELAY_MS).toBe(3 * 60_000);
    expect(seenAt()).toBe(start + 11 * 60_000);
    for (let m = 14; m <= 22; m++) at(m);
    expect(seenAt()).toBe(start + 11 * 60_000);
    // As after a SIGKILL: a fresh repository notes the use again from the raw checks not yet indexed.
    const again = createChecksRepository(t!.svc.db);
    again.writeOpenChunks();
    expect(seenAt()).toBe(start + 22 * 60_000);
  });

  it('a rolled-back insert leaves no check in the reads, even when another target takes its rowid', async () => {
    const { siteId, up, repo } = await setup();
    insert([plain(siteId, 'site', T0)]);
    expect(() =>
      t!.svc.db.transaction(() => {
        repo.insertMany([plain(siteId, 'site', T0 + 60_000)]);
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    insert([plain(siteId, up, T0 + 60_000)]);
    expect(repo.list(siteId, { limit: 10, target: 'site' }).map((c) => c.startedAt)).toEqual([T0]);
    expect(repo.list(siteId, { limit: 10, target: up }).map((c) => c.startedAt)).toEqual([T0 + 60_000]);
    expect(repo.list(siteId, { limit: 10 })).toHaveLength(2);
  });

  /** A check of a new target 'canary' at a new address: new strings and a new key. */
  const canary = (siteId: number, startedAt: number) => plain(siteId, 'canary', startedAt, { addresses: ['127.0.0.9'], address: '127.0.0.9' });
  /** Runs `work` in a transaction that fails (a full disk), then forgets as the recorder does. */
  const failedTransaction = (repo: ReturnType<typeof createChecksRepository>, work: () => void) => {
    expect(() =>
      t!.svc.db.transaction(() => {
        work();
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    repo.forgetUncommitted(); // what the recorder does when its transaction fails
  };

  it('a rolled-back insert of new strings and a new target leaves nothing cached for the next check to point at', async () => {
    const { siteId, repo, count } = await setup();
    const moved = (startedAt: number) => canary(siteId, startedAt);
    failedTransaction(repo, () => repo.insertMany([moved(T0)]));
    insert([moved(T0 + 60_000)]);
    const rows = repo.list(siteId, { limit: 10, target: 'canary' });
    expect(rows.map((c) => [c.startedAt, c.address])).toEqual([[T0 + 60_000, '127.0.0.9']]);
    // Every stored check points at a stored dictionary row and target key.
    expect(count('SELECT COUNT(*) AS n FROM raw_checks r WHERE NOT EXISTS (SELECT 1 FROM check_details d WHERE d.id = r.d)')).toBe(0);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks r WHERE NOT EXISTS (SELECT 1 FROM rollup_targets k WHERE k.id = r.tk)')).toBe(0);
  });

  it('a rolled-back insert forgets its new strings even once many other new strings have gone through the cache', async () => {
    const { siteId, repo, count } = await setup();
    const moved = (startedAt: number) => canary(siteId, startedAt);
    failedTransaction(repo, () => {
      repo.insertMany([moved(T0)]);
      // More new strings than the cache by strings holds: it is emptied on the way.
      for (let i = 0; i < 5000; i++) repo.insertMany([plain(siteId, 'site', T0 + i, { outcome: 'bad_gateway', errorMessage: `HTTP 502 #${i}` })]);
    });
    insert([moved(T0 + 60_000)]);
    expect(repo.list(siteId, { limit: 10, target: 'canary' }).map((c) => [c.startedAt, c.address])).toEqual([[T0 + 60_000, '127.0.0.9']]);
    expect(count('SELECT COUNT(*) AS n FROM raw_checks r WHERE NOT EXISTS (SELECT 1 FROM check_details d WHERE d.id = r.d)')).toBe(0);
  });

  it("after a restart, a target's checks with the same strings as before point at the stored dictionary row, and its key is the one the rollups use", async () => {
    const { siteId, up, repo, count } = await setup();
    insert([plain(siteId, 'site', T0), plain(siteId, up, T0)]);
    repo.writeOpenChunks();
    const details = count('SELECT COUNT(*) AS n FROM check_details');
    const dOf = (startedAt: number) => count('SELECT d AS n FROM raw_checks WHERE t = ? AND tk = ?', startedAt, repo.keyOf(siteId, 'site'));
    // As after a restart: a repository that has seen no check yet.
    const again = createChecksRepository(t!.svc.db);
    t!.svc.db.transaction(() => again.insertMany([plain(siteId, 'site', T0 + 60_000), plain(siteId, 'site', T0 + 120_000)]));
    expect(count('SELECT COUNT(*) AS n FROM check_details')).toBe(details);
    expect(dOf(T0 + 60_000)).toBe(dOf(T0));
    expect(dOf(T0 + 120_000)).toBe(dOf(T0));
    // New strings: a new row; the old strings again: the old row.
    t!.svc.db.transaction(() => again.insertMany([plain(siteId, 'site', T0 + 180_000, { address: '127.0.0.2' }), plain(siteId, 'site', T0 + 240_000)]));
    expect(count('SELECT COUNT(*) AS n FROM check_details')).toBe(details + 1);
    expect(dOf(T0 + 180_000)).not.toBe(dOf(T0));
    expect(dOf(T0 + 240_000)).toBe(dOf(T0));
    expect(again.list(siteId, { limit: 10, target: 'site' }).map((c) => c.address)).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
    // One key per target, whoever asks: the rollups' repositories ask the checks repository.
    expect(t!.svc.rollups.keyOf(siteId, up)).toBe(repo.keyOf(siteId, up));
    expect(again.keyOf(siteId, up)).toBe(repo.keyOf(siteId, up));
    expect(repo.keyOf(siteId, 'nothing')).toBeNull();
    expect(count('SELECT COUNT(*) AS n FROM rollup_targets WHERE site_id = ?', siteId)).toBe(2);
  });
});
