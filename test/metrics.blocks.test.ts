import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gunzipSync } from 'node:zlib';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpProbe } from '../src/probes/http.probe.js';
import { createResolver } from '../src/probes/dns.resolver.js';
import { createTargetPolicy } from '../src/probes/target-policy.js';
import { listen, trackForCleanup } from './support/http-servers.js';
import { closeDatabase } from '../src/db/client.js';
import { createMetrics } from '../src/metrics/metrics.collector.js';
import { phaseShare } from '../src/scheduler/scheduler.js';
import { crc32Combine, gzipMember, join as joinKept, keep, unkeep } from '../src/metrics/metrics.gzip.js';
import { LineWriter } from '../src/metrics/metrics.writer.js';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';
import { createSelfSignedCert, startTlsServer } from './support/tls.js';

const track = trackForCleanup();
let services: TestService[] = [];
afterEach(async () => {
  for (const s of services) await s.close();
  services = [];
});

/** The per-target families: stable between two scrapes when no check ran in between. */
const PER_TARGET = /^gatewatch_(probe_|cert_expiry|site_state|incident_open)/;

const scrape = async (t: TestService, gzip = false) => {
  const res = await t.svc.app.request('/metrics', { headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } });
  expect(res.status).toBe(200);
  const raw = Buffer.from(await res.arrayBuffer());
  return { encoding: res.headers.get('content-encoding'), text: gzip ? gunzipSync(raw).toString() : raw.toString() };
};

/** Every per-target sample as `name{labels} value`, sorted. */
const samples = (text: string) =>
  parsePrometheusTextFormat(text)
    .filter((f) => PER_TARGET.test(f.name))
    .flatMap((f) => f.metrics.map((m) => `${f.name}${JSON.stringify(Object.entries(m.labels ?? {}).sort())} ${m.value}`))
    .sort();

const sampleOf = (text: string, name: string, labels: Record<string, string>) =>
  parsePrometheusTextFormat(text)
    .find((f) => f.name === name)
    ?.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)) ?? [];

/** A service with a real probe (trusting `extraCa`), and a loopback server whose status the test sets. */
async function setUp(env: Record<string, string> = {}, extraCa?: string) {
  const answer = { status: 200 };
  const server = track(await listen(http.createServer((_req, res) => res.writeHead(answer.status).end('x'))));
  const probe = createHttpProbe({ resolver: createResolver(), policy: createTargetPolicy(), extraCa });
  const t = createTestService({ ALERT_GROUP_SECONDS: '0', ...env }, { probe });
  services.push(t);
  const create = async (name: string, url = server.url) =>
    (await t.call('POST', '/api/sites', { name, url, intervalSeconds: 3600, upstreams: [{ name: 'api-1', url: server.url }] })).body as { id: number };
  const checkNow = async (id: number) => expect((await t.call('POST', `/api/sites/${id}/check`)).status).toBe(200);
  return { answer, t, create, checkNow };
}

describe('GET /metrics kept lines', () => {
  it("renews a site's lines after its next check, shows a new site, follows an edit and drops a deleted site", async () => {
    const { answer, t, create, checkNow } = await setUp();
    const alpha = await create('alpha');
    await checkNow(alpha.id);
    let text = (await scrape(t)).text;
    expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(alpha.id), target: 'site' })[0].value).toBe('1');
    expect(sampleOf(text, 'gatewatch_probe_http_status_code', { site_id: String(alpha.id), target: 'api-1' })[0].value).toBe('200');

    // The next check changes the lines.
    answer.status = 503;
    await checkNow(alpha.id);
    text = (await scrape(t)).text;
    expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(alpha.id), target: 'site' })[0].value).toBe('0');
    expect(sampleOf(text, 'gatewatch_probe_http_status_code', { site_id: String(alpha.id), target: 'api-1' })[0].value).toBe('503');

    // A new site appears at once (its state), then with its checks.
    const beta = await create('beta');
    text = (await scrape(t)).text;
    expect(sampleOf(text, 'gatewatch_site_state', { site_id: String(beta.id) }).map((m) => m.labels!.state)).toEqual(['unknown']);
    expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(beta.id) })).toHaveLength(0);
    await checkNow(beta.id);
    text = (await scrape(t)).text;
    expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(beta.id) })).toHaveLength(2);

    // An edit: the new name (escaped, not ASCII, read back) and the renamed upstream on every line of the site.
    const edit = await t.call('PATCH', `/api/sites/${alpha.id}`, { name: 'alpha "2" – café', upstreams: [{ name: 'api-ü', url: 'http://127.0.0.1:9/' }] });
    expect(edit.status, JSON.stringify(edit.body)).toBe(200);
    text = (await scrape(t)).text;
    const alphaLines = parsePrometheusTextFormat(text).flatMap((f) => f.metrics.filter((m) => m.labels?.site_id === String(alpha.id)));
    expect(alphaLines.length).toBeGreaterThan(0);
    expect(new Set(alphaLines.map((m) => m.labels!.site))).toEqual(new Set(['alpha "2" – café']));
    const targets = new Set(sampleOf(text, 'gatewatch_probe_success', { site_id: String(alpha.id) }).map((m) => m.labels!.target));
    expect(targets.has('api-1')).toBe(false);
    await checkNow(alpha.id);
    text = (await scrape(t)).text;
    expect(sampleOf(text, 'gatewatch_probe_duration_seconds', { site_id: String(alpha.id), target: 'api-ü', phase: 'total' })).toHaveLength(1);
    expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(alpha.id), target: 'site', site: 'alpha "2" – café' })).toHaveLength(1);

    // A deletion: none of the site's lines is left.
    expect((await t.call('DELETE', `/api/sites/${beta.id}`)).status).toBe(204);
    text = (await scrape(t)).text;
    const ids = parsePrometheusTextFormat(text).flatMap((f) => f.metrics.map((m) => m.labels?.site_id)).filter(Boolean);
    expect(ids).toContain(String(alpha.id));
    expect(ids).not.toContain(String(beta.id));
  }, 30_000);

  it('answers gzip with the same samples as identity, and keeps each family in one piece', async () => {
    const { answer, t, create, checkNow } = await setUp();
    // More sites than one group of kept lines (128 ids), some failing: every family spans groups.
    for (let i = 0; i < 300; i++) await create(`site-${i}`);
    const checked = [1, 2, 130, 131, 299];
    for (const id of checked.slice(0, 3)) await checkNow(id);
    answer.status = 502;
    for (const id of checked.slice(3)) await checkNow(id);

    const identity = await scrape(t);
    const gzip = await scrape(t, true);
    expect(identity.encoding).toBeNull();
    expect(gzip.encoding).toBe('gzip');
    expect(samples(gzip.text)).toEqual(samples(identity.text));
    expect(samples(identity.text).filter((s) => s.startsWith('gatewatch_site_state'))).toHaveLength(300);
    expect(sampleOf(identity.text, 'gatewatch_probe_success', {})).toHaveLength(checked.length * 2);

    // The text format wants all samples of a family together: each TYPE once, and every sample
    // under its own family's TYPE line.
    for (const { text } of [identity, gzip]) {
      const typed: string[] = [];
      for (const line of text.split('\n')) {
        if (line.startsWith('# TYPE ')) typed.push(line.split(' ')[2]);
        else if (line && !line.startsWith('#')) expect(line.startsWith(typed[typed.length - 1])).toBe(true);
      }
      expect(new Set(typed).size).toBe(typed.length);
      expect(typed).toContain('gatewatch_probe_duration_seconds');
    }
  }, 60_000);

  it("keeps the duration lines of a group's untouched parts, and renders the parts of edited and deleted sites", async () => {
    const { t, create, checkNow } = await setUp();
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) ids.push((await create(`site-${i}`)).id);
    // The first scrape reads the new sites, the next one groups them by phase (300: four groups).
    await scrape(t);
    await scrape(t);
    expect(t.svc.metrics.counts()).toMatchObject({ groups: 4, stale: 0 });
    // Sites in every group and part have durations (a group keeps them in eighths by phase).
    const checked = ids.filter((_, i) => i % 6 === 0);
    for (const id of checked) await checkNow(id);
    const before = samples((await scrape(t)).text);
    expect(before.filter((x) => x.startsWith('gatewatch_probe_duration_seconds')).length).toBeGreaterThanOrEqual(checked.length * 2 * 4);
    expect(t.svc.metrics.counts()).toMatchObject({ groups: 4, stale: 0 });

    // Edits in a few parts of each group: three renamed, two deleted, all of them checked sites.
    const renamed = [checked[1], checked[20], checked[37]];
    const deleted = [checked[5], checked[44]];
    expect(new Set([...renamed, ...deleted].map((id) => Math.floor(phaseShare(id) * 32))).size).toBe(5);
    for (const id of renamed) expect((await t.call('PATCH', `/api/sites/${id}`, { name: `renamed "${id}" – ü` })).status).toBe(200);
    for (const id of deleted) expect((await t.call('DELETE', `/api/sites/${id}`)).status).toBe(204);

    const esc = (v: string) => JSON.stringify(v);
    const expected = before
      .filter((x) => !deleted.some((id) => x.includes(`["site_id","${id}"]`)))
      .map((x) => {
        const id = renamed.find((r) => x.includes(`["site_id","${r}"]`));
        return id === undefined ? x : x.replace(`["site",${esc(`site-${ids.indexOf(id)}`)}]`, `["site",${esc(`renamed "${id}" – ü`)}]`);
      })
      .sort();
    expect(expected.filter((x) => x.includes('renamed')).length).toBeGreaterThan(renamed.length * 8);
    expect(samples((await scrape(t)).text)).toEqual(expected);
    expect(samples((await scrape(t, true)).text)).toEqual(expected);
  }, 60_000);

  for (const stop of ['clean', 'killed'] as const) {
    it(`has every target's lines, phases included, in the first scrape after a restart (${stop})`, async () => {
      const dbDir = mkdtempSync(join(tmpdir(), 'gw-metrics-restart-'));
      try {
        const dbPath = join(dbDir, 'gw.db');
        const cert = await createSelfSignedCert(['secure.test']);
        const tls = track(await startTlsServer(cert));
        const { answer, t, create, checkNow } = await setUp({ DATABASE_PATH: dbPath }, cert.cert);
        const up = await create('up');
        const failing = await create('failing');
        const secure = await create('secure', tls.url);
        // The snapshot's rows are written every 5 minutes; a kill loses none of the checks stored since.
        await t.svc.snapshot.flush();
        await checkNow(up.id);
        await checkNow(secure.id);
        answer.status = 503;
        await checkNow(failing.id);
        const before = samples((await scrape(t)).text);
        expect(before.filter((s) => s.startsWith('gatewatch_probe_success'))).toHaveLength(6);
        // The https site has all five phases before the restart; the test is that they come back.
        const phasesOf = (text: string, id: number, target: string) =>
          sampleOf(text, 'gatewatch_probe_duration_seconds', { site_id: String(id), target }).map((m) => m.labels!.phase).sort();
        expect(before.filter((s) => s.startsWith('gatewatch_probe_duration_seconds') && s.includes('"tls"'))).toHaveLength(1);

        // 'killed': the database closed as it is, without the service's stop (the snapshot's rows not flushed).
        services = services.filter((s) => s !== t);
        if (stop === 'clean') await t.close();
        else {
          t.svc.status.stop();
          closeDatabase(t.svc.db);
          rmSync(t.dir, { recursive: true, force: true });
        }

        const again = createTestService({ DATABASE_PATH: dbPath });
        services.push(again);
        const after = (await scrape(again)).text;
        // Every sample as before: the status snapshot's last check of each target (success,
        // status code, ttfb, total), with the dns, connect and tls phases of that same check.
        expect(samples(after)).toEqual(before);
        expect(phasesOf(after, secure.id, 'site')).toEqual(['connect', 'dns', 'tls', 'total', 'ttfb']);
        for (const [id, value, code] of [[up.id, '1', '200'], [failing.id, '0', '503']] as const) {
          for (const target of ['site', 'api-1']) {
            expect(sampleOf(after, 'gatewatch_probe_success', { site_id: String(id), target }).map((m) => m.value)).toEqual([value]);
            expect(sampleOf(after, 'gatewatch_probe_http_status_code', { site_id: String(id), target }).map((m) => m.value)).toEqual([code]);
            expect(phasesOf(after, id, target)).toEqual(['connect', 'dns', 'total', 'ttfb']);
          }
        }
      } finally {
        rmSync(dbDir, { recursive: true, force: true });
      }
    }, 30_000);
  }

  it('renders in the background, without a scrape, what checks leave stale; a scrape then finds nothing to render', async () => {
    const { t, create, checkNow } = await setUp();
    // More than one group (128 sites), so that the checks leave some groups stale and not others.
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) ids.push((await create(`s-${i}`)).id);
    await vi.waitFor(() => expect(t.svc.metrics.counts()).toMatchObject({ groups: 4, stale: 0, passRunning: false }), { timeout: 15_000 });
    const before = t.svc.metrics.counts().passMs;
    await checkNow(ids[0]);
    await checkNow(ids[150]);
    // Nobody scrapes: the background pass (every second) renders the two sites' groups.
    await vi.waitFor(() => expect(t.svc.metrics.counts()).toMatchObject({ stale: 0, passRunning: false }), { timeout: 15_000 });
    expect(t.svc.metrics.counts().passMs).toBeGreaterThan(before);

    const text = (await scrape(t)).text;
    for (const id of [ids[0], ids[150]]) expect(sampleOf(text, 'gatewatch_probe_success', { site_id: String(id) })).toHaveLength(2);
    expect(samples(text).filter((s) => s.startsWith('gatewatch_site_state'))).toHaveLength(300);

    // Most sites deleted: the groups are made again, fewer, and keep the lines of those left.
    for (const id of ids.slice(1, 251)) expect((await t.call('DELETE', `/api/sites/${id}`)).status).toBe(204);
    await vi.waitFor(() => expect(t.svc.metrics.counts()).toMatchObject({ groups: 1, stale: 0 }), { timeout: 15_000 });
    const after = (await scrape(t)).text;
    expect(samples(after).filter((s) => s.startsWith('gatewatch_site_state'))).toHaveLength(50);
    expect(sampleOf(after, 'gatewatch_probe_success', { site_id: String(ids[0]) })).toHaveLength(2);
    expect(sampleOf(after, 'gatewatch_probe_success', { site_id: String(ids[150]) })).toHaveLength(0);
  }, 60_000);

  it('keeps the sites checked at close moments of their interval in one group: a second of checks leaves one group stale, not all', async () => {
    const t = createTestService();
    services.push(t);
    const ids: number[] = [];
    for (let i = 0; i < 600; i++) {
      const res = await t.call('POST', '/api/sites', { name: `p-${i}`, url: 'http://127.0.0.1:9/', intervalSeconds: 60 });
      ids.push((res.body as { id: number }).id);
    }
    // Only the pass at start: the test counts stale groups.
    const metrics = createMetrics({ db: t.svc.db, schedulerStats: () => t.svc.scheduler.stats(), alertsPending: () => 0, processMetrics: false, passes: { passEveryMs: 0 } });
    try {
      await vi.waitFor(() => expect(metrics.counts()).toMatchObject({ stale: 0, passRunning: false }));
      // 600 sites: 8 groups of 75 (a power of two of at most 128 sites each).
      expect(metrics.counts().groups).toBe(8);
      let at = Date.now();
      const checkOf = (id: number) => ({
        siteId: id, target: 'site', targetName: 'site', startedAt: (at += 1), outcome: 'ok', statusCode: 200,
        dnsMs: 1, connectMs: 2, tlsMs: null, ttfbMs: 10, totalMs: 11, certExpiresAt: null,
      });
      // The sites whose rounds fall in one and the same second of a 60 s interval (the scheduler's phases).
      const second = ids.filter((id) => Math.floor(phaseShare(id) * 60) === 3);
      expect(second.length).toBeGreaterThan(3);
      metrics.observe(second.map(checkOf) as never);
      expect(metrics.counts().stale).toBe(1);
      expect(new Set(second.map((id) => metrics.groupOf(id))).size).toBe(1);
      await metrics.text();
      // Ten consecutive ids are checked at ten far-apart moments: they span the groups.
      metrics.observe(ids.slice(0, 10).map(checkOf) as never);
      expect(metrics.counts().stale).toBeGreaterThanOrEqual(6);
      const text = await metrics.text();
      expect(sampleOf(text, 'gatewatch_probe_success', {})).toHaveLength(second.length + ids.slice(0, 10).filter((id) => !second.includes(id)).length);
    } finally {
      metrics.stop();
    }
  }, 60_000);

  it('keeps the background passes within their share of a core when every group changes all the time; a scrape still shows every check', async () => {
    const t = createTestService();
    services.push(t);
    const ids: number[] = [];
    for (let i = 0; i < 400; i++) ids.push((await t.call('POST', '/api/sites', { name: `b-${i}`, url: 'http://127.0.0.1:9/', intervalSeconds: 60 })).body.id as number);
    // A pass every 10 ms, groups settled at once, 2 % of a core with a 40 ms burst (unbounded,
    // the passes would take several hundred ms of the 2 s).
    const passes = { passEveryMs: 10, settleMs: 0, passShare: 0.02, passBurstMs: 40 };
    const metrics = createMetrics({ db: t.svc.db, schedulerStats: () => t.svc.scheduler.stats(), alertsPending: () => 0, processMetrics: false, passes });
    try {
      await vi.waitFor(() => expect(metrics.counts()).toMatchObject({ stale: 0, passRunning: false }));
      const start = performance.now();
      const from = metrics.counts().passMs;
      let at = Date.now();
      // Every site checked every 5 ms (every group stale at every pass), for 2 s.
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          at += 1;
          metrics.observe(ids.map((id) => ({ siteId: id, target: 'site', targetName: 'site', startedAt: at, outcome: 'ok', statusCode: 200, dnsMs: 1, connectMs: 2, tlsMs: null, ttfbMs: 10, totalMs: at % 1000, certExpiresAt: null })) as never);
          if (performance.now() - start >= 2_000) {
            clearInterval(timer);
            resolve();
          }
        }, 5);
      });
      const elapsed = performance.now() - start;
      const spent = metrics.counts().passMs - from;
      // Passes ran, and took no more than the share, the burst and one slice past the budget.
      expect(spent).toBeGreaterThan(0);
      expect(spent).toBeLessThanOrEqual(elapsed * passes.passShare + passes.passBurstMs + 60);
      const text = await metrics.text();
      expect(sampleOf(text, 'gatewatch_probe_duration_seconds', { phase: 'total' }).map((m) => m.value)).toEqual(ids.map(() => String((at % 1000) / 1000)));
    } finally {
      metrics.stop();
    }
  }, 60_000);
});

describe('GET /metrics, gzip from pieces', () => {
  const read = async (stream: AsyncIterable<Buffer>) => {
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(part);
    return Buffer.concat(parts);
  };
  async function* of<T>(items: T[]) {
    yield* items;
  }
  const text = (n: number, seed: string) => Buffer.from(Array.from({ length: n }, (_, i) => `${seed}{i="${i}"} ${i * 7}\n`).join(''));

  it('compresses each piece on its own: kept pieces in any order, and text compressed in place, make one valid gzip member', async () => {
    const raws = [text(10, 'a'), text(9_000, 'big'), text(1, 'c'), text(3_000, 'd'), Buffer.alloc(0)];
    const kept = raws.map((raw) => keep(raw));
    const order = [3, 0, 4, 2, 1];
    const pieces = order.map((i) => (i === 2 ? raws[i] : kept[i]));
    // gunzipSync checks the trailer: the kept pieces' CRCs combined must be the whole text's.
    expect(gunzipSync(await read(gzipMember(of(pieces)))).equals(Buffer.concat(order.map((i) => raws[i])))).toBe(true);
    expect(kept[1].deflated.length).toBeLessThan(raws[1].length / 2);
    for (const [i, raw] of raws.entries()) expect(unkeep(kept[i]).equals(raw)).toBe(true);
  });

  it('joins kept pieces into one (CRCs combined), and gives them back as views of it', async () => {
    const raws = [text(40, 'p'), Buffer.alloc(0), text(2_000, 'q'), text(1, 'r')];
    const { joined, pieces } = joinKept(raws.map((raw) => keep(raw)));
    expect(joined.length).toBe(Buffer.concat(raws).length);
    expect(joined.crc).toBe(crc32(Buffer.concat(raws)) >>> 0);
    expect(gunzipSync(await read(gzipMember(of([text(3, 'head'), joined, keep(text(5, 'tail'))])))).toString()).toBe(
      `${text(3, 'head')}${Buffer.concat(raws)}${text(5, 'tail')}`,
    );
    for (const [i, piece] of pieces.entries()) {
      expect(unkeep(piece).equals(raws[i])).toBe(true);
      if (piece.length > 0) expect(piece.deflated.buffer).toBe(joined.deflated.buffer);
    }
    // Joined again, with one piece replaced (what a render of one part does).
    const again = joinKept([pieces[0], pieces[1], keep(text(7, 'new')), pieces[3]]).joined;
    expect(unkeep(again).toString()).toBe(`${raws[0]}${text(7, 'new')}${raws[3]}`);
    expect(gunzipSync(await read(gzipMember(of([again])))).toString()).toBe(`${raws[0]}${text(7, 'new')}${raws[3]}`);
    expect(joinKept([keep(Buffer.alloc(0))]).joined.length).toBe(0);
  });

  it('lets the event loop in between the pieces of an answer, not only while rendering', async () => {
    const t = createTestService();
    services.push(t);
    for (let i = 0; i < 300; i++) await t.call('POST', '/api/sites', { name: `s-${i}`, url: 'http://127.0.0.1:9/', intervalSeconds: 3600 });
    // A slice of 0 ms: every piece is followed by a turn of the event loop.
    const metrics = createMetrics({ db: t.svc.db, schedulerStats: () => t.svc.scheduler.stats(), alertsPending: () => 0, processMetrics: false, passes: { passEveryMs: 0, sliceMs: 0 } });
    try {
      await metrics.renderStale();
      expect(metrics.counts()).toMatchObject({ groups: 4, stale: 0 });
      for (const gzip of [false, true]) {
        let turns = 0;
        let counting = true;
        const count = () => {
          turns++;
          if (counting) setImmediate(count);
        };
        setImmediate(count);
        turns = 0;
        const body = await read(metrics.stream(gzip));
        counting = false;
        // Nothing is stale: the turns come from the four groups' site_state pieces going out.
        expect(turns, gzip ? 'gzip' : 'identity').toBeGreaterThanOrEqual(4);
        const text = gzip ? gunzipSync(body).toString() : body.toString();
        expect(text.split('\n').filter((l) => l.startsWith('gatewatch_site_state{'))).toHaveLength(300);
      }
    } finally {
      metrics.stop();
    }
  });

  it("combines CRC-32s as zlib's crc32_combine does", () => {
    const a = text(500, 'x');
    const b = text(123, 'y');
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
    expect(crc32Combine(0, crc32(b), b.length)).toBe(crc32(b));
    expect(crc32Combine(crc32(a), 0, 0)).toBe(crc32(a));
  });

  it('a gzip scrape that finds every group stale renders and compresses them all: the same text as identity, kept compressed', async () => {
    const t = createTestService();
    services.push(t);
    const ids: number[] = [];
    // Four groups of kept lines (at most 128 sites each), every target checked.
    for (let i = 0; i < 300; i++) {
      const res = await t.call('POST', '/api/sites', { name: `site "${i}"`, url: 'http://127.0.0.1:9/', intervalSeconds: 3600, upstreams: [{ name: 'api-1', url: 'http://127.0.0.1:9/' }] });
      ids.push((res.body as { id: number }).id);
    }
    // Only the pass at start: the test counts stale groups.
    const metrics = createMetrics({ db: t.svc.db, schedulerStats: () => t.svc.scheduler.stats(), alertsPending: () => 0, processMetrics: false, passes: { passEveryMs: 0 } });
    try {
      const upstreamOf = new Map(ids.map((id) => [id, String((t.svc.db.$client.prepare('SELECT id FROM upstreams WHERE site_id = ?').get(id) as { id: number }).id)]));
      let at = Date.now();
      const checkAll = () => {
        at += 1000;
        const rows = ids.flatMap((id, i) =>
          [['site', `site "${i}"`], [upstreamOf.get(id)!, 'api-1']].map(([target, targetName], k) => ({
            siteId: id, target, targetName, startedAt: at, outcome: 'ok', statusCode: 200,
            dnsMs: 1 + k, connectMs: 2 + (i % 7), tlsMs: null, ttfbMs: 10 + (i % 13), totalMs: 11 + ((i + at / 1000) % 17), certExpiresAt: null,
          })),
        );
        metrics.observe(rows as never);
      };
      // The pass at start (sites without checks yet) first: then nothing renders until a scrape.
      await vi.waitFor(() => expect(metrics.counts()).toMatchObject({ stale: 0, passRunning: false }));
      checkAll();
      expect(metrics.counts()).toMatchObject({ groups: 4, stale: 4, passRunning: false });

      const gzip = await read(metrics.stream(true));
      expect(metrics.counts()).toMatchObject({ stale: 0 });
      const identity = await metrics.text();
      const text = gunzipSync(gzip).toString();
      expect(text).toBe(identity);
      expect(gzip.length).toBeLessThan(identity.length / 4);
      expect(parsePrometheusTextFormat(text).find((f) => f.name === 'gatewatch_probe_duration_seconds')?.metrics).toHaveLength(300 * 2 * 4);

      // Only the compressed pieces are kept, not the text.
      expect(metrics.counts().keptBytes).toBeLessThan(identity.length / 4);

      // An identity scrape renders what is stale, and the gzip scrape after it sends the same.
      checkAll();
      const identity2 = await metrics.text();
      expect(identity2).not.toBe(identity);
      expect(metrics.counts()).toMatchObject({ stale: 0 });
      const gzip2 = await read(metrics.stream(true));
      expect(gunzipSync(gzip2).toString()).toBe(identity2);
      expect(gzip2.length).toBeLessThan(identity2.length / 4);
    } finally {
      metrics.stop();
    }
  }, 60_000);
});

describe('LineWriter', () => {
  it('writes numbers and seconds as String() does', () => {
    const w = new LineWriter();
    const values: number[] = [];
    for (let ms = 0; ms <= 20_000; ms++) values.push(ms);
    values.push(86_400_000, 123_456_789, 2 ** 53 - 1, 1e15, 1e21, 0.5, 2.3, 1234.5678, -1, -0, NaN, Infinity);
    for (const v of values) {
      w.seconds(v);
      w.byte(32);
      w.number(v);
      w.byte(10);
    }
    // A label value that is not ASCII goes through as UTF-8.
    w.text('café "x"');
    const expected = values.map((v) => `${String(v / 1000)} ${String(v)}\n`).join('') + 'café "x"';
    expect(w.takeView().toString()).toBe(expected);
    // The scratch buffer is reused: the next take holds only what came after.
    w.number(42);
    expect(w.takeView().toString()).toBe('42');
  });

  it('copies a held line start for each line, across the scratch growing, and forgets it on release', () => {
    const w = new LineWriter();
    // A name that turns non-ASCII after its first characters goes through as UTF-8 whole.
    w.text('site="ab€ü"');
    const end = w.at;
    w.hold();
    for (let i = 0; i < 10_000; i++) {
      w.again(0, end);
      w.byte(10);
    }
    expect(w.takeView().toString()).toBe('site="ab€ü"\n'.repeat(10_000));
    w.again(6, end - 1);
    expect(w.takeView().toString()).toBe('ab€ü');
    w.release();
    w.number(7);
    expect(w.takeView().toString()).toBe('7');
  });
});
