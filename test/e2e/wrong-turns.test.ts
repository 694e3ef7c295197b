/**
 * End to end, the faults where a monitor easily sends the owner the wrong way (issue 14): packets
 * dropped at connect (not overload), an upstream that slowed down before it went down (overload
 * first), slow but answering (degraded, no incident), the gateway itself down (gateway_down), and a
 * name that moves into a denied range (blocked, with how to allow it). Through a real nginx, and
 * the first and the fourth behind a real HAProxy as well.
 *
 * Each scenario prints one line, `scenario: top cause (confidence), next...`, for the report.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { healthyBaseline, ok, SITE_HOST, startLab, type CheckView, type Lab } from './lab.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

/** The incident's detail, with its ranking printed for the report. */
async function ranking(l: Lab, scenario: string, incident: any) {
  const detail = (await l.t.call('GET', `/api/incidents/${incident.id}`)).body;
  const line = detail.causes.map((c: any) => `${c.code} ${c.confidence}`).join(', ');
  console.log(`SCENARIO ${scenario}: ${line}`);
  return detail;
}

describe('e2e: root cause before consequence, through nginx', () => {
  it('packets to the upstream dropped (nginx 504 after its connect time-out) -> firewall, not overload', async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    await lab.upstream.blackhole();
    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '1 firewall (nginx)', incident);
    const report = await lab.report();
    expect(detail.causes[0].code, report).toBe('firewall');
    expect(detail.causes[0].evidence.join('\n'), report).toMatch(/app-1.*could not complete the TCP connect/);
    const overload = detail.causes.find((c: any) => c.code === 'overload');
    if (overload) expect(overload.confidence, report).toBeLessThan(detail.causes[0].confidence);
    // nginx answered 504 after its own connect time-out, and said so.
    const site = (await lab.checks()).filter((c) => c.target === 'site' && !ok(c));
    expect(site.length).toBeGreaterThan(0);
    expect(site.some((c) => c.statusCode === 504 && c.gateway === 'nginx'), report).toBe(true);
    expect(lab.nginx.errorLog()).toMatch(/upstream timed out \(110: Connection timed out\) while connecting to upstream/);

    await lab.upstream.start();
    await lab.waitForResolved(incident.id);
  });

  it('upstream slowing down for minutes, then refusing -> overload first, then down as its consequence', async () => {
    lab = await startLab({ upstream: { kind: 'healthy', delayMs: 50 } });
    await healthyBaseline(lab, 8);

    lab.upstream.set({ kind: 'healthy', delayMs: 400 });
    await lab.waitForRounds(2, (c) => ok(c) && (c.ttfbMs ?? 0) >= 350, { message: 'two rounds at ~400 ms' });
    lab.upstream.set({ kind: 'healthy', delayMs: 900 });
    await lab.waitForRounds(2, (c) => ok(c) && (c.ttfbMs ?? 0) >= 850, { message: 'two rounds at ~900 ms' });
    await lab.upstream.stop();

    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '2 slow then down (nginx)', incident);
    const report = await lab.report();
    expect(detail.causes[0].code, report).toBe('overload');
    expect(detail.causes[0].summary, report).toMatch(/then (stopped accepting connections|went down)/);
    const down = detail.causes.find((c: any) => c.code === 'upstream_down');
    expect(down, report).toBeDefined();
    expect(down.confidence, report).toBeLessThan(detail.causes[0].confidence);

    await lab.upstream.start();
    lab.upstream.set({ kind: 'healthy', delayMs: 50 });
    await lab.waitForResolved(incident.id);
  });

  it('upstream slow (ms to over a second) while the site answers 200 -> degraded, and it stays so; no incident', async () => {
    lab = await startLab({ upstream: { kind: 'healthy', delayMs: 20 } });
    await healthyBaseline(lab, 8);

    lab.upstream.set({ kind: 'healthy', delayMs: 1200 });
    await lab.waitForState('degraded', 15_000);
    // Still degraded after many slow rounds: the baseline does not follow the slowdown.
    const slow = await lab.waitForRounds(10, (c) => ok(c) && (c.ttfbMs ?? 0) >= 1100, { timeoutMs: 60_000, message: '10 slow rounds' });
    expect(slow.length).toBe(10);
    const site = (await lab.t.call('GET', `/api/sites/${lab.site.id}`)).body;
    console.log(`SCENARIO 3 slow but answering (nginx): state ${site.state}`);
    expect(site.state, await lab.report()).toBe('degraded');
    expect((await lab.t.call('GET', `/api/incidents?siteId=${lab.site.id}`)).body.incidents).toEqual([]);

    lab.upstream.set({ kind: 'healthy', delayMs: 20 });
    await lab.waitForState('up', 15_000);
  });

  it('nginx itself stopped while the upstream answers -> gateway_down, with its own advice', async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    await lab.gateway.stop();
    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '4 gateway down (nginx)', incident);
    const report = await lab.report();
    expect(detail.kind, report).toBe('conn_refused');
    expect(detail.causes[0].code, report).toBe('gateway_down');
    expect(detail.causes[0].advice.join('\n'), report).not.toMatch(/DNS record/);
    expect(detail.causes[0].evidence.join('\n'), report).toMatch(/upstream app-1 \(.*\) answered 200/);
    expect(detail.causes.some((c: any) => c.code === 'upstream_down')).toBe(false);

    await lab.gateway.start();
    await lab.waitForResolved(incident.id);
  });

  it("the site's name moved into a denied range -> blocked checks and a cause that says how to allow it", async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    lab.dns.setA(SITE_HOST, ['169.254.10.10']);
    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '5 blocked (nginx)', incident);
    const report = await lab.report();
    expect(detail.kind, report).toBe('blocked');
    expect(detail.causes[0].code, report).toBe('blocked');
    expect(detail.causes.some((c: any) => c.code === 'unknown'), report).toBe(false);
    expect(detail.causes[0].summary, report).toMatch(/target policy/);
    expect(detail.causes[0].advice.join('\n'), report).toMatch(/ALLOW_TARGETS/);
    const blocked = (await lab.checks()).filter((c) => c.target === 'site' && c.outcome === 'blocked');
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.every((c) => c.connectMs === null && /169\.254\.10\.10/.test(c.errorMessage ?? ''))).toBe(true);

    lab.dns.setA(SITE_HOST, ['127.0.0.1']);
    await lab.waitForResolved(incident.id);
  });
});

describe('e2e: the same through HAProxy', () => {
  it('packets to the upstream dropped (HAProxy answers 503 after its connect time-outs) -> firewall', async () => {
    lab = await startLab({ gateway: 'haproxy' });
    await healthyBaseline(lab, 5);

    await lab.upstream.blackhole();
    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '1 firewall (HAProxy)', incident);
    const report = await lab.report();
    expect(detail.causes[0].code, report).toBe('firewall');
    const site = (await lab.checks()).filter((c) => c.target === 'site' && !ok(c));
    expect(site.length).toBeGreaterThan(0);
    expect(site.some((c) => c.statusCode === 503 && c.gateway === 'haproxy'), report).toBe(true);

    await lab.upstream.start();
    await lab.waitForResolved(incident.id);
  });

  it('HAProxy itself stopped while the upstream answers -> gateway_down', async () => {
    lab = await startLab({ gateway: 'haproxy' });
    await healthyBaseline(lab, 5);

    await lab.gateway.stop();
    const incident = await lab.waitForOpenIncident();
    const detail = await ranking(lab, '4 gateway down (HAProxy)', incident);
    const report = await lab.report();
    expect(detail.causes[0].code, report).toBe('gateway_down');
    expect(detail.causes.some((c: any) => c.code === 'upstream_down')).toBe(false);

    await lab.gateway.start();
    await lab.waitForResolved(incident.id);
  });
});
