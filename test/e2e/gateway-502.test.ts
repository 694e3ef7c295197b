/**
 * End to end: a real nginx in front of an upstream the test controls, names served by a DNS
 * server on loopback, and Gatewatch probing both with its scheduler running. Each scenario breaks
 * the path one way, waits for the incident Gatewatch opens, checks the cause it names, then
 * repairs the path and waits for the incident to resolve.
 *
 * Needs nginx (CI: `apt-get install -y nginx`); without it these tests fail, they do not skip.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getRefusingPort } from '../support/http-servers.js';
import { healthyBaseline, ok, startLab, UPSTREAM_HOST, type CheckView, type Lab } from './lab.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

/**
 * The incident names `code` as its top cause (with app-1 in its evidence when `aboutApp1`), its
 * detail has ranked causes with evidence, advice and a timeline, and nginx is named as the hop
 * that answered 502.
 */
async function expectDiagnosis(l: Lab, incident: any, code: string, { aboutApp1 = true } = {}) {
  const report = await l.report();
  expect(incident.topCause?.code, `top cause\n${report}`).toBe(code);

  const detail = (await l.t.call('GET', `/api/incidents/${incident.id}`)).body;
  expect(detail.state).toBe('open');
  expect(detail.kind, report).toBe('bad_gateway');
  expect(detail.causes.length).toBeGreaterThanOrEqual(1);
  const confidences = detail.causes.map((c: any) => c.confidence);
  expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
  for (const cause of detail.causes) {
    expect(cause.summary).toEqual(expect.any(String));
    expect(cause.evidence.length, `${cause.code} has evidence`).toBeGreaterThan(0);
    expect(cause.advice.length, `${cause.code} has advice`).toBeGreaterThan(0);
  }
  const top = detail.causes[0];
  if (aboutApp1) expect([top.summary, ...top.evidence].join('\n'), `${code} names app-1`).toContain('app-1');
  const types = detail.timeline.map((e: any) => e.type);
  expect(types.slice(0, 2), `timeline ${JSON.stringify(detail.timeline)}`).toEqual(['first_failure', 'opened']);

  // nginx is named as the hop that answered: on the site's failing checks, and in the diagnosis.
  const badGateway = (await l.checks()).filter((c) => c.target === 'site' && c.outcome === 'bad_gateway');
  expect(badGateway.length, report).toBeGreaterThanOrEqual(1);
  expect(badGateway.every((c) => c.statusCode === 502 && c.gateway === 'nginx'), report).toBe(true);
  expect(JSON.stringify(detail.causes)).toContain('nginx');
  return detail;
}

/** The incident resolves after the repair, the site is up again, and the timeline tells the story in order. */
async function expectResolved(l: Lab, incidentId: number) {
  const resolved = await l.waitForResolved(incidentId);
  expect(resolved.resolvedAt).toBeGreaterThan(resolved.openedAt);
  const types: string[] = resolved.timeline.map((e: any) => e.type);
  expect(types[0]).toBe('first_failure');
  expect(types.indexOf('opened')).toBeGreaterThan(0);
  expect(types.at(-1)).toBe('resolved');
  const at = resolved.timeline.map((e: any) => e.at);
  expect(at).toEqual([...at].sort((a: number, b: number) => a - b));
  expect((await l.t.call('GET', `/api/incidents?siteId=${l.site.id}&state=open`)).body.incidents).toEqual([]);
}

describe('e2e: Gatewatch explains why nginx answers 502', () => {
  it('upstream stopped -> upstream_down; started again -> resolved', async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    await lab.upstream.stop();
    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'upstream_down');
    expect(detail.causes[0].evidence.join('\n')).toMatch(/refused/);
    expect(lab.nginx.errorLog()).toMatch(/Connection refused\) while connecting to upstream/);

    await lab.upstream.start();
    await expectResolved(lab, incident.id);
  });

  it('upstream slowing down, then dropping connections -> overload; fast again -> resolved', async () => {
    lab = await startLab({ upstream: { kind: 'healthy', delayMs: 50 } });
    // Enough good rounds before the lead-in for a latency baseline.
    await healthyBaseline(lab, 8);

    lab.upstream.set({ kind: 'healthy', delayMs: 400 });
    await lab.waitForRounds(2, (c) => ok(c) && (c.ttfbMs ?? 0) >= 350, { message: 'two rounds at ~400 ms' });
    lab.upstream.set({ kind: 'healthy', delayMs: 900 });
    await lab.waitForRounds(2, (c) => ok(c) && (c.ttfbMs ?? 0) >= 850, { message: 'two rounds at ~900 ms' });
    // Saturated: requests hang for a while, then the connection is dropped (nginx: 502).
    lab.upstream.set({ kind: 'reset', afterMs: 1200 });

    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'overload');
    expect(detail.causes[0].evidence.join('\n')).toMatch(/time to first byte .* slower/);
    expect(lab.nginx.errorLog()).toMatch(/Connection reset by peer\) while reading response header from upstream/);

    lab.upstream.set({ kind: 'healthy', delayMs: 50 });
    await expectResolved(lab, incident.id);
  });

  it('upstream sending broken HTTP -> app_error; fixed -> resolved', async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    lab.upstream.set({ kind: 'broken' });
    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'app_error');
    expect(detail.causes[0].summary).toMatch(/broken HTTP/);
    expect(lab.nginx.errorLog()).toMatch(/upstream sent invalid header/);

    lab.upstream.set({ kind: 'healthy' });
    await expectResolved(lab, incident.id);
  });

  it('nginx reloaded to the wrong port while the upstream is fine -> gateway_misconfig; reverted -> resolved', async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    const wrong = await getRefusingPort();
    await lab.nginx.reload({ upstreamPort: wrong.port });
    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'gateway_misconfig');
    // The upstream itself answered fine all along.
    const upstreamChecks = (await lab.checks()).filter((c) => c.target === lab!.upstreamTarget);
    expect(upstreamChecks.length, await lab.report()).toBeGreaterThan(0);
    expect(upstreamChecks.every(ok), await lab.report()).toBe(true);
    expect(detail.causes[0].advice.join('\n')).toMatch(/error log/);
    expect(lab.nginx.errorLog()).toContain(`:${wrong.port}/`);

    await lab.nginx.reload({ upstreamPort: lab.upstream.port });
    await expectResolved(lab, incident.id);
  });

  it("the upstream's DNS record moved to an address where nothing listens -> dns_change; put back -> resolved", async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    // 127.0.0.77 is bound by nobody: connects to it are refused, by nginx and Gatewatch alike.
    lab.dns.setA(UPSTREAM_HOST, ['127.0.0.77']);
    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'dns_change');
    expect(detail.causes[0].summary).toContain('127.0.0.1 -> 127.0.0.77');
    expect(lab.nginx.errorLog()).toContain(`127.0.0.77:${lab.upstream.port}`);

    lab.dns.setA(UPSTREAM_HOST, ['127.0.0.1']);
    await expectResolved(lab, incident.id);
  });

  it("the upstream's DNS record removed (NXDOMAIN) -> dns_failure; restored -> resolved", async () => {
    lab = await startLab();
    await healthyBaseline(lab, 5);

    lab.dns.remove(UPSTREAM_HOST);
    const incident = await lab.waitForOpenIncident();
    const detail = await expectDiagnosis(lab, incident, 'dns_failure');
    expect(detail.causes[0].evidence.join('\n')).toMatch(/app\.e2e\.test did not resolve \(NXDOMAIN\)/);
    expect(lab.nginx.errorLog()).toMatch(/app\.e2e\.test could not be resolved \(3: Host not found\)/);

    lab.dns.setA(UPSTREAM_HOST, ['127.0.0.1']);
    await expectResolved(lab, incident.id);
  });
});
