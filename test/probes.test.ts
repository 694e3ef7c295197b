import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createHttpProbe,
  createResolver,
  createTargetPolicy,
  detectGateway,
  DnsFailure,
  type HttpProbeDeps,
  type ProbeResult,
  type Resolver,
} from '../src/probes/index.js';
import { classifyNetworkError } from '../src/probes/http.probe.js';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import {
  getRefusingPort,
  NGINX_502_BODY,
  okTarget,
  startBrokenHttpServer,
  startChunkedServer,
  startCountingServer,
  startEmptyReplyServer,
  startHealthyServer,
  startHealthyServersOnOnePort,
  startInterimServer,
  startLargeBodyServer,
  startNginx502Server,
  startRawServer,
  startRedirectChain,
  startRedirectServer,
  startResettingServer,
  startSlowServer,
  startStallingBodyServer,
  startStaticServer,
  startTruncatedChunkedServer,
  startTruncatedServer,
  trackForCleanup,
} from './support/http-servers.js';
import { createSelfSignedCert, startTlsServer, type TestCert } from './support/tls.js';
import { waitFor } from './support/wait.js';

const track = trackForCleanup();

const target = okTarget;

function probeWith(overrides: Partial<HttpProbeDeps> = {}) {
  return createHttpProbe({ resolver: createResolver(), policy: createTargetPolicy(), ...overrides });
}

/** dns <= connect <= tls <= ttfb <= total for every timing that is set. */
function expectConsistentTimings(result: ProbeResult) {
  const marks = [result.dnsMs, result.connectMs, result.tlsMs, result.ttfbMs, result.totalMs].filter(
    (m): m is number => m !== null,
  );
  for (const m of marks) expect(m).toBeGreaterThanOrEqual(0);
  expect(marks).toEqual([...marks].sort((a, b) => a - b));
  expect(result.totalMs).not.toBeNull();
}

/** Open TCP sockets of this process (client and server side). */
const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

describe('http probe: outcomes against real loopback servers', () => {
  it('healthy server: ok with every timing but tls, in order', async () => {
    const server = track(await startHealthyServer());
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({
      outcome: 'ok',
      statusCode: 200,
      errorMessage: null,
      addresses: ['127.0.0.1'],
      address: '127.0.0.1',
      tlsMs: null,
      gateway: null,
    });
    expect(result.dnsMs).not.toBeNull();
    expect(result.connectMs).not.toBeNull();
    expect(result.ttfbMs).not.toBeNull();
    expect(result.startedAt).toBeGreaterThan(Date.now() - 60_000);
    expectConsistentTimings(result);
  });

  it('502 with nginx page: bad_gateway, gateway nginx', async () => {
    const server = track(await startNginx502Server());
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'bad_gateway', statusCode: 502, gateway: 'nginx' });
    expect(result.errorMessage).toContain('502');
    expect(result.ttfbMs).not.toBeNull();
    expectConsistentTimings(result);
  });

  it('502 counts as ok when the expected range says so; 404 is http_error', async () => {
    const bad = track(await startNginx502Server());
    expect((await probeWith()({ url: bad.url, timeoutMs: 5_000, expectedStatus: [502, 502] })).outcome).toBe('ok');
    const missing = track(await startStaticServer(404, 'not here'));
    const result = await probeWith()(target(missing.url));
    expect(result).toMatchObject({ outcome: 'http_error', statusCode: 404, gateway: null });
    expect(result.errorMessage).toContain('404');
  });

  it('slow server past the deadline: timeout near the deadline, connected but no first byte', async () => {
    const server = track(await startSlowServer(10_000));
    const result = await probeWith()(target(server.url, 300));
    expect(result.outcome).toBe('timeout');
    expect(result.connectMs).not.toBeNull();
    expect(result.ttfbMs).toBeNull();
    expect(result.totalMs).toBeGreaterThanOrEqual(290);
    expect(result.totalMs).toBeLessThan(3_000);
    expect(result.errorMessage).toMatch(/300 ms/);
    expectConsistentTimings(result);
  });

  it('nobody listening: conn_refused, no connect time', async () => {
    const closed = await getRefusingPort();
    const result = await probeWith()(target(closed.url));
    expect(result).toMatchObject({ outcome: 'conn_refused', statusCode: null, connectMs: null, address: '127.0.0.1' });
    expect(result.errorMessage).toContain(`127.0.0.1:${closed.port}`);
    expectConsistentTimings(result);
  });

  it('reset after the request: conn_reset', async () => {
    const server = track(await startResettingServer());
    const result = await probeWith()(target(server.url));
    expect(result.outcome).toBe('conn_reset');
    expect(result.connectMs).not.toBeNull();
    expectConsistentTimings(result);
  });

  it('header line without a colon: invalid_response', async () => {
    const server = track(await startBrokenHttpServer());
    const result = await probeWith()(target(server.url));
    expect(result.outcome).toBe('invalid_response');
    expect(result).toMatchObject({ errorMessage: 'invalid HTTP response: header line without a colon', statusCode: null });
    expect(result.ttfbMs).not.toBeNull();
    expectConsistentTimings(result);
  });

  it('garbage instead of a status line: invalid_response', async () => {
    const server = track(await startRawServer('SSH-2.0-OpenSSH_9.2\r\n'));
    const result = await probeWith()(target(server.url));
    expect(result.outcome).toBe('invalid_response');
    expect(result.errorMessage).toBe('invalid HTTP response: invalid status line "SSH-2.0-OpenSSH_9.2"');
  });

  it('connection closed without a byte of reply: invalid_response (empty reply)', async () => {
    const server = track(await startEmptyReplyServer());
    const result = await probeWith()(target(server.url));
    expect(result.outcome).toBe('invalid_response');
    expect(result.errorMessage).toMatch(/empty reply/);
    expect(result.ttfbMs).toBeNull();
    expectConsistentTimings(result);
  });

  it('body shorter than Content-Length: invalid_response (truncated), status kept', async () => {
    const server = track(await startTruncatedServer());
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'invalid_response', statusCode: 200 });
    expect(result.errorMessage).toMatch(/truncated.*10 of 100/);
    expectConsistentTimings(result);
  });

  it('chunked body: read to its last chunk, the gateway found in it', async () => {
    const ok = track(await startChunkedServer(['he', 'llo', ' world']));
    expect(await probeWith()(target(ok.url))).toMatchObject({ outcome: 'ok', statusCode: 200, errorMessage: null });
    // nginx's page split across chunks, and no Server header: only the decoded body names nginx.
    const pieces = [NGINX_502_BODY.slice(0, 90), NGINX_502_BODY.slice(90, 100), NGINX_502_BODY.slice(100)];
    const bad = track(await startChunkedServer(pieces, 502, { 'Content-Type': 'text/html' }));
    const result = await probeWith()(target(bad.url));
    expect(result).toMatchObject({ outcome: 'bad_gateway', statusCode: 502, gateway: 'nginx' });
    expectConsistentTimings(result);
  });

  it('chunked body cut short: invalid_response (truncated), status and gateway kept', async () => {
    const server = track(await startTruncatedChunkedServer(503, { Server: 'envoy' }, 100, 'upstream connect error'));
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'invalid_response', statusCode: 503, gateway: 'envoy' });
    expect(result.errorMessage).toBe('response body truncated: connection closed after 22 bytes');
    expectConsistentTimings(result);
  });

  it('100 Continue and 103 Early Hints before the answer: the final answer is judged', async () => {
    const server = track(await startInterimServer());
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200, errorMessage: null });
    expectConsistentTimings(result);
  });

  it('bare LF line ends: accepted', async () => {
    const server = track(await startRawServer('HTTP/1.1 200 OK\nContent-Length: 2\n\nok'));
    expect(await probeWith()(target(server.url))).toMatchObject({ outcome: 'ok', statusCode: 200 });
  });

  it('101 without an upgrade asked for: http_error', async () => {
    const server = track(await startRawServer('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'));
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'http_error', statusCode: 101 });
    expect(result.errorMessage).toMatch(/101 Switching Protocols/);
  });

  it('deadline in the middle of the body: timeout, status kept', async () => {
    const server = track(await startStallingBodyServer());
    const result = await probeWith()(target(server.url, 300));
    expect(result).toMatchObject({ outcome: 'timeout', statusCode: 200 });
    expect(result.errorMessage).toMatch(/body not complete within 300 ms \(10 bytes read\)/);
    expect(result.ttfbMs).not.toBeNull();
    expectConsistentTimings(result);
  });

  it('10 MB body: the probe stops at the cap and drops the connection', async () => {
    const server = track(await startLargeBodyServer(10 * 1024 * 1024));
    const result = await probeWith({ maxBodyBytes: 65_536 })(target(server.url));
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200 });
    expectConsistentTimings(result);
    await waitFor(() => server.abandoned() === 1, { message: 'the server never saw the client leave' });
    expect(server.completed()).toBe(0);
  });

  it('follows redirects: ok after 2 hops, timings of the last hop', async () => {
    const server = track(await startRedirectChain(2));
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200, address: '127.0.0.1' });
    expectConsistentTimings(result);
  });

  it('follows 5 redirects but not 6: http_error naming the limit', async () => {
    const five = track(await startRedirectChain(5));
    expect((await probeWith()(target(five.url))).outcome).toBe('ok');
    const six = track(await startRedirectChain(6));
    const result = await probeWith()(target(six.url));
    expect(result).toMatchObject({ outcome: 'http_error', statusCode: 302 });
    expect(result.errorMessage).toMatch(/too many redirects/);
  });

  it('redirect with an invalid Location: invalid_response, status kept', async () => {
    const server = track(await startRedirectServer('http://[not-an-address/', 301));
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'invalid_response', statusCode: 301 });
    expect(result.errorMessage).toMatch(/invalid Location: http:\/\/\[not-an-address\//);
  });

  it('one deadline covers all redirects', async () => {
    const slow = track(await startSlowServer(10_000));
    const front = track(await startRedirectServer(slow.url));
    const result = await probeWith()(target(front.url, 300));
    expect(result.outcome).toBe('timeout');
    expect(result.totalMs).toBeLessThan(3_000);
  });

  it('IPv6: probes http://[::1]:PORT/', async () => {
    const server = track(await startHealthyServer({ host: '::1' }));
    const result = await probeWith()(target(server.url));
    expect(result).toMatchObject({ outcome: 'ok', addresses: ['::1'], address: '::1' });
    expectConsistentTimings(result);
  });

  it('leaves no socket or timer behind', async () => {
    const cert = await createSelfSignedCert();
    const servers = [
      track(await startTlsServer(cert)),
      track(await startNginx502Server()),
      track(await startEmptyReplyServer()),
      track(await startHealthyServer()),
      track(await startSlowServer(10_000)),
      track(await startResettingServer()),
      track(await startTruncatedServer()),
      track(await startLargeBodyServer(1024 * 1024)),
      track(await startChunkedServer(['a', 'b', 'c'])),
      track(await startTruncatedChunkedServer(502, {}, 100, 'cut')),
      track(await startInterimServer()),
      track(await startStallingBodyServer()),
      track(await startBrokenHttpServer()),
    ];
    const before = openSockets();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const probe = probeWith({ maxBodyBytes: 1024 });
    await Promise.all(servers.map((s) => probe(target(s.url, 300))));
    await waitFor(() => openSockets() <= before, { message: 'sockets still open after the probes' });
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
  });
});

describe('http probe: TLS', () => {
  let cert: TestCert;
  beforeAll(async () => {
    cert = await createSelfSignedCert(['app.test']);
  });

  it('self-signed certificate: tls_error', async () => {
    const server = track(await startTlsServer(cert));
    const result = await probeWith()(target(server.url));
    expect(result.outcome).toBe('tls_error');
    expect(result.errorMessage).toMatch(/self.signed|DEPTH_ZERO_SELF_SIGNED_CERT/i);
    expect(result.connectMs).not.toBeNull();
    expect(result.tlsMs).toBeNull();
    expectConsistentTimings(result);
  });

  it('trusted certificate by name via DNS: ok, SNI and Host kept, all five timings in order', async () => {
    const dns = track(await startDnsServer());
    dns.setA('app.test', ['127.0.0.1']);
    let host: string | undefined;
    const server = track(
      await startTlsServer(cert, (req, res) => {
        host = req.headers.host;
        res.end('secure');
      }),
    );
    const probe = probeWith({ resolver: createResolver({ servers: dns.servers }), extraCa: cert.cert });
    const result = await probe(target(`https://app.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', address: '127.0.0.1' });
    for (const key of ['dnsMs', 'connectMs', 'tlsMs', 'ttfbMs', 'totalMs'] as const) expect(result[key]).not.toBeNull();
    expectConsistentTimings(result);
    expect(server.serverNames).toEqual(['app.test']);
    expect(host).toBe(`app.test:${server.port}`);
  });

  it('IP literal: no SNI', async () => {
    const server = track(await startTlsServer(cert));
    const result = await probeWith({ extraCa: cert.cert })(target(server.url));
    expect(result.outcome).toBe('ok');
    expect(server.serverNames).toEqual(['']);
  });

  it('certificate for another name: tls_error', async () => {
    const dns = track(await startDnsServer());
    dns.setA('other.test', ['127.0.0.1']);
    const server = track(await startTlsServer(cert));
    const probe = probeWith({ resolver: createResolver({ servers: dns.servers }), extraCa: cert.cert });
    const result = await probe(target(`https://other.test:${server.port}/`));
    expect(result.outcome).toBe('tls_error');
    expect(result.errorMessage).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('https to a plain HTTP port: tls_error with a readable reason', async () => {
    const server = track(await startHealthyServer());
    const result = await probeWith()(target(server.url.replace('http:', 'https:')));
    expect(result.outcome).toBe('tls_error');
    expect(result.errorMessage).toMatch(/wrong version number/);
    expect(result.errorMessage).not.toMatch(/ssl3_|\.c:\d+/);
  });
});

describe('http probe: names resolved through a loopback DNS server', () => {
  let dns: DnsServer;
  const probeVia = (overrides: Partial<HttpProbeDeps> = {}) =>
    probeWith({ resolver: createResolver({ servers: dns.servers }), ...overrides });

  beforeEach(async () => {
    dns = await startDnsServer();
  });
  afterEach(() => dns.close());

  it('records the addresses, and their change between two probes', async () => {
    const servers = await startHealthyServersOnOnePort(['127.0.0.2', '127.0.0.4']);
    servers.forEach(track);
    const url = `http://app.test:${servers[0].port}/`;
    dns.setA('app.test', ['127.0.0.3', '127.0.0.2']);
    const first = await probeVia()(target(url));
    expect(first).toMatchObject({ outcome: 'ok', addresses: ['127.0.0.2', '127.0.0.3'], address: '127.0.0.2' });
    expectConsistentTimings(first);

    dns.setA('app.test', ['127.0.0.4']);
    dns.setAAAA('app.test', ['::1']);
    const second = await probeVia()(target(url));
    expect(second).toMatchObject({ outcome: 'ok', addresses: ['127.0.0.4', '::1'], address: '127.0.0.4' });
  });

  it('only IPv6 answers: connects over IPv6', async () => {
    const server = track(await startHealthyServer({ host: '::1' }));
    dns.setAAAA('v6.test', ['::1']);
    const result = await probeVia()(target(`http://v6.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', addresses: ['::1'], address: '::1' });
  });

  it('unknown name: dns_nxdomain, no connection', async () => {
    const result = await probeVia()(target('http://missing.test/'));
    expect(result).toMatchObject({ outcome: 'dns_nxdomain', addresses: [], address: null, dnsMs: null, connectMs: null });
    expect(result.errorMessage).toMatch(/missing\.test/);
  });

  it('SERVFAIL: dns_error', async () => {
    dns.setServfail('broken.test');
    const result = await probeVia()(target('http://broken.test/'));
    expect(result.outcome).toBe('dns_error');
    expect(result.errorMessage).toMatch(/SERVFAIL/);
  });

  it('a resolver that ignores the abort still cannot hold the probe past its deadline', async () => {
    const stuck: Resolver = { resolve: () => new Promise<string[]>(() => {}) };
    const result = await probeWith({ resolver: stuck })(target('http://stuck.test/', 200));
    expect(result.outcome).toBe('dns_error');
    expect(result.totalMs).toBeLessThan(3_000);
  });

  it('silent DNS server: dns_error at the deadline, not later', async () => {
    dns.setSilent('silent.test');
    const result = await probeVia()(target('http://silent.test/', 300));
    expect(result.outcome).toBe('dns_error');
    expect(result.totalMs).toBeGreaterThanOrEqual(290);
    expect(result.totalMs).toBeLessThan(3_000);
    await waitFor(() => dns.queries.some((q) => q.name === 'silent.test'));
  });
});

describe('network error classification (errors loopback cannot produce)', () => {
  const error = (code: string, message = code, syscall?: string) => Object.assign(new Error(message), { code, syscall });
  it.each([
    ['EHOSTUNREACH', 'connect', 'conn_timeout'],
    ['ENETUNREACH', 'connect', 'conn_timeout'],
    ['ETIMEDOUT', 'connect', 'conn_timeout'],
    ['ECONNREFUSED', 'connect', 'conn_refused'],
    ['CERT_HAS_EXPIRED', 'tls', 'tls_error'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls', 'tls_error'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls', 'tls_error'],
    ['ECONNRESET', 'tls', 'tls_error'],
    ['ECONNRESET', 'body', 'invalid_response'],
  ] as const)('%s while in %s: %s', (code, phase, outcome) => {
    const v = classifyNetworkError(error(code, `connect ${code} 10.0.0.5:80`, 'connect'), phase, false, '10.0.0.5:80');
    expect(v.outcome).toBe(outcome);
    expect(v.errorMessage).not.toMatch(/\n|at /);
  });

  it('tells a reset from a hang-up while waiting for the answer', () => {
    expect(classifyNetworkError(error('ECONNRESET', 'read ECONNRESET', 'read'), 'wait', false, 'p').outcome).toBe('conn_reset');
    expect(classifyNetworkError(error('EPIPE', 'write EPIPE', 'write'), 'wait', false, 'p').outcome).toBe('conn_reset');
    expect(classifyNetworkError(error('ECONNRESET', 'socket hang up'), 'wait', false, 'p').outcome).toBe('invalid_response');
    expect(classifyNetworkError(error('ECONNRESET', 'socket hang up'), 'wait', true, 'p').outcome).toBe('invalid_response');
  });
});

describe('resolver', () => {
  const never = new AbortController().signal;

  it('returns IP literals without a query, brackets stripped', async () => {
    const resolver = createResolver({ servers: ['127.0.0.1:9'] });
    expect(await resolver.resolve('10.1.2.3', never)).toEqual(['10.1.2.3']);
    expect(await resolver.resolve('[::1]', never)).toEqual(['::1']);
  });

  it('resolves localhost to loopback without asking the DNS server', async () => {
    const dns = track(await startDnsServer());
    const addresses = await createResolver({ servers: dns.servers }).resolve('localhost', never);
    expect(addresses).toContain('127.0.0.1');
    expect(dns.queries).toEqual([]);
  });

  it('answers in one family are enough; none at all is dns_nxdomain', async () => {
    const dns = track(await startDnsServer());
    const resolver = createResolver({ servers: dns.servers });
    dns.setA('v4.test', ['10.0.0.10', '10.0.0.9']);
    expect(await resolver.resolve('v4.test', never)).toEqual(['10.0.0.9', '10.0.0.10']);
    dns.setA('empty.test', []);
    const failure = await resolver.resolve('empty.test', never).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DnsFailure);
    expect(failure).toMatchObject({ kind: 'dns_nxdomain', code: 'ENODATA' });
  });

  it('an abort ends a stalled query at once', async () => {
    const dns = track(await startDnsServer());
    dns.setSilent('stall.test');
    const controller = new AbortController();
    const pending = createResolver({ servers: dns.servers }).resolve('stall.test', controller.signal);
    await waitFor(() => dns.queries.length > 0);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'dns_error', code: 'ABORTED' });
  });

  it('aborting one resolution leaves the others running (channels are not shared)', async () => {
    const dns = track(await startDnsServer());
    dns.setSilent('stall.test');
    dns.setA('slow.test', ['10.0.0.7']);
    dns.setDelay('slow.test', 150);
    const resolver = createResolver({ servers: dns.servers });
    const controller = new AbortController();
    const stalled = resolver.resolve('stall.test', controller.signal).catch((e: unknown) => e);
    const slow = resolver.resolve('slow.test', never);
    await waitFor(() => dns.queries.some((q) => q.name === 'slow.test') && dns.queries.some((q) => q.name === 'stall.test'));
    controller.abort();
    expect(await stalled).toMatchObject({ code: 'ABORTED' });
    expect(await slow).toEqual(['10.0.0.7']);
    // Channels returned to the pool answer again.
    dns.setDelay('slow.test', 0);
    expect(await Promise.all([1, 2, 3].map(() => resolver.resolve('slow.test', never)))).toEqual([['10.0.0.7'], ['10.0.0.7'], ['10.0.0.7']]);
  });

  it('a server that drops AAAA queries costs only the grace period', async () => {
    const dns = track(await startDnsServer());
    dns.setA('noaaaa.test', ['10.0.0.8']);
    dns.setSilent('noaaaa.test', ['AAAA']);
    const resolver = createResolver({ servers: dns.servers, familyGraceMs: 100 });
    const started = performance.now();
    expect(await resolver.resolve('noaaaa.test', AbortSignal.timeout(5_000))).toEqual(['10.0.0.8']);
    expect(performance.now() - started).toBeLessThan(2_500);
  });

  it('system resolver: localhost works, an invalid .invalid name is dns_nxdomain', async () => {
    const resolver = createResolver();
    expect(await resolver.resolve('localhost', never)).toContain('127.0.0.1');
    await expect(resolver.resolve('nothing.invalid', AbortSignal.timeout(5_000))).rejects.toMatchObject({
      kind: 'dns_nxdomain',
    });
  });

  it('rejects a DNS server that is not ip[:port]', () => {
    expect(() => createResolver({ servers: ['dns.example.com:53'] })).toThrow(/dns\.example\.com/);
    expect(() => createResolver({ servers: ['[::1]:53', '127.0.0.1:5353', '10.0.0.2'] })).not.toThrow();
  });
});

describe('SSRF guard end to end', () => {
  it('a name that resolves to a denied address is blocked before any connection', async () => {
    const dns = track(await startDnsServer());
    const hidden = track(await startCountingServer({ host: '127.0.0.5' }));
    dns.setA('rebind.test', ['127.0.0.5']);
    const probe = probeWith({
      resolver: createResolver({ servers: dns.servers }),
      policy: createTargetPolicy({ deny: ['127.0.0.5/32'] }),
    });
    const result = await probe(target(`http://rebind.test:${hidden.port}/`));
    expect(result).toMatchObject({ outcome: 'blocked', addresses: ['127.0.0.5'], address: null, connectMs: null });
    expect(result.errorMessage).toMatch(/127\.0\.0\.5/);
    expect(hidden.connections()).toBe(0);
  });

  it('a redirect to a denied address is blocked before any connection', async () => {
    const hidden = track(await startCountingServer({ host: '127.0.0.5' }));
    const front = track(await startRedirectServer(`http://127.0.0.5:${hidden.port}/`));
    const probe = probeWith({ policy: createTargetPolicy({ deny: ['127.0.0.5/32'] }) });
    const result = await probe(target(front.url));
    expect(result).toMatchObject({ outcome: 'blocked', statusCode: null });
    expect(result.errorMessage).toMatch(/redirect/);
    expect(hidden.connections()).toBe(0);
    // The same redirect without the deny entry does reach it: the test would notice a connection.
    const open = await probeWith()(target(front.url));
    expect(open.outcome).toBe('ok');
    expect(hidden.connections()).toBe(1);
  });

  it('blocks the metadata address by default', async () => {
    const result = await probeWith()(target('http://169.254.169.254/latest/meta-data/', 1_000));
    expect(result).toMatchObject({ outcome: 'blocked', address: null });
    expect(result.errorMessage).toMatch(/metadata/);
  });
});

describe('gateway detection', () => {
  const cases: [string, Record<string, string>, string, string | null][] = [
    ['nginx by its page', {}, NGINX_502_BODY, 'nginx'],
    ['nginx by Server', { server: 'nginx' }, '', 'nginx'],
    ['openresty page', {}, '<hr><center>openresty</center>', 'nginx'],
    [
      'HAProxy page',
      {},
      '<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n',
      'haproxy',
    ],
    ['HAProxy 503', {}, '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>', 'haproxy'],
    ['Envoy body', { 'content-type': 'text/plain' }, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', 'envoy'],
    ['Envoy header', { server: 'envoy' }, 'no healthy upstream', 'envoy'],
    ['Envoy x-envoy-*', { 'x-envoy-upstream-service-time': '3' }, '', 'envoy'],
    ['Cloudflare header', { server: 'cloudflare', 'cf-ray': '8a1b2c3d4e5f-AMS' }, '', 'cloudflare'],
    ['Cloudflare page', {}, '<hr><center>cloudflare</center>', 'cloudflare'],
    ['AWS ELB', { server: 'awselb/2.0' }, '<html><body><center><h1>502 Bad Gateway</h1></center></body></html>', 'aws_elb'],
    ['Apache proxy error', {}, '<title>502 Proxy Error</title><h1>Proxy Error</h1>', 'apache'],
    ['Apache server header', { server: 'Apache/2.4.57 (Debian)' }, '', 'apache'],
    ['unnamed proxy via Via', { via: '1.1 varnish (Varnish/7.1)' }, '', 'other'],
    ['the application itself', { server: 'gunicorn', 'content-type': 'application/json' }, '{"error":"boom"}', null],
  ];
  it.each(cases)('%s', (_name, headers, body, expected) => {
    expect(detectGateway(headers, body)).toBe(expected);
  });

  it('the error page wins over the relaying hop: nginx 502 through Cloudflare', () => {
    expect(detectGateway({ server: 'cloudflare', 'cf-ray': 'x' }, NGINX_502_BODY)).toBe('nginx');
  });

  it('header names and array values are handled', () => {
    expect(detectGateway({ Server: 'NGINX', via: ['1.0 a', '1.1 b'] }, '')).toBe('nginx');
  });
});
