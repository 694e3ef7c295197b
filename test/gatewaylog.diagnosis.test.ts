/**
 * Diagnosis with the gateway's log (pure, timelines written by hand): what the log tells that the
 * probes cannot, how it is cited, and that its text reaches an email escaped and header-safe.
 */
import { describe, expect, it } from 'vitest';
import { renderAlertEmail, renderSubject } from '../src/alerts/alerts.render.js';
import type { AlertPayload } from '../src/alerts/alerts.types.js';
import { rankCauses } from '../src/diagnosis/causes.js';
import type { DiagnosisSite, TimelineCheck } from '../src/diagnosis/diagnosis.types.js';
import type { GatewayLogEvent, GatewayLogInput } from '../src/gatewaylog/gatewaylog.types.js';

const T0 = Date.parse('2030-03-04T12:00:00Z');
const MIN = 60_000;

const site: DiagnosisSite = {
  id: 4,
  name: 'shop',
  url: 'https://shop.example.com/',
  failureThreshold: 3,
  recoveryThreshold: 2,
  upstreams: [{ id: '11', name: 'app-1', url: 'http://10.0.0.5:8080/health' }],
};

const check = (target: string, at: number, over: Partial<TimelineCheck> = {}): TimelineCheck => ({
  target,
  startedAt: at,
  outcome: 'ok',
  statusCode: 200,
  errorMessage: null,
  addresses: [target === 'site' ? '203.0.113.7' : '10.0.0.5'],
  address: target === 'site' ? '203.0.113.7' : '10.0.0.5',
  dnsMs: 2,
  connectMs: 1,
  tlsMs: null,
  ttfbMs: 40,
  totalMs: 45,
  gateway: null,
  ...over,
});

/** 30 good rounds, then `failing` rounds where the gateway answers `status` while app-1 answers fine when probed directly. */
function timeline(failing: number, status: number): { checks: TimelineCheck[]; firstFailureAt: number; now: number } {
  const checks: TimelineCheck[] = [];
  const start = T0 - 40 * MIN;
  for (let i = 0; i < 30 + failing; i++) {
    const at = start + i * MIN;
    const bad = i >= 30;
    checks.push(
      check('site', at, bad ? { outcome: status === 502 ? 'bad_gateway' : 'http_error', statusCode: status, gateway: 'nginx', ttfbMs: 1000 } : {}),
      check('11', at + 3),
    );
  }
  return { checks, firstFailureAt: start + 30 * MIN, now: start + (30 + failing - 1) * MIN + 5000 };
}

const events = (from: number, n: number, e: Omit<GatewayLogEvent, 'at'>): GatewayLogEvent[] =>
  Array.from({ length: n }, (_, i) => ({ ...e, at: from + i * MIN + 1000 }));

const log = (list: GatewayLogEvent[]): GatewayLogInput => ({ product: 'nginx', file: 'error.log', events: list });

describe('diagnosis with the gateway log', () => {
  it("names the firewall on the gateway's own path, which probes from Gatewatch cannot see", () => {
    const tl = timeline(4, 504);
    // From Gatewatch, app-1 answers fine: the probes alone blame the gateway or a slow site.
    const without = rankCauses({ site, ...tl });
    expect(without.map((c) => c.code)).not.toContain('firewall');

    const withLog = rankCauses({
      site,
      ...tl,
      gatewayLog: log(
        events(tl.firstFailureAt, 4, {
          kind: 'connect_timeout',
          relation: 'upstream',
          upstreamId: '11',
          upstream: '10.0.0.5:8080',
          message: 'upstream timed out (110: Connection timed out) while connecting to upstream',
        }),
      ),
    });
    expect(withLog[0].code).toBe('firewall');
    expect(withLog[0].summary).toMatch(/^nginx's error log says its connects to upstream app-1 time out/);
    expect(withLog[0].evidence[0]).toBe(
      'nginx error.log: 4x "upstream timed out (110: Connection timed out) while connecting to upstream" (upstream app-1, 10.0.0.5:8080) from 11:50:01Z to 11:53:01Z',
    );
  });

  it('an address that is none of the upstreams strengthens gateway_misconfig, not upstream_down', () => {
    const tl = timeline(4, 502);
    const before = rankCauses({ site, ...tl });
    const causes = rankCauses({
      site,
      ...tl,
      gatewayLog: log(
        events(tl.firstFailureAt, 4, {
          kind: 'refused',
          relation: 'foreign',
          upstreamId: null,
          upstream: '10.0.0.9:8081',
          message: 'connect() failed (111: Connection refused) while connecting to upstream',
        }),
      ),
    });
    expect(causes[0].code).toBe('gateway_misconfig');
    expect(causes[0].confidence).toBeGreaterThan(before[0].confidence);
    expect(causes[0].evidence[0]).toContain("(10.0.0.9:8081, none of the site's upstreams)");
    expect(causes.map((c) => c.code)).not.toContain('upstream_down');
  });

  it('lines outside the streak, or of unknown kind, change nothing', () => {
    const tl = timeline(4, 502);
    const base = rankCauses({ site, ...tl });
    const old = events(tl.firstFailureAt - 30 * MIN, 3, { kind: 'refused', relation: 'upstream', upstreamId: '11', upstream: '10.0.0.5:8080', message: 'connect() failed' });
    const unknown = events(tl.firstFailureAt, 4, { kind: 'unknown', relation: 'upstream', upstreamId: '11', upstream: '10.0.0.5:8080', message: 'something new' });
    expect(rankCauses({ site, ...tl, gatewayLog: log([...old, ...unknown]) })).toEqual(base);
  });

  it("the log's words reach an email escaped, and never a header raw", () => {
    const tl = timeline(4, 502);
    const hostile = '<img src=x onerror=alert(1)>\r\nBcc: victim@example.com';
    const causes = rankCauses({
      site,
      ...tl,
      gatewayLog: log(events(tl.firstFailureAt, 4, { kind: 'dns', relation: 'site', upstreamId: null, upstream: hostile, message: `${hostile} could not be resolved` })),
    });
    const cited = causes.find((c) => c.code === 'dns_failure')!;
    expect(cited.summary).toContain('<img');
    for (const line of [cited.summary, ...cited.evidence]) expect(line).not.toMatch(/[\r\n]/);

    const payload: AlertPayload = {
      site: { id: 4, name: 'shop', url: site.url },
      incident: { id: 1, kind: 'bad_gateway', kinds: ['bad_gateway'], openedAt: tl.now, firstFailureAt: tl.firstFailureAt, resolvedAt: null, failedChecks: 4, causes: [cited], timeline: [] },
      gateway: 'nginx',
      at: tl.now,
    };
    const email = renderAlertEmail([{ id: 1, kind: 'opened', payload }], 'footer');
    expect(email.html).not.toContain('<img');
    expect(email.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const subject = renderSubject({ id: 1, kind: 'opened', payload });
    expect(subject).not.toMatch(/[\r\n]/);
  });
});
