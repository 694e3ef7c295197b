import { describe, expect, it } from 'vitest';
import { diagnose, rankCauses } from '../src/diagnosis/diagnose.js';
import type {
  Cause,
  DiagnosisResult,
  DiagnosisSite,
  IncidentState,
  TimelineCheck,
} from '../src/diagnosis/diagnosis.types.js';
import type { Outcome } from '../src/probes/probes.types.js';

// ---------------------------------------------------------------------------------------------
// A tiny timeline builder: rounds of one site check plus its upstreams' checks, a minute apart,
// starting at 12:00:00Z. Failures of the site come from nginx unless said otherwise.
// ---------------------------------------------------------------------------------------------

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const MINUTE = 60_000;

type UpstreamSpec = string | { name: string; url: string };

function makeSite(
  opts: { upstreams?: UpstreamSpec[]; failureThreshold?: number; recoveryThreshold?: number } = {},
): DiagnosisSite {
  const upstreams = (opts.upstreams ?? ['app-1']).map((u, i) => {
    const { name, url } = typeof u === 'string' ? { name: u, url: `http://${u}.internal:8080/health` } : u;
    return { id: String(i + 1), name, url };
  });
  return {
    id: 7,
    name: 'shop',
    url: 'https://shop.example.com/',
    failureThreshold: opts.failureThreshold ?? 3,
    recoveryThreshold: opts.recoveryThreshold ?? 2,
    upstreams,
  };
}

type Spec = Outcome | ({ outcome: Outcome } & Partial<Omit<TimelineCheck, 'outcome'>>);

const DEFAULT_ADDRESSES: Record<string, string> = {
  site: '203.0.113.10',
  'app-1': '10.0.0.5',
  'app-2': '10.0.0.6',
  'app-3': '10.0.0.7',
};

/** What a probe of this outcome typically records. */
function defaults(outcome: Outcome, isSite: boolean, address: string): Partial<TimelineCheck> {
  const port = isSite ? 443 : 8080;
  switch (outcome) {
    case 'ok':
      return { statusCode: 200, connectMs: 1, ttfbMs: isSite ? 40 : 20, totalMs: isSite ? 42 : 21 };
    case 'bad_gateway':
      return { statusCode: 502, connectMs: 1, ttfbMs: 3, totalMs: 4, gateway: isSite ? 'nginx' : null, errorMessage: 'HTTP 502 Bad Gateway' };
    case 'http_error':
      return { statusCode: 500, connectMs: 1, ttfbMs: 15, totalMs: 16, errorMessage: 'HTTP 500 Internal Server Error (expected 200-299)' };
    case 'conn_refused':
      return { errorMessage: `connection refused by ${address}:${port}` };
    case 'conn_timeout':
      return { errorMessage: `TCP connect to ${address}:${port} did not complete within 10000 ms` };
    case 'conn_reset':
      return { errorMessage: `connection reset by ${address}:${port} while connecting` };
    case 'timeout':
      return { connectMs: 1, errorMessage: `no response from ${address}:${port} within 10000 ms` };
    case 'tls_error':
      return { connectMs: 1, errorMessage: 'TLS: certificate has expired (CERT_HAS_EXPIRED)' };
    case 'invalid_response':
      return { connectMs: 1, errorMessage: `empty reply: ${address}:${port} closed the connection without answering` };
    default:
      return {};
  }
}

class Timeline {
  readonly checks: TimelineCheck[] = [];
  private next: number;
  private readonly addresses = new Map<string, string[]>();

  constructor(
    readonly site: DiagnosisSite,
    start = T0,
    readonly every = MINUTE,
  ) {
    this.next = start;
  }

  /** From now on, the name of `target` ('site' or an upstream name) resolves to these addresses. */
  dns(target: string, addresses: string[]): this {
    this.addresses.set(target, addresses);
    return this;
  }

  /** One round; upstreams not mentioned answer ok. */
  round(site: Spec, upstreams: Record<string, Spec> = {}): this {
    const at = this.next;
    this.checks.push(this.check('site', 'site', at, site));
    this.site.upstreams.forEach((u, i) => {
      this.checks.push(this.check(u.id, u.name, at + 1 + i, upstreams[u.name] ?? 'ok'));
    });
    this.next += this.every;
    return this;
  }

  repeat(n: number, site: Spec, upstreams: Record<string, Spec> = {}): this {
    for (let i = 0; i < n; i += 1) this.round(site, upstreams);
    return this;
  }

  healthy(n: number): this {
    return this.repeat(n, 'ok');
  }

  /** Time of the last round. */
  get last(): number {
    return this.next - this.every;
  }

  /** A moment after the last round finished. */
  get now(): number {
    return this.last + 2_000;
  }

  private check(target: string, name: string, startedAt: number, spec: Spec): TimelineCheck {
    const { outcome, ...over } = typeof spec === 'string' ? { outcome: spec } : spec;
    const addresses = this.addresses.get(name) ?? [DEFAULT_ADDRESSES[name] ?? '10.0.0.99'];
    const dnsFailed = outcome === 'dns_nxdomain' || outcome === 'dns_error';
    return {
      target,
      startedAt,
      outcome,
      statusCode: null,
      errorMessage: null,
      addresses: dnsFailed ? [] : addresses,
      address: dnsFailed ? null : addresses[0],
      dnsMs: dnsFailed ? null : 1,
      connectMs: null,
      tlsMs: null,
      ttfbMs: null,
      totalMs: null,
      gateway: null,
      ...defaults(outcome, target === 'site', addresses[0]),
      ...over,
    };
  }
}

const timeline = (site: DiagnosisSite = makeSite()) => new Timeline(site);

const once = (tl: Timeline, open: IncidentState | null = null, now = tl.now): DiagnosisResult =>
  diagnose({ site: tl.site, checks: tl.checks, open, now });

/**
 * Plays the scheduler: after every round, diagnose the last hour (or since the open incident's
 * first failure minus an hour), store what comes back, and pass it in next time.
 */
function monitor(tl: Timeline) {
  const rounds = [...new Set(tl.checks.filter((c) => c.target === 'site').map((c) => c.startedAt))];
  const results: DiagnosisResult[] = [];
  const closed: IncidentState[] = [];
  let open: IncidentState | null = null;
  for (const at of rounds) {
    const now = at + 2_000;
    const from = (open?.firstFailureAt ?? now) - 60 * MINUTE;
    const checks = tl.checks.filter((c) => c.startedAt >= from && c.startedAt <= now);
    const result = diagnose({ site: tl.site, checks, open, now });
    results.push(result);
    if (result.incident?.resolvedAt != null) {
      closed.push(result.incident);
      open = null;
    } else {
      open = result.incident;
    }
  }
  const changes = results.flatMap((r, i) => r.changes.map((c) => `${new Date(rounds[i]).toISOString().slice(11, 19)} ${c}`));
  return { results, closed, open, changes, last: results[results.length - 1] };
}

const codes = (causes: Cause[]) => causes.map((c) => c.code);
const top = (incident: IncidentState | null) => incident!.causes[0];
const find = (causes: Cause[], code: Cause['code']) => causes.find((c) => c.code === code);
const at = (minutes: number, seconds = 0) => T0 + minutes * MINUTE + seconds * 1000;

// ---------------------------------------------------------------------------------------------
// Streaks and incidents
// ---------------------------------------------------------------------------------------------

describe('streaks and incidents', () => {
  it('opens an incident on the check that reaches the failure threshold', () => {
    const tl = timeline().healthy(40).repeat(2, 'bad_gateway', { 'app-1': 'conn_refused' });
    expect(once(tl).incident).toBeNull();
    expect(once(tl).state).toBe('degraded');

    tl.round('bad_gateway', { 'app-1': 'conn_refused' });
    const result = once(tl);
    expect(result.changes).toEqual(['opened']);
    expect(result.state).toBe('down');
    expect(result.incident).toMatchObject({
      kind: 'bad_gateway',
      kinds: ['bad_gateway'],
      firstFailureAt: at(40),
      openedAt: at(42),
      failedChecks: 3,
      goodStreak: 0,
      resolvedAt: null,
      lastCheckAt: at(42),
    });
    expect(result.incident!.timeline.map((e) => [e.type, e.at])).toEqual([
      ['first_failure', at(40)],
      ['opened', at(42)],
    ]);
    expect(result.incident!.timeline[0].message).toContain('nginx answered 502');
    expect(result.incident!.causes.length).toBeGreaterThan(0);
  });

  it('never opens for a site that flaps below the threshold', () => {
    const tl = timeline().healthy(30);
    for (let i = 0; i < 10; i += 1) tl.repeat(2, 'bad_gateway').round('ok');
    const run = monitor(tl);
    expect(run.changes).toEqual([]);
    expect(run.closed).toEqual([]);
    expect(run.open).toBeNull();
    expect(run.last.state).toBe('up');
  });

  it('names the kind after the most frequent failure, a tie going to the latest', () => {
    const mixed = timeline().healthy(10).round('conn_refused').round('bad_gateway').round('conn_refused');
    expect(once(mixed).incident).toMatchObject({ kind: 'conn_refused', kinds: ['conn_refused', 'bad_gateway'] });

    const tie = timeline(makeSite({ failureThreshold: 2 })).healthy(10).round('bad_gateway').round('timeout');
    expect(once(tie).incident!.kind).toBe('timeout');
  });

  it('counts a 502 recorded as http_error as bad_gateway', () => {
    const tl = timeline().healthy(10).repeat(3, { outcome: 'http_error', statusCode: 502 });
    expect(once(tl).incident!.kind).toBe('bad_gateway');
  });

  it('resolves after recoveryThreshold good checks in a row, at the check that completed it', () => {
    const tl = timeline().healthy(40).repeat(4, 'bad_gateway', { 'app-1': 'conn_refused' }).round('ok');
    const run = monitor(tl);
    expect(run.open).toMatchObject({ goodStreak: 1, resolvedAt: null, failedChecks: 4 });
    expect(run.last.state).toBe('down');
    expect(run.open!.timeline.at(-1)).toMatchObject({ type: 'recovering', at: at(44) });

    tl.round('ok');
    const result = once(tl, run.open);
    expect(result.changes).toEqual(['resolved']);
    expect(result.incident).toMatchObject({ resolvedAt: at(45), goodStreak: 2, failedChecks: 4 });
    const resolved = result.incident!.timeline.at(-1)!;
    expect(resolved.type).toBe('resolved');
    expect(resolved.message).toContain('open for 3m 0s');
    expect(result.state).toBe('up');
    // The causes stay the ones that explained the failures.
    expect(result.incident!.causes).toEqual(run.open!.causes);
  });

  it('resets the recovery when a failure comes between good checks', () => {
    const tl = timeline()
      .healthy(40)
      .repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' })
      .round('ok')
      .round('bad_gateway', { 'app-1': 'conn_refused' })
      .round('ok');
    const run = monitor(tl);
    expect(run.closed).toEqual([]);
    expect(run.open).toMatchObject({ goodStreak: 1, failedChecks: 4, resolvedAt: null });

    tl.round('ok');
    const done = monitor(tl);
    expect(done.closed).toHaveLength(1);
    expect(done.closed[0]).toMatchObject({ resolvedAt: at(46), failedChecks: 4 });
    expect(done.changes).toEqual(['12:42:00 opened', '12:46:00 resolved']);
  });

  it('records a new failure kind while open, keeping the kind that opened it', () => {
    const tl = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const opened = once(tl).incident!;
    tl.repeat(2, 'timeout', { 'app-1': 'timeout' });
    const result = once(tl, opened);
    expect(result.changes).toContain('kind_changed');
    expect(result.incident).toMatchObject({ kind: 'bad_gateway', kinds: ['bad_gateway', 'timeout'], failedChecks: 5 });
    const events = result.incident!.timeline.filter((e) => e.type === 'kind_changed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ at: at(43) });
    expect(events[0].message).toContain('timeout (was bad_gateway)');

    // Seen again next round: no second event, no second alert.
    const again = once(tl, result.incident);
    expect(again.changes).not.toContain('kind_changed');
    expect(again.incident!.timeline.filter((e) => e.type === 'kind_changed')).toHaveLength(1);
  });

  it('is idempotent: the same window twice gives the same incident and no new changes', () => {
    const tl = timeline().healthy(40).repeat(5, 'bad_gateway', { 'app-1': 'conn_refused' });
    const first = once(tl);
    expect(once(tl)).toEqual(first);

    const second = once(tl, first.incident);
    expect(second.changes).toEqual([]);
    expect(second.incident).toEqual(first.incident);
    const third = once(tl, second.incident);
    expect(third.incident!.failedChecks).toBe(5);
  });

  it('counts only new checks when the window grows, and rebuilds the same state without lastCheckAt', () => {
    const tl = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const opened = once(tl).incident!;
    tl.repeat(2, 'bad_gateway', { 'app-1': 'conn_refused' });
    const updated = once(tl, opened).incident!;
    expect(updated.failedChecks).toBe(5);

    // As loaded from a database that does not keep lastCheckAt.
    const { lastCheckAt: _dropped, ...stored } = updated;
    const rebuilt = once(tl, stored).incident!;
    expect(rebuilt.failedChecks).toBe(5);
    expect(rebuilt.timeline).toEqual(updated.timeline);
  });

  it('adds only newer checks when the window no longer reaches the first failure', () => {
    const tl = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const opened = once(tl).incident!;
    tl.repeat(2, 'bad_gateway', { 'app-1': 'conn_refused' });
    const recent = tl.checks.filter((c) => c.startedAt >= at(42));
    const result = diagnose({ site: tl.site, checks: recent, open: opened, now: tl.now });
    expect(result.incident!.failedChecks).toBe(5);
    const again = diagnose({ site: tl.site, checks: recent, open: result.incident, now: tl.now });
    expect(again.incident!.failedChecks).toBe(5);
  });

  it('does not reopen a resolved incident, and opens a new one for a new streak', () => {
    const tl = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' }).healthy(2);
    const run = monitor(tl);
    expect(run.closed).toHaveLength(1);
    expect(once(tl).incident).toBeNull();

    tl.repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const next = monitor(tl);
    expect(next.closed).toHaveLength(1);
    expect(next.open).toMatchObject({ firstFailureAt: at(45), openedAt: at(47), failedChecks: 3 });
    expect(next.changes).toEqual(['12:42:00 opened', '12:44:00 resolved', '12:47:00 opened']);
  });

  it('keeps the incident as it is when the window shows none of its checks', () => {
    const tl = timeline().healthy(40).repeat(4, 'bad_gateway', { 'app-1': 'conn_refused' });
    const opened = once(tl).incident!;
    const result = diagnose({ site: tl.site, checks: [], open: opened, now: tl.now + MINUTE });
    expect(result.changes).toEqual([]);
    expect(result.incident).toEqual(opened);
    expect(result.state).toBe('down');
  });

  it('treats an incident passed with resolvedAt set as closed', () => {
    const tl = timeline().healthy(40).repeat(3, 'bad_gateway').healthy(2);
    const closed = monitor(tl).closed[0];
    expect(once(tl, closed)).toMatchObject({ incident: null, changes: [] });
  });
});

// ---------------------------------------------------------------------------------------------
// Site state
// ---------------------------------------------------------------------------------------------

describe('site state', () => {
  it('is unknown before any site check', () => {
    expect(once(timeline())).toEqual({ incident: null, changes: [], state: 'unknown' });
  });

  it('is degraded when the site answers but an upstream fails', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] })).healthy(20).round('ok', { 'app-2': 'conn_refused' });
    expect(once(tl).state).toBe('degraded');
    tl.healthy(1);
    expect(once(tl).state).toBe('up');
  });

  it('is degraded, never down, for a slow but healthy site, and opens no incident', () => {
    const tl = timeline().healthy(40);
    for (const ms of [300, 600, 900, 1200, 1500]) tl.round({ outcome: 'ok', ttfbMs: ms, totalMs: ms + 5 }, { 'app-1': { outcome: 'ok', ttfbMs: ms - 20 } });
    const run = monitor(tl);
    expect(run.changes).toEqual([]);
    expect(run.open).toBeNull();
    expect(run.last).toEqual({ incident: null, changes: [], state: 'degraded' });
  });

  it('stays up for a latency wobble within 3x the baseline or under 200 ms more', () => {
    const tl = timeline().healthy(30).round({ outcome: 'ok', ttfbMs: 110 });
    expect(once(tl).state).toBe('up');
    const fast = timeline().healthy(30).round({ outcome: 'ok', ttfbMs: 220 });
    expect(once(fast).state).toBe('up'); // 5.5x, but only 180 ms more
    const slow = timeline().healthy(30).round({ outcome: 'ok', ttfbMs: 400 });
    expect(once(slow).state).toBe('degraded');
  });
});

// ---------------------------------------------------------------------------------------------
// Causes, one at a time
// ---------------------------------------------------------------------------------------------

const ISO_TIME = /\b\d{2}:\d{2}:\d{2}Z\b/;

function expectWellFormed(causes: Cause[]) {
  for (const cause of causes) {
    expect(cause.confidence).toBeGreaterThanOrEqual(0);
    expect(cause.confidence).toBeLessThanOrEqual(1);
    expect(cause.summary).not.toMatch(/\n/);
    expect(cause.advice.length).toBeGreaterThan(0);
    expect(cause.evidence.length).toBeGreaterThan(0);
  }
  const confidences = causes.map((c) => c.confidence);
  expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
}

describe('causes', () => {
  it('upstream_down: the only upstream refuses and nginx answers 502', () => {
    const tl = timeline().healthy(40).repeat(5, 'bad_gateway', { 'app-1': 'conn_refused' });
    const incident = once(tl).incident!;
    expectWellFormed(incident.causes);
    const cause = top(incident);
    expect(cause.code).toBe('upstream_down');
    expect(cause.confidence).toBeGreaterThanOrEqual(0.8);
    expect(cause.summary).toBe('upstream app-1 refuses connections, so nginx answers 502');
    expect(cause.evidence).toContain('upstream app-1 (10.0.0.5:8080) refused 5 of 5 connections since 12:40:00Z');
    expect(cause.evidence).toContain('upstream app-1 last answered fine at 12:39:00Z');
    expect(cause.advice.join(' ')).toMatch(/port 8080/);
    // Names, never ids.
    expect(JSON.stringify(incident.causes)).not.toMatch(/upstream 1\b/);
  });

  it('gateway_down: the site itself refuses and has no upstreams', () => {
    const tl = timeline(makeSite({ upstreams: [] })).healthy(40).repeat(3, 'conn_refused');
    const incident = once(tl).incident!;
    expect(incident.kind).toBe('conn_refused');
    expect(top(incident).code).toBe('gateway_down');
    expect(top(incident).summary).toContain('the server of site shop (shop.example.com:443)');
    expect(top(incident).evidence[0]).toMatch(/site shop \(203\.0\.113\.10:443\) .* 3 of 3 checks since 12:40:00Z/);
  });

  it('overload: the upstream slows down well above its own baseline, then times out', () => {
    const tl = timeline().healthy(40);
    for (const ms of [900, 2500, 4000]) {
      tl.round({ outcome: 'ok', ttfbMs: ms + 20 }, { 'app-1': { outcome: 'ok', ttfbMs: ms } });
    }
    tl.repeat(2, { outcome: 'http_error', statusCode: 504, gateway: 'nginx' }, { 'app-1': 'timeout' }).repeat(
      2,
      'bad_gateway',
      { 'app-1': 'timeout' },
    );
    const incident = once(tl).incident!;
    expectWellFormed(incident.causes);
    const cause = top(incident);
    expect(cause.code).toBe('overload');
    expect(cause.summary).toMatch(/^upstream app-1 is overloaded/);
    expect(cause.evidence.join('\n')).toMatch(/upstream app-1: time to first byte 2\.5 s \(median\) from 12:40:00Z on, against 20 ms before .*: 125x slower/);
    expect(cause.evidence.join('\n')).toMatch(/upstream app-1: 4 timed out, of 4 checks since 12:43:00Z/);
    expect(cause.evidence.join('\n')).toContain('504 Gateway Timeout');
    // Time-outs of a slowed-down upstream are its overload, not a firewall.
    expect(codes(incident.causes)).not.toContain('firewall');
  });

  it('overload on a site probed every second: the lead-in is 5 rounds, not 5 minutes, so a young site has a baseline', () => {
    // Monitored for 15 s only: 9 rounds at ~50 ms, 2 at ~400 ms, 2 at ~900 ms, then the upstream
    // hangs and drops connections (reset after connecting) and nginx answers 502.
    const tl = new Timeline(makeSite(), T0, 1000).repeat(9, { outcome: 'ok', ttfbMs: 52 }, { 'app-1': { outcome: 'ok', ttfbMs: 51 } });
    for (const ms of [400, 400, 900, 900]) tl.round({ outcome: 'ok', ttfbMs: ms + 2 }, { 'app-1': { outcome: 'ok', ttfbMs: ms + 1 } });
    const dropped = { outcome: 'conn_reset', connectMs: 1, errorMessage: 'connection reset by 10.0.0.5:8080 before any response' } as const;
    tl.repeat(3, { outcome: 'bad_gateway', ttfbMs: 1203 }, { 'app-1': dropped });
    const cause = top(once(tl).incident);
    expect(cause.code).toBe('overload');
    expect(cause.summary).toMatch(/^upstream app-1 is overloaded: much slower than its own baseline and timing out/);
    expect(cause.evidence.join('\n')).toMatch(/upstream app-1: time to first byte 651 ms \(median\) from 12:00:09Z on, against 51 ms before .*: 13x slower/);
    expect(cause.confidence).toBeGreaterThan(0.8);

    // At the usual 60 s interval, the lead-in stays 5 minutes: the same as 5 rounds.
    const minutes = timeline().healthy(40);
    for (const ms of [400, 900]) minutes.round('ok', { 'app-1': { outcome: 'ok', ttfbMs: ms } });
    minutes.repeat(3, 'bad_gateway', { 'app-1': dropped });
    expect(top(once(minutes).incident).evidence.join('\n')).toMatch(/from 12:40:00Z on, against 20 ms before/);
  });

  it('overload is judged against each target\'s own baseline, not a fixed number', () => {
    // An upstream that always takes about 1.5 s is not overloaded at 1.6 s.
    const tl = timeline();
    tl.repeat(40, { outcome: 'ok', ttfbMs: 1520 }, { 'app-1': { outcome: 'ok', ttfbMs: 1500 } });
    tl.repeat(3, 'bad_gateway', { 'app-1': { outcome: 'http_error', statusCode: 500, ttfbMs: 1600 } });
    const incident = once(tl).incident!;
    expect(top(incident).code).toBe('app_error');
    expect(codes(incident.causes)).not.toContain('overload');
  });

  it('dns_failure: the upstream name stops resolving', () => {
    const tl = timeline().healthy(40).repeat(4, 'bad_gateway', { 'app-1': 'dns_nxdomain' });
    const cause = top(once(tl).incident);
    expect(cause.code).toBe('dns_failure');
    expect(cause.summary).toBe('the name of upstream app-1 (app-1.internal) no longer exists in DNS, so nginx answers 502');
    expect(cause.evidence).toEqual([
      'upstream app-1: app-1.internal did not resolve (NXDOMAIN) in 4 of 4 checks since 12:40:00Z',
      'app-1.internal last resolved to 10.0.0.5 at 12:39:00Z',
    ]);
  });

  it('dns_failure: the site name itself does not resolve', () => {
    const tl = timeline().healthy(40).repeat(3, 'dns_error');
    const incident = once(tl).incident!;
    expect(incident.kind).toBe('dns_error');
    expect(top(incident).code).toBe('dns_failure');
    expect(top(incident).summary).toContain('shop.example.com');
    expect(top(incident).advice.join(' ')).toContain('DNS_SERVERS');
  });

  it('firewall: connects to the upstream time out while the same host answers on another port', () => {
    const site = makeSite({
      upstreams: ['app-1', { name: 'app-2', url: 'http://app-2.internal:8081/health' }],
    });
    const tl = timeline(site).dns('app-2', ['10.0.0.5']).healthy(40).repeat(4, 'bad_gateway', { 'app-1': 'conn_timeout' });
    const incident = once(tl).incident!;
    expectWellFormed(incident.causes);
    const cause = top(incident);
    expect(cause.code).toBe('firewall');
    expect(cause.summary).toMatch(/^connections to upstream app-1 time out at connect/);
    expect(cause.evidence.join('\n')).toContain('the same host 10.0.0.5 answered upstream app-2 in the same rounds');
    expect(cause.advice[0]).toContain('port 8080');
    expect(codes(incident.causes)).not.toContain('gateway_misconfig');
  });

  it('app_error: the upstream answers 500, or breaks HTTP', () => {
    const five = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'http_error' });
    const cause = top(once(five).incident);
    expect(cause.code).toBe('app_error');
    expect(cause.summary).toBe('upstream app-1 answers HTTP 500, so nginx answers 502');
    expect(cause.evidence[0]).toMatch(/^upstream app-1 answered HTTP 500 in 3 of 3 checks since 12:40:00Z/);
    expect(cause.advice[0]).toMatch(/roll it back/);

    const broken = timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'invalid_response' });
    const other = top(once(broken).incident);
    expect(other.code).toBe('app_error');
    expect(other.summary).toBe('upstream app-1 sends broken HTTP, so nginx answers 502');
    expect(other.advice.join(' ')).toMatch(/OOM kill/);
  });

  it('gateway_misconfig: every upstream is healthy directly while nginx answers 502', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] })).healthy(40).repeat(4, 'bad_gateway');
    const incident = once(tl).incident!;
    expectWellFormed(incident.causes);
    const cause = top(incident);
    expect(cause.code).toBe('gateway_misconfig');
    expect(cause.summary).toMatch(/^nginx answers 502 although every upstream is healthy/);
    expect(cause.evidence[0]).toContain('(app-1 and app-2)');
    expect(cause.advice.join(' ')).toMatch(/proxy_pass/);
  });

  it('tls_error: the upstream certificate expired', () => {
    const site = makeSite({ upstreams: [{ name: 'api', url: 'https://api.internal:8443/health' }] });
    const tl = timeline(site).healthy(40).repeat(3, 'bad_gateway', { api: 'tls_error' });
    const cause = top(once(tl).incident);
    expect(cause.code).toBe('tls_error');
    expect(cause.summary).toBe('TLS to upstream api fails: certificate has expired (CERT_HAS_EXPIRED), so nginx answers 502');
    expect(cause.advice[0]).toContain('openssl s_client -connect api.internal:8443');
  });

  it('unknown: a site without upstreams says what is missing', () => {
    const tl = timeline(makeSite({ upstreams: [] })).healthy(40).repeat(3, 'bad_gateway');
    const incident = once(tl).incident!;
    expect(codes(incident.causes)).toEqual(['unknown']);
    expect(top(incident).summary).toBe(
      'cause unknown: no upstreams are configured for shop, so the failing hop behind nginx cannot be told apart',
    );
    expect(top(incident).advice[0]).toMatch(/as upstreams/);
  });

  it('writes evidence times as ISO UTC and gives different advice per cause', () => {
    const causes = [
      top(once(timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' })).incident),
      top(once(timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'http_error' })).incident),
      top(once(timeline().healthy(40).repeat(3, 'bad_gateway', { 'app-1': 'conn_timeout' })).incident),
    ];
    for (const cause of causes) expect(cause.evidence.some((line) => ISO_TIME.test(line))).toBe(true);
    expect(new Set(causes.map((c) => c.advice[0])).size).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
// Causes together
// ---------------------------------------------------------------------------------------------

describe('several causes', () => {
  it('a DNS change seen in the same round as the first 502: the change ranks first, not after the failure', () => {
    // The upstream's check starts a moment after the site's in each round: the change it sees in
    // the first failing round is part of that round, not a consequence of the failure.
    const tl = timeline()
      .healthy(40)
      .dns('app-1', ['10.0.0.9'])
      .repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const incident = once(tl).incident!;
    expect(codes(incident.causes).slice(0, 2)).toEqual(['dns_change', 'upstream_down']);
    expect(top(incident).summary).toMatch(/^the address of upstream app-1 changed \(10\.0\.0\.5 -> 10\.0\.0\.9\) 0s before the first failure/);
  });

  it('a DNS change, then the upstream refusing: the change ranks first, the refusal is kept lower', () => {
    // app-1.internal is re-pointed at 12:40; the new address refuses at once. nginx kept its old
    // answer until 12:42, when it started answering 502.
    const tl = timeline()
      .healthy(40)
      .dns('app-1', ['10.0.0.9'])
      .repeat(2, 'ok', { 'app-1': 'conn_refused' })
      .repeat(5, 'bad_gateway', { 'app-1': 'conn_refused' });
    const incident = once(tl).incident!;
    expectWellFormed(incident.causes);
    expect(codes(incident.causes).slice(0, 2)).toEqual(['dns_change', 'upstream_down']);
    const change = top(incident);
    expect(change.summary).toMatch(/^the address of upstream app-1 changed \(10\.0\.0\.5 -> 10\.0\.0\.9\) 2m 0s before the first failure/);
    expect(change.evidence[0]).toBe(
      'upstream app-1 (app-1.internal) resolved to 10.0.0.5 at 12:39:00Z, then to 10.0.0.9 at 12:40:00Z, 2m 0s before the first failure',
    );
    expect(change.advice.join(' ')).toMatch(/resolver/);
    expect(find(incident.causes, 'upstream_down')!.confidence).toBeLessThan(change.confidence);
  });

  it('a DNS change with a healthy upstream and 502s from nginx: the gateway kept the old address', () => {
    const tl = timeline().healthy(40).dns('app-1', ['10.0.0.9']).healthy(2).repeat(4, 'bad_gateway');
    const incident = once(tl).incident!;
    expect(codes(incident.causes).slice(0, 2)).toEqual(['dns_change', 'gateway_misconfig']);
    expect(top(incident).summary).toContain('nginx probably still sends to the old address');
  });

  it('a DNS change that did not matter ranks low behind the real cause', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] }))
      .healthy(40)
      .dns('app-2', ['10.0.0.16'])
      .healthy(3)
      .repeat(4, 'bad_gateway', { 'app-1': 'conn_refused' });
    const causes = once(tl).incident!.causes;
    expect(causes[0].code).toBe('upstream_down');
    const change = find(causes, 'dns_change');
    expect(change).toBeDefined();
    expect(change!.confidence).toBeLessThan(0.1);
    expect(change!.summary).toContain('probably unrelated');
  });

  it('a DNS change long before the streak is not a cause', () => {
    const tl = timeline()
      .healthy(10)
      .dns('app-1', ['10.0.0.9'])
      .healthy(30)
      .repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    expect(codes(once(tl).incident!.causes)).toEqual(['upstream_down']);
  });

  it('a name that rotates its addresses all the time is not a DNS change cause', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] }));
    for (let i = 0; i < 40; i += 1) tl.dns('site', [i % 2 ? '203.0.113.10' : '203.0.113.11']).healthy(1);
    tl.dns('site', ['203.0.113.12']).repeat(3, 'bad_gateway', { 'app-1': 'conn_refused', 'app-2': 'conn_refused' });
    expect(codes(once(tl).incident!.causes)).toEqual(['upstream_down']);
  });

  it('re-evaluates while open and records cause_changed once when the evidence shifts', () => {
    const tl = timeline()
      .healthy(40)
      .repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' })
      .repeat(10, 'bad_gateway', { 'app-1': 'http_error' });
    const run = monitor(tl);
    expect(run.results[42].changes).toEqual(['opened']);
    expect(top(run.results[42].incident).code).toBe('upstream_down');
    const shifts = run.changes.filter((c) => c.endsWith('cause_changed'));
    expect(shifts).toHaveLength(1);
    expect(top(run.open).code).toBe('app_error');
    const events = run.open!.timeline.filter((e) => e.type === 'cause_changed');
    expect(events).toHaveLength(1);
    expect(events[0].message).toMatch(/^top cause now app_error \(was upstream_down\)/);
    // The earlier cause stays on the list, lower.
    expect(find(run.open!.causes, 'upstream_down')).toBeDefined();
  });

  it('two upstreams failing differently in the same rounds: neither is the other\'s consequence', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] }))
      .healthy(40)
      .repeat(4, 'bad_gateway', { 'app-1': 'conn_refused', 'app-2': 'timeout' });
    const causes = once(tl).incident!.causes;
    expect(codes(causes)).toEqual(['upstream_down', 'overload']);
    expect(causes[0].confidence).toBe(0.6);
    expect(causes[1].confidence).toBe(0.5);
    expect(causes[1].summary).toBe('upstream app-2 stops answering in time, so nginx answers 502');
  });

  it('an upstream that was down all along, while the site was fine, is not blamed', () => {
    // app-2 has refused for an hour and nginx routed around it; at 12:40 nginx itself breaks.
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] }))
      .repeat(40, 'ok', { 'app-2': 'conn_refused' })
      .repeat(4, 'bad_gateway', { 'app-2': 'conn_refused' });
    const causes = once(tl).incident!.causes;
    expect(causes[0].code).toBe('gateway_misconfig');
    expect(causes[0].evidence[0]).toContain('every upstream (app-1) answered fine');
    const down = find(causes, 'upstream_down')!;
    expect(down.confidence).toBeLessThan(0.2);
    expect(down.evidence.at(-1)).toBe(
      'upstream app-2 already failed 35 of 35 checks in the hour before, while the site was fine: not counted as the cause',
    );
  });

  it('keeps the previous top cause on a near tie instead of flapping', () => {
    const tl = timeline()
      .healthy(40)
      .repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' })
      .repeat(4, 'bad_gateway', { 'app-1': 'http_error' });
    const input = { site: tl.site, checks: tl.checks, firstFailureAt: at(40), now: tl.now };
    const fresh = rankCauses(input);
    expect(fresh[0].code).toBe('app_error');
    const upstream = find(fresh, 'upstream_down')!;
    expect(fresh[0].confidence - upstream.confidence).toBeLessThanOrEqual(0.05);
    const sticky = rankCauses({ ...input, previous: [upstream] });
    expect(sticky[0].code).toBe('upstream_down');
  });

  it('ranks the same way on identical input', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] }))
      .healthy(40)
      .dns('app-1', ['10.0.0.9'])
      .repeat(4, 'bad_gateway', { 'app-1': 'conn_refused', 'app-2': 'timeout' });
    const input = { site: tl.site, checks: tl.checks, firstFailureAt: at(40), now: tl.now };
    expect(rankCauses(input)).toEqual(rankCauses(input));
    expect(rankCauses({ ...input, checks: [...tl.checks].reverse() })).toEqual(rankCauses(input));
  });
});

// ---------------------------------------------------------------------------------------------
// Without wrong turns (issue 14): root cause before consequence, firewall vs overload, the
// gateway itself, blocked targets, failure kinds rather than raw outcomes, degraded states.
// ---------------------------------------------------------------------------------------------

describe('without wrong turns', () => {
  const gatewayTimeout = { outcome: 'http_error', statusCode: 504, gateway: 'nginx', ttfbMs: 1000, totalMs: 1001, errorMessage: 'HTTP 504 Gateway Time-out (expected 200-299)' } as const;

  it('connects to the upstream never complete and nginx answers 504, nothing slowed down first -> firewall; overload not claimed', () => {
    const tl = timeline().healthy(40).repeat(4, gatewayTimeout, { 'app-1': 'conn_timeout' });
    const causes = once(tl).incident!.causes;
    expect(causes[0].code).toBe('firewall');
    expect(causes[0].evidence.join('\n')).toMatch(/upstream app-1 \(10\.0\.0\.5:8080\) could not complete the TCP connect in 4 of 4 checks/);
    expect(find(causes, 'overload')).toBeUndefined();
  });

  it('a 504 while the upstream answers but too late is still overload (a response time-out, not a connect)', () => {
    const tl = timeline().healthy(40).repeat(4, gatewayTimeout, { 'app-1': 'timeout' });
    const causes = once(tl).incident!.causes;
    expect(causes[0].code).toBe('overload');
    expect(find(causes, 'firewall')).toBeUndefined();
  });

  it('slowed down for minutes, then refused -> overload first, upstream_down below it as the consequence', () => {
    const tl = timeline().healthy(40);
    for (const ms of [400, 700, 900, 1200]) tl.round('ok', { 'app-1': { outcome: 'ok', ttfbMs: ms, totalMs: ms + 1 } });
    tl.repeat(4, 'bad_gateway', { 'app-1': 'conn_refused' });
    const causes = once(tl).incident!.causes;
    expect(codes(causes).slice(0, 2)).toEqual(['overload', 'upstream_down']);
    expect(causes[0].summary).toMatch(/upstream app-1 is overloaded: .*then stopped accepting connections, so nginx answers 502/);
    expect(causes[0].evidence.join('\n')).toMatch(/then stopped accepting connections: refused or unreachable in 4 of 4 checks since 12:44:00Z/);
    expect(causes[1].confidence).toBeLessThan(causes[0].confidence);
  });

  it('refused without any slowdown before stays upstream_down', () => {
    const tl = timeline().healthy(40).repeat(4, 'bad_gateway', { 'app-1': 'conn_refused' });
    expect(codes(once(tl).incident!.causes)).toEqual(['upstream_down']);
  });

  it('the site refuses while its upstreams answer -> gateway_down, with the healthy upstreams as evidence and no DNS advice', () => {
    const tl = timeline(makeSite({ upstreams: ['app-1', 'app-2'] })).healthy(40).repeat(3, 'conn_refused');
    const causes = once(tl).incident!.causes;
    expect(causes[0].code).toBe('gateway_down');
    expect(causes[0].confidence).toBeGreaterThanOrEqual(0.9);
    expect(causes[0].summary).toMatch(/the gateway of site shop \(shop\.example\.com:443\) refuses connections: .* while app-1 and app-2 answer fine/);
    expect(causes[0].evidence.join('\n')).toMatch(/upstream app-1 \(app-1\.internal:8080\) answered 200 in 20 ms \(median\) in 3 of those 3 rounds/);
    expect(causes[0].advice.join('\n')).not.toMatch(/DNS/);
    expect(find(causes, 'upstream_down')).toBeUndefined();
  });

  it('the site name resolves into a denied range -> blocked, saying how to allow it; never unknown', () => {
    const blocked: Spec = { outcome: 'blocked', addresses: ['169.254.10.10'], address: null, errorMessage: 'blocked by the target policy: 169.254.10.10 is a link-local address (169.254.0.0/16), denied unless ALLOW_TARGETS covers it' };
    const tl = timeline().healthy(40).repeat(3, blocked);
    const incident = once(tl).incident!;
    expect(incident.kind).toBe('blocked');
    expect(top(incident).code).toBe('blocked');
    expect(find(incident.causes, 'unknown')).toBeUndefined();
    expect(top(incident).summary).toMatch(/target policy refused the address of site shop \(shop\.example\.com\)/);
    expect(top(incident).evidence[0]).toMatch(/resolved to 169\.254\.10\.10, refused by the target policy in 3 of 3 checks/);
    expect(top(incident).advice.join('\n')).toMatch(/ALLOW_TARGETS/);
  });

  it('a 502 recorded as invalid_response (its page cut by a reset) still counts as a 502', () => {
    const cut502 = { outcome: 'invalid_response', statusCode: 502, gateway: 'nginx', connectMs: 1, ttfbMs: 3, totalMs: 4, errorMessage: 'response body truncated: connection closed after 80 bytes (read ECONNRESET)' } as const;
    const tl = timeline().healthy(40).repeat(3, cut502);
    const incident = once(tl).incident!;
    expect(incident.kind).toBe('bad_gateway');
    expect(top(incident).code).toBe('gateway_misconfig');
    expect(find(incident.causes, 'app_error')).toBeUndefined();
  });

  it('an upstream failing in the hour before only while the site failed too is not called chronic', () => {
    // An earlier incident: site and app-1 failing together for 20 rounds, then 10 good rounds.
    const tl = timeline().healthy(10).repeat(20, 'bad_gateway', { 'app-1': 'conn_refused' }).healthy(10);
    tl.repeat(3, 'bad_gateway', { 'app-1': 'conn_refused' });
    const causes = rankCauses({ site: tl.site, checks: tl.checks, firstFailureAt: at(40), now: tl.now });
    expect(causes[0].code).toBe('upstream_down');
    expect(causes.flatMap((c) => c.evidence).join('\n')).not.toMatch(/while the site was fine/);
  });

  it('one dead address of several: degraded, not down, and no incident', () => {
    const tl = timeline().healthy(20).round({ outcome: 'ok', failedAddresses: ['203.0.113.11'] });
    expect(once(tl)).toEqual({ incident: null, changes: [], state: 'degraded' });
    const upstream = timeline().healthy(20).round('ok', { 'app-1': { outcome: 'ok', failedAddresses: ['10.0.0.9'] } });
    expect(once(upstream).state).toBe('degraded');
    expect(once(timeline().healthy(21)).state).toBe('up');
  });

  it('slow but answering stays degraded: the baseline does not follow the slowdown', () => {
    const tl = timeline().healthy(20);
    for (let i = 0; i < 30; i++) tl.round({ outcome: 'ok', ttfbMs: 1250, totalMs: 1255 }, { 'app-1': { outcome: 'ok', ttfbMs: 1200, totalMs: 1201 } });
    expect(once(tl).state).toBe('degraded');
    const upstreamOnly = timeline().healthy(20);
    for (let i = 0; i < 30; i++) upstreamOnly.round('ok', { 'app-1': { outcome: 'ok', ttfbMs: 1200, totalMs: 1201 } });
    expect(once(upstreamOnly).state).toBe('degraded');
  });
});
