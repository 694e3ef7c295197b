import http from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpProbe } from '../src/probes/http.probe.js';
import { createResolver } from '../src/probes/dns.resolver.js';
import { createTargetPolicy } from '../src/probes/target-policy.js';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, type TestService } from './support/service.js';
import { createSelfSignedCert, startTlsServer } from './support/tls.js';
import { waitFor } from './support/wait.js';

let services: TestService[] = [];
let servers: TestServer[] = [];
afterEach(async () => {
  for (const s of services) await s.close();
  for (const s of servers) await s.close();
  services = [];
  servers = [];
});

const scrape = async (t: TestService, token?: string | null) => {
  const res = await t.svc.app.request('/metrics', { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

describe('GET /metrics', () => {
  it('exposes per-target probe series, site states, open incidents and counters, parsed back by a Prometheus text parser', async () => {
    const cert = await createSelfSignedCert(['secure.test']);
    const tls = await startTlsServer(cert);
    const api = await listen(http.createServer((_req, res) => res.end('ok')));
    const broken = await listen(
      http.createServer((_req, res) => {
        res.writeHead(502, { server: 'nginx' });
        res.end('bad gateway');
      }),
    );
    servers.push(tls, api, broken);
    const probe = createHttpProbe({ resolver: createResolver(), policy: createTargetPolicy(), extraCa: cert.cert });
    const t = createTestService({ ALERT_GROUP_SECONDS: '0' }, { probe });
    services.push(t);
    t.svc.scheduler.start();

    const good = (await t.call('POST', '/api/sites', { name: 'shop "main"', url: tls.url, intervalSeconds: 1, upstreams: [{ name: 'api-1', url: api.url }] })).body;
    const bad = (await t.call('POST', '/api/sites', { name: 'blog', url: broken.url, intervalSeconds: 1, failureThreshold: 1 })).body;
    await waitFor(async () => (await t.call('GET', `/api/sites/${good.id}`)).body.state === 'up', { timeoutMs: 20_000, message: 'shop up' });
    await waitFor(async () => (await t.call('GET', `/api/sites/${bad.id}`)).body.state === 'down', { timeoutMs: 20_000, message: 'blog down' });

    const unauthorized = await scrape(t, null);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.text).toContain('auth.unauthorized');
    expect((await scrape(t, 'wrong-token-0123456789')).status).toBe(401);

    const res = await scrape(t, 'test-token-0123456789abcdef');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = new Map(parsePrometheusTextFormat(res.text).map((f) => [f.name, f]));
    const samples = (name: string) => families.get(name)?.metrics ?? [];
    const one = (name: string, labels: Record<string, string>) =>
      samples(name).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));

    // Probe success per target, with the site's name escaped and read back intact.
    const shopSite = one('gatewatch_probe_success', { site_id: String(good.id), target: 'site' });
    expect(shopSite).toHaveLength(1);
    expect(shopSite[0].labels!.site).toBe('shop "main"');
    expect(shopSite[0].value).toBe('1');
    expect(one('gatewatch_probe_success', { site_id: String(good.id), target: 'api-1' })[0].value).toBe('1');
    expect(one('gatewatch_probe_success', { site_id: String(bad.id), target: 'site' })[0].value).toBe('0');
    expect(families.get('gatewatch_probe_success')!.type).toBe('GAUGE');

    // Phases: https has all five; plain http has no tls.
    const phases = (siteId: number, target: string) =>
      one('gatewatch_probe_duration_seconds', { site_id: String(siteId), target }).map((m) => m.labels!.phase).sort();
    expect(phases(good.id, 'site')).toEqual(['connect', 'dns', 'tls', 'total', 'ttfb']);
    expect(phases(good.id, 'api-1')).toEqual(['connect', 'dns', 'total', 'ttfb']);
    for (const m of samples('gatewatch_probe_duration_seconds')) expect(Number(m.value)).toBeGreaterThanOrEqual(0);

    expect(one('gatewatch_probe_http_status_code', { site_id: String(bad.id), target: 'site' })[0].value).toBe('502');
    expect(one('gatewatch_probe_http_status_code', { site_id: String(good.id), target: 'site' })[0].value).toBe('200');

    // The certificate's end, in seconds, as the test made it (a year from now, within a day).
    const expiry = one('gatewatch_cert_expiry_timestamp_seconds', { site_id: String(good.id), target: 'site' });
    expect(expiry).toHaveLength(1);
    expect(Math.abs(Number(expiry[0].value) - (Date.now() / 1000 + 365 * 86400))).toBeLessThan(2 * 86400);
    expect(one('gatewatch_cert_expiry_timestamp_seconds', { site_id: String(bad.id) })).toHaveLength(0);

    // Site state: the current state's series, value 1.
    const states = (siteId: number) =>
      Object.fromEntries(one('gatewatch_site_state', { site_id: String(siteId) }).map((m) => [m.labels!.state, m.value]));
    expect(states(good.id)).toEqual({ up: '1' });
    expect(states(bad.id)).toEqual({ down: '1' });

    const incident = samples('gatewatch_incident_open');
    expect(incident).toHaveLength(1);
    expect(incident[0].labels).toMatchObject({ site_id: String(bad.id), site: 'blog' });
    expect(incident[0].labels!.cause).toMatch(/^[a-z_]+$/);

    const checks = Object.fromEntries(samples('gatewatch_checks_total').map((m) => [m.labels!.outcome, Number(m.value)]));
    expect(families.get('gatewatch_checks_total')!.type).toBe('COUNTER');
    expect(checks.ok).toBeGreaterThanOrEqual(2);
    expect(checks.bad_gateway).toBeGreaterThanOrEqual(1);
    expect(checks.conn_refused).toBe(0);

    expect(samples('gatewatch_alerts_pending')).toHaveLength(1);
    expect(Number(samples('gatewatch_alerts_pending')[0].value)).toBeGreaterThanOrEqual(0);

    const lag = families.get('gatewatch_schedule_lag_seconds')!;
    expect(lag.type).toBe('HISTOGRAM');
    expect(Number(lag.metrics[0].count)).toBeGreaterThanOrEqual(1);
    expect(lag.metrics[0].buckets!['+Inf']).toBe(lag.metrics[0].count);
    // Process metrics come along, from the service's own registry.
    expect(families.has('gatewatch_process_cpu_seconds_total')).toBe(true);

    // A deleted site leaves the exposition.
    await t.call('DELETE', `/api/sites/${bad.id}`);
    const after = parsePrometheusTextFormat((await scrape(t, 'test-token-0123456789abcdef')).text);
    const ids = after.flatMap((f) => f.metrics.map((m) => m.labels?.site_id)).filter(Boolean);
    expect(ids).toContain(String(good.id));
    expect(ids).not.toContain(String(bad.id));
  }, 60_000);

  it('is open without the token when METRICS_PUBLIC=true', async () => {
    const t = createTestService({ METRICS_PUBLIC: 'true' });
    services.push(t);
    const res = await scrape(t, null);
    expect(res.status).toBe(200);
    expect(parsePrometheusTextFormat(res.text).map((f) => f.name)).toContain('gatewatch_checks_total');
    // The API itself still wants the token.
    expect((await t.call('GET', '/api/sites', undefined, { token: null })).status).toBe(401);
  });
});
