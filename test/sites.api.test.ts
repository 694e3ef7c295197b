import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, getRefusingPort, startHealthyServer, startNginx502Server, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';

let t: TestService;
let servers: TestServer[] = [];
let healthy: TestServer;

beforeEach(async () => {
  t = createTestService();
  healthy = await startHealthyServer();
  servers = [healthy];
});
afterEach(async () => {
  await t.close();
  await closeAll(servers);
});

const body = (over: Record<string, unknown> = {}) => ({
  name: 'shop',
  url: healthy.url,
  upstreams: [{ name: 'app-1', url: `${healthy.url}health` }],
  ...over,
});

describe('auth', () => {
  it('refuses every /api route without a token, and with a wrong one', async () => {
    for (const [method, path] of [
      ['GET', '/api/sites'],
      ['POST', '/api/sites'],
      ['GET', '/api/sites/1'],
      ['PATCH', '/api/sites/1'],
      ['DELETE', '/api/sites/1'],
      ['POST', '/api/sites/1/check'],
      ['GET', '/api/sites/1/checks'],
      ['GET', '/api/incidents'],
      ['GET', '/api/incidents/1'],
      ['GET', '/api/alerts'],
    ]) {
      const none = await t.call(method, path, undefined, { token: null });
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.body.error.code).toBe('auth.unauthorized');
      const wrong = await t.call(method, path, undefined, { token: 'not-the-token-at-all' });
      expect(wrong.status, `${method} ${path}`).toBe(401);
    }
  });

  it('does not take the token from the query string', async () => {
    const res = await t.call('GET', `/api/sites?token=test-token-0123456789abcdef`, undefined, { token: null });
    expect(res.status).toBe(401);
  });

  it('serves status without a token, and healthz', async () => {
    expect((await t.call('GET', '/api/status', undefined, { token: null })).status).toBe(200);
    // Nothing is checked until the scheduler runs: 503 with the reason, then 200.
    const stopped = await t.call('GET', '/healthz', undefined, { token: null });
    expect(stopped.status).toBe(503);
    expect(stopped.body).toMatchObject({ ok: false, scheduler: 'stopped', reason: expect.stringContaining('scheduler is not running') });
    t.svc.scheduler.start();
    const h = await t.call('GET', '/healthz', undefined, { token: null });
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ ok: true, scheduler: 'running' });
  });

  it('keeps status private when STATUS_PUBLIC=false', async () => {
    const priv = createTestService({ STATUS_PUBLIC: 'false' });
    try {
      expect((await priv.call('GET', '/api/status', undefined, { token: null })).status).toBe(401);
      expect((await priv.call('GET', '/api/status')).status).toBe(200);
    } finally {
      await priv.close();
    }
  });
});

describe('sites CRUD', () => {
  it('creates with the contract defaults and reads it back', async () => {
    const res = await t.call('POST', '/api/sites', { name: 'shop', url: healthy.url });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'shop',
      url: healthy.url,
      upstreams: [],
      intervalSeconds: 60,
      timeoutMs: 10000,
      failureThreshold: 3,
      recoveryThreshold: 2,
      expectedStatus: [200, 299],
      alertEmails: [],
      paused: false,
      state: 'unknown',
    });
    const got = await t.call('GET', `/api/sites/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(res.body.id);
    const list = await t.call('GET', '/api/sites');
    expect(list.body.sites.map((s: { id: number }) => s.id)).toEqual([res.body.id]);
  });

  it('patches fields, replaces upstreams as a whole and keeps the id of a kept upstream', async () => {
    const created = (await t.call('POST', '/api/sites', body({ upstreams: [{ name: 'a', url: healthy.url }, { name: 'b', url: healthy.url }] }))).body;
    const aId = created.upstreams[0].id;
    const res = await t.call('PATCH', `/api/sites/${created.id}`, {
      intervalSeconds: 5,
      paused: true,
      upstreams: [{ name: 'a', url: `${healthy.url}x` }, { name: 'c', url: healthy.url }],
    });
    expect(res.status).toBe(200);
    expect(res.body.intervalSeconds).toBe(5);
    expect(res.body.state).toBe('paused');
    expect(res.body.upstreams.map((u: { name: string }) => u.name)).toEqual(['a', 'c']);
    expect(res.body.upstreams[0].id).toBe(aId);
    expect(res.body.upstreams[0].url).toBe(`${healthy.url}x`);
  });

  it('deletes with its history: 204 then 404', async () => {
    const created = (await t.call('POST', '/api/sites', body())).body;
    await t.call('POST', `/api/sites/${created.id}/check`);
    expect((await t.call('DELETE', `/api/sites/${created.id}`)).status).toBe(204);
    expect((await t.call('GET', `/api/sites/${created.id}`)).status).toBe(404);
    expect((await t.call('GET', `/api/sites/${created.id}/checks`)).status).toBe(404);
    await t.svc.housekeeping.runOnce();
    const left = t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM raw_checks').get() as { n: number };
    expect(left.n).toBe(0);
  });

  it('a burst of creations shares a commit: every one acknowledged is stored, a failing one fails alone', async () => {
    // A database fault for one name only (a trigger on this connection), in the middle of a burst.
    t.svc.db.$client.exec(
      "CREATE TEMP TRIGGER fail_one BEFORE INSERT ON main.sites WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'simulated fault'); END;",
    );
    const names = Array.from({ length: 40 }, (_, i) => (i === 17 ? 'boom' : `burst-${i}`));
    const answers = await Promise.all(names.map((name) => t.call('POST', '/api/sites', body({ name }))));
    expect(answers.map((a) => a.status)).toEqual(names.map((n) => (n === 'boom' ? 500 : 201)));
    expect(answers[17].body.error.message).toMatch(/^internal error \(request id /);
    const ids = answers.filter((a) => a.status === 201).map((a) => a.body.id as number);
    expect(new Set(ids).size).toBe(39);
    // Every acknowledged site, with its upstream, is stored and listed; the failed one left nothing.
    const listed = (await t.call('GET', '/api/sites')).body.sites as { id: number; name: string; upstreams: unknown[] }[];
    expect(listed.map((s) => s.name).sort()).toEqual(names.filter((n) => n !== 'boom').sort());
    expect(listed).toHaveLength(39);
    expect(listed.every((s) => s.upstreams.length === 1)).toBe(true);
    expect((t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM upstreams').get() as { n: number }).n).toBe(39);
  });

  it('a creation whose upstream fails to insert leaves no site behind, and the rest of its burst is stored', async () => {
    // The site row goes in first: its savepoint must take it back out when its upstream fails.
    t.svc.db.$client.exec(
      "CREATE TEMP TRIGGER fail_upstream BEFORE INSERT ON main.upstreams WHEN NEW.url LIKE '%/boom' BEGIN SELECT RAISE(ABORT, 'simulated fault'); END;",
    );
    const urls = Array.from({ length: 10 }, (_, i) => `http://127.0.0.1:9/${i === 4 ? 'boom' : 'ok'}`);
    const answers = await Promise.all(
      urls.map((url, i) => t.call('POST', '/api/sites', body({ name: `burst-${i}`, upstreams: [{ name: 'app-1', url }] }))),
    );
    expect(answers.map((a) => a.status)).toEqual(urls.map((u) => (u.endsWith('boom') ? 500 : 201)));
    const names = (t.svc.db.$client.prepare('SELECT name FROM sites ORDER BY id').all() as { name: string }[]).map((r) => r.name);
    expect(names).toEqual(urls.map((_, i) => `burst-${i}`).filter((n) => n !== 'burst-4'));
    expect((t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM upstreams').get() as { n: number }).n).toBe(9);
  });

  it('answers 404 with an error body for unknown ids on every site route', async () => {
    for (const [method, path, b] of [
      ['GET', '/api/sites/999'],
      ['PATCH', '/api/sites/999', { paused: true }],
      ['DELETE', '/api/sites/999'],
      ['POST', '/api/sites/999/check'],
      ['GET', '/api/sites/999/checks'],
      ['GET', '/api/status/999'],
      ['GET', '/api/incidents/999'],
    ] as [string, string, unknown][]) {
      const res = await t.call(method, path, b);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toMatch(/not_found$/);
    }
  });
});

describe('bad input', () => {
  const cases: [string, unknown, string][] = [
    ['missing name', { url: 'http://127.0.0.1/' }, 'name'],
    ['name a number', { name: 5, url: 'http://127.0.0.1/' }, 'name'],
    ['name with CR/LF', { name: 'a\r\nBcc: x@y', url: 'http://127.0.0.1/' }, 'name'],
    ['url not a url', { name: 'a', url: 'not a url' }, 'url'],
    ['ftp url', { name: 'a', url: 'ftp://127.0.0.1/' }, 'url'],
    ['javascript url', { name: 'a', url: 'javascript:alert(1)' }, 'url'],
    ['interval 0', { name: 'a', url: 'http://127.0.0.1/', intervalSeconds: 0 }, 'intervalSeconds'],
    ['interval too large', { name: 'a', url: 'http://127.0.0.1/', intervalSeconds: 86401 }, 'intervalSeconds'],
    ['interval fractional', { name: 'a', url: 'http://127.0.0.1/', intervalSeconds: 1.5 }, 'intervalSeconds'],
    ['interval a string', { name: 'a', url: 'http://127.0.0.1/', intervalSeconds: '60' }, 'intervalSeconds'],
    ['failureThreshold 101', { name: 'a', url: 'http://127.0.0.1/', failureThreshold: 101 }, 'failureThreshold'],
    ['recoveryThreshold 0', { name: 'a', url: 'http://127.0.0.1/', recoveryThreshold: 0 }, 'recoveryThreshold'],
    ['expectedStatus reversed', { name: 'a', url: 'http://127.0.0.1/', expectedStatus: [299, 200] }, 'expectedStatus'],
    ['bad email', { name: 'a', url: 'http://127.0.0.1/', alertEmails: ['nope'] }, 'alertEmails.0'],
    ['email with LF', { name: 'a', url: 'http://127.0.0.1/', alertEmails: ['a@b.c\nBcc: d@e.f'] }, 'alertEmails.0'],
    ['unknown field', { name: 'a', url: 'http://127.0.0.1/', colour: 'red' }, 'colour'],
    ['21 upstreams', { name: 'a', url: 'http://127.0.0.1/', upstreams: Array.from({ length: 21 }, (_, i) => ({ name: `u${i}`, url: 'http://127.0.0.1/' })) }, 'upstreams'],
    ['upstream without url', { name: 'a', url: 'http://127.0.0.1/', upstreams: [{ name: 'u' }] }, 'upstreams.0.url'],
    ['duplicate upstream names', { name: 'a', url: 'http://127.0.0.1/', upstreams: [{ name: 'u', url: 'http://127.0.0.1/' }, { name: 'U', url: 'http://127.0.0.1/' }] }, 'upstreams'],
    ['paused a string', { name: 'a', url: 'http://127.0.0.1/', paused: 'yes' }, 'paused'],
    ['an array body', [1, 2], 'body'],
  ];
  for (const [label, input, field] of cases) {
    it(`rejects ${label} with a 400 naming ${field}`, async () => {
      const res = await t.call('POST', '/api/sites', input);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation.failed');
      expect(res.body.error.message).toContain(field === 'body' ? 'body' : field);
    });
  }

  it('rejects malformed JSON with a 400', async () => {
    const res = await t.call('POST', '/api/sites', undefined, { raw: '{not json' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation.malformed_json');
  });

  it('rejects a body over 1 MB with a 413', async () => {
    const res = await t.call('POST', '/api/sites', undefined, { raw: JSON.stringify({ name: 'x'.repeat(1_100_000), url: 'http://127.0.0.1/' }) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('request.too_large');
  });

  it('rejects bad ids, queries and empty patches', async () => {
    expect((await t.call('GET', '/api/sites/abc')).body.error.message).toContain('id');
    expect((await t.call('GET', '/api/sites/-1')).status).toBe(400);
    const site = (await t.call('POST', '/api/sites', body())).body;
    const q = await t.call('GET', `/api/sites/${site.id}/checks?limit=0`);
    expect(q.status).toBe(400);
    expect(q.body.error.message).toContain('limit');
    const empty = await t.call('PATCH', `/api/sites/${site.id}`, {});
    expect(empty.status).toBe(400);
    const badState = await t.call('GET', '/api/incidents?state=maybe');
    expect(badState.status).toBe(400);
    expect(badState.body.error.message).toContain('state');
  });

  it('answers unknown routes with a 404 error body', async () => {
    const res = await t.call('GET', '/api/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('route.not_found');
  });
});

describe('checks and status', () => {
  it('runs a round now and lists its checks newest first, with timings', async () => {
    const site = (await t.call('POST', '/api/sites', body())).body;
    const run = await t.call('POST', `/api/sites/${site.id}/check`);
    expect(run.status).toBe(200);
    expect(run.body.checks).toHaveLength(2);
    for (const c of run.body.checks) {
      expect(c.outcome).toBe('ok');
      expect(c.totalMs).toBeGreaterThanOrEqual(c.ttfbMs);
      expect(c.addresses).toEqual(['127.0.0.1']);
    }
    await t.call('POST', `/api/sites/${site.id}/check`);
    await t.call('POST', `/api/sites/${site.id}/check`);
    const list = await t.call('GET', `/api/sites/${site.id}/checks?limit=3`);
    // 3, and the rest of the third one's round when its checks share its startedAt.
    expect(list.body.checks.length).toBeGreaterThanOrEqual(3);
    expect(list.body.checks.slice(3).every((c: { startedAt: number }) => c.startedAt === list.body.checks[2].startedAt)).toBe(true);
    const times = list.body.checks.map((c: { startedAt: number }) => c.startedAt);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const older = await t.call('GET', `/api/sites/${site.id}/checks?before=${list.body.nextBefore}`);
    expect(older.body.checks.length).toBeGreaterThan(0);
    expect(older.body.checks.every((c: { startedAt: number }) => c.startedAt < list.body.nextBefore)).toBe(true);
    // Paging one check at a time still reaches every check once: a page ends with a whole round.
    const seen: number[] = [];
    let before: number | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await t.call('GET', `/api/sites/${site.id}/checks?limit=1${before === null ? '' : `&before=${before}`}`);
      seen.push(...page.body.checks.map((c: { id: number }) => c.id));
      before = page.body.nextBefore;
      if (before === null) break;
    }
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    const got = await t.call('GET', `/api/sites/${site.id}`);
    expect(got.body.state).toBe('up');
  });

  it('pages checks without skipping those of one round that share their startedAt', async () => {
    const site = (await t.call('POST', '/api/sites', { ...body(), paused: true })).body;
    const check = (startedAt: number, target: string) => ({
      siteId: site.id, target, targetName: target, startedAt, outcome: 'ok' as const, statusCode: 200, errorMessage: null,
      addresses: ['127.0.0.1'], address: '127.0.0.1', dnsMs: 1, connectMs: 1, tlsMs: null, ttfbMs: 2, totalMs: 3, gateway: null, incidentId: null,
    });
    // Three rounds of a site and two upstreams, each round's checks at one millisecond.
    t.svc.checks.insertMany([1000, 2000, 3000].flatMap((at) => ['site', 'u1', 'u2'].map((target) => check(at, target))));
    const seen: number[] = [];
    let before: number | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page = await t.call('GET', `/api/sites/${site.id}/checks?limit=2${before === null ? '' : `&before=${before}`}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.checks.map((c: { id: number }) => c.id));
      before = page.body.nextBefore;
      if (before === null) break;
    }
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
  });

  it('shows state, last check and uptime in status; anonymous callers see no URLs or addresses', async () => {
    const bad = await startNginx502Server();
    const refusing = await getRefusingPort();
    servers.push(bad, refusing);
    const up = (await t.call('POST', '/api/sites', body({ name: 'good' }))).body;
    const down = (await t.call('POST', '/api/sites', body({ name: 'bad', url: bad.url, upstreams: [{ name: 'app-1', url: refusing.url }] }))).body;
    await t.call('POST', `/api/sites/${up.id}/check`);
    await t.call('POST', `/api/sites/${down.id}/check`);

    const anon = await t.call('GET', '/api/status', undefined, { token: null });
    expect(anon.status).toBe(200);
    const byName = Object.fromEntries(anon.body.sites.map((s: { name: string }) => [s.name, s]));
    expect(byName.good.state).toBe('up');
    expect(byName.good.uptime['24h']).toBe(100);
    expect(byName.good.lastCheck.outcome).toBe('ok');
    expect(byName.bad.lastCheck.outcome).toBe('bad_gateway');
    const text = JSON.stringify(anon.body);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('http://');

    const anonOne = await t.call('GET', `/api/status/${down.id}`, undefined, { token: null });
    expect(anonOne.body.upstreams[0]).toMatchObject({ name: 'app-1', state: 'down' });
    expect(JSON.stringify(anonOne.body)).not.toContain('127.0.0.1');

    const authed = await t.call('GET', `/api/status/${down.id}`);
    expect(authed.body.url).toBe(bad.url);
    expect(authed.body.upstreams[0].url).toBe(refusing.url);
    expect(authed.body.upstreams[0].lastCheck.outcome).toBe('conn_refused');
  });

  it('sets security headers on every answer', async () => {
    for (const path of ['/healthz', '/api/status', '/api/sites', '/api/nope']) {
      const res = await t.call('GET', path);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
  });
});
