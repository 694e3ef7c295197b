import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createResolver, DnsFailure, MAX_QUERIES_PER_SOCKET } from '../src/probes/dns.resolver.js';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import { waitFor } from './support/wait.js';

const started: DnsServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(started.splice(0).map((server) => server.close()));
});

async function dnsServer(host?: '127.0.0.1' | '::1'): Promise<DnsServer> {
  const server = await startDnsServer(host ? { host } : {});
  started.push(server);
  return server;
}

/** A signal nothing aborts (one per resolution, as a probe has). */
const open = () => new AbortController().signal;

async function failureOf(resolution: Promise<unknown>): Promise<DnsFailure> {
  const outcome = await resolution.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`resolved to ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(DnsFailure);
  return outcome.error as DnsFailure;
}

const queriesFor = (dns: DnsServer, name: string, type?: string) =>
  dns.queries.filter((q) => q.name === name && (type === undefined || q.type === type));

const hasIPv6Loopback = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.internal && i.address === '::1'));

/** Timers keeping the event loop alive. */
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('resolver with DNS servers: answers', () => {
  it('follows a CNAME chain inside one answer, ignoring records of other names', async () => {
    const dns = await dnsServer();
    dns.setCname('www.shop.test', 'Edge.CDN.test');
    dns.setCname('edge.cdn.test', 'origin.shop.test');
    dns.setA('origin.shop.test', ['10.0.0.20', '10.0.0.3']);
    dns.setAAAA('origin.shop.test', ['2001:db8::20']);
    dns.setExtraAnswers('www.shop.test', [
      { type: 'A', name: 'elsewhere.test', class: 'IN', ttl: 0, data: '6.6.6.6' },
      { type: 'TXT', name: 'www.shop.test', class: 'IN', ttl: 0, data: 'not an address' },
    ]);
    const resolver = createResolver({ servers: dns.servers });
    expect(await resolver.resolve('WWW.Shop.test', open())).toEqual(['10.0.0.3', '10.0.0.20', '2001:db8::20']);
    expect(queriesFor(dns, 'www.shop.test').map((q) => q.type).sort()).toEqual(['A', 'AAAA']);
  });

  it('a chain that ends at a missing name is dns_nxdomain', async () => {
    const dns = await dnsServer();
    dns.setCname('dangling.test', 'gone.test');
    const failure = await failureOf(createResolver({ servers: dns.servers }).resolve('dangling.test', open()));
    expect(failure).toMatchObject({ kind: 'dns_nxdomain', code: 'ENOTFOUND', message: 'dangling.test does not exist (NXDOMAIN)' });
  });

  it('NOERROR without an address in either family is dns_nxdomain ENODATA', async () => {
    const dns = await dnsServer();
    dns.setA('bare.test', []);
    const failure = await failureOf(createResolver({ servers: dns.servers }).resolve('bare.test', open()));
    expect(failure).toMatchObject({ kind: 'dns_nxdomain', code: 'ENODATA', message: 'bare.test has no A or AAAA record' });
  });

  it('IPv6 addresses come back in the usual text form', async () => {
    const dns = await dnsServer();
    dns.setAAAA('v6.test', ['2001:db8:0:0:1:0:0:1', '1:0:0:2:0:0:0:3', '::ffff:10.1.2.3']);
    const addresses = await createResolver({ servers: dns.servers }).resolve('v6.test', open());
    expect(addresses).toEqual(['::ffff:10.1.2.3', '1:0:0:2::3', '2001:db8::1:0:0:1']);
  });

  it('a truncated reply is asked again over TCP and gives every address', async () => {
    const dns = await dnsServer();
    const many = Array.from({ length: 40 }, (_, i) => `10.0.1.${i + 1}`);
    dns.setA('big.test', many);
    dns.setTruncated('big.test');
    const resolver = createResolver({ servers: dns.servers });
    expect(await resolver.resolve('big.test', open())).toEqual(many);
    expect(queriesFor(dns, 'big.test', 'A').map((q) => q.transport)).toEqual(['udp', 'tcp']);
    expect(resolver.stats().pending).toBe(0);
  });

  it.each(['no-question', 'cut'] as const)('a truncated reply with %s is asked again over TCP at once, not left to time out', async (style) => {
    const dns = await dnsServer();
    const many = Array.from({ length: 40 }, (_, i) => `10.0.2.${i + 1}`);
    dns.setA('big.test', many);
    dns.setTruncated('big.test', style);
    // One try of 5 s: a reply the client could not use would show as a 5 s time-out, not as this.
    const resolver = createResolver({ servers: dns.servers, queryTimeoutMs: 5_000, tries: 1 });
    const started = Date.now();
    expect(await resolver.resolve('big.test', open())).toEqual(many);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(queriesFor(dns, 'big.test', 'A').map((q) => q.transport)).toEqual(['udp', 'tcp']);
    expect(resolver.stats().pending).toBe(0);
  });

  it('a CNAME-only answer (a server that does not recurse) is followed: the target is asked', async () => {
    const dns = await dnsServer();
    dns.setCname('www.shop.test', 'origin.shop.test', { follow: false });
    dns.setA('origin.shop.test', ['10.0.3.1']);
    const resolver = createResolver({ servers: dns.servers });
    expect(await resolver.resolve('www.shop.test', open())).toEqual(['10.0.3.1']);
    expect(queriesFor(dns, 'origin.shop.test', 'A').length).toBeGreaterThanOrEqual(1);
    expect(resolver.stats().pending).toBe(0);
  });

  it('a CNAME chain that loops is refused with a clear error, never called NXDOMAIN', async () => {
    const dns = await dnsServer();
    dns.setCname('a.loop.test', 'b.loop.test', { follow: false });
    dns.setCname('b.loop.test', 'a.loop.test', { follow: false });
    const resolver = createResolver({ servers: dns.servers });
    const failure = await failureOf(resolver.resolve('a.loop.test', open()));
    expect(failure.kind).toBe('dns_error');
    expect(failure.code).toBe('ECNAME');
    expect(failure.message).toMatch(/CNAME/);
    expect(failure.message).toMatch(/recursive/);
    expect(resolver.stats().pending).toBe(0);
  });

  it.runIf(hasIPv6Loopback)('asks a server on ::1 over IPv6', async () => {
    const dns = await dnsServer('::1');
    dns.setA('six.test', ['10.0.0.6']);
    expect(dns.servers[0]).toMatch(/^\[::1\]:\d+$/);
    expect(await createResolver({ servers: dns.servers }).resolve('six.test', open())).toEqual(['10.0.0.6']);
  });
});

describe('resolver with DNS servers: failures', () => {
  it.each([
    ['SERVFAIL', 'ESERVFAIL', 'DNS lookup of bad.test failed: server failure (SERVFAIL)'],
    ['REFUSED', 'EREFUSED', 'DNS lookup of bad.test failed: query refused (REFUSED)'],
    ['FORMERR', 'EFORMERR', 'DNS lookup of bad.test failed: DNS server rejected the query as malformed (FORMERR)'],
    ['NOTIMP', 'ENOTIMP', 'DNS lookup of bad.test failed: DNS server does not implement the query (NOTIMP)'],
  ] as const)('%s: dns_error %s', async (rcode, code, message) => {
    const dns = await dnsServer();
    dns.setRcode('bad.test', rcode);
    const resolver = createResolver({ servers: dns.servers });
    expect(await failureOf(resolver.resolve('bad.test', open()))).toMatchObject({ kind: 'dns_error', code, message });
    expect(resolver.stats().pending).toBe(0);
  });

  it('SERVFAIL from the first server: the second one answers', async () => {
    const failing = await dnsServer();
    const working = await dnsServer();
    failing.setServfail('both.test');
    working.setA('both.test', ['10.0.0.8']);
    const resolver = createResolver({ servers: [...failing.servers, ...working.servers] });
    expect(await resolver.resolve('both.test', open())).toEqual(['10.0.0.8']);
  });

  it('a malformed reply is dns_error EBADRESP', async () => {
    const dns = await dnsServer();
    dns.setMalformed('garbled.test');
    const resolver = createResolver({ servers: dns.servers });
    const failure = await failureOf(resolver.resolve('garbled.test', open()));
    expect(failure).toMatchObject({ kind: 'dns_error', code: 'EBADRESP', message: 'DNS lookup of garbled.test failed: bad DNS response' });
    expect(resolver.stats().pending).toBe(0);
  });

  it('no answer within the tries: dns_error ETIMEOUT, every server asked `tries` times', async () => {
    const first = await dnsServer();
    const second = await dnsServer();
    first.setSilent('mute.test');
    second.setSilent('mute.test');
    const resolver = createResolver({ servers: [...first.servers, ...second.servers], queryTimeoutMs: 20, tries: 2 });
    const failure = await failureOf(resolver.resolve('mute.test', open()));
    expect(failure).toMatchObject({ kind: 'dns_error', code: 'ETIMEOUT', message: 'DNS lookup of mute.test failed: DNS server did not answer in time' });
    for (const server of [first, second]) {
      expect(queriesFor(server, 'mute.test', 'A')).toHaveLength(2);
      expect(queriesFor(server, 'mute.test', 'AAAA')).toHaveLength(2);
    }
    expect(resolver.stats().pending).toBe(0);
  });

  it('names no DNS server would take are refused without a query', async () => {
    const dns = await dnsServer();
    const resolver = createResolver({ servers: dns.servers });
    expect(await failureOf(resolver.resolve(`${'a'.repeat(64)}.test`, open()))).toMatchObject({ kind: 'dns_error', code: 'EBADNAME' });
    expect(await failureOf(resolver.resolve('a..test', open()))).toMatchObject({ kind: 'dns_error', code: 'EBADNAME' });
    expect(dns.queries).toEqual([]);
  });

  it('rejects a time-out or tries that is not positive', () => {
    expect(() => createResolver({ servers: ['127.0.0.1:53'], queryTimeoutMs: 0 })).toThrow(/queryTimeoutMs/);
    expect(() => createResolver({ servers: ['127.0.0.1:53'], tries: 1.5 })).toThrow(/tries/);
  });
});

describe('resolver with DNS servers: tries and servers', () => {
  it('a dropped query is sent again, and the answer to the retry counts', async () => {
    const dns = await dnsServer();
    dns.setA('lossy.test', ['10.0.0.6']);
    dns.setDrop('lossy.test', 2); // the first A and the first AAAA query
    const resolver = createResolver({ servers: dns.servers, queryTimeoutMs: 250 });
    expect(await resolver.resolve('lossy.test', open())).toEqual(['10.0.0.6']);
    expect(queriesFor(dns, 'lossy.test', 'A')).toHaveLength(2);
    expect(resolver.stats().pending).toBe(0);
  });

  it('a silent first server: the next one answers, and is asked first from then on', async () => {
    const silent = await dnsServer();
    const working = await dnsServer(hasIPv6Loopback ? '::1' : undefined);
    silent.setSilent('rotate.test');
    working.setA('rotate.test', ['10.0.0.7']);
    const resolver = createResolver({ servers: [...silent.servers, ...working.servers], queryTimeoutMs: 250 });
    expect(await resolver.resolve('rotate.test', open())).toEqual(['10.0.0.7']);
    expect(queriesFor(silent, 'rotate.test', 'A')).toHaveLength(1);
    expect(queriesFor(working, 'rotate.test', 'A')).toHaveLength(1);

    expect(await resolver.resolve('rotate.test', open())).toEqual(['10.0.0.7']);
    expect(queriesFor(silent, 'rotate.test')).toHaveLength(2);
    expect(queriesFor(working, 'rotate.test', 'A')).toHaveLength(2);
  });

  it.each(['id', 'port', 'question'] as const)('a forged reply with the wrong %s is ignored', async (kind) => {
    const dns = await dnsServer();
    dns.setA('bank.test', ['10.0.0.5']);
    dns.setDelay('bank.test', 50); // the forged replies go out at once, the real ones after them
    dns.setSpoof('bank.test', kind, ['6.6.6.6']);
    const resolver = createResolver({ servers: dns.servers });
    expect(await resolver.resolve('bank.test', open())).toEqual(['10.0.0.5']);
    expect(dns.forged).toBe(2);
    // From another port, the kernel drops them before the resolver reads them: its sockets are
    // connected to the server. The others were read before the real replies, and dropped.
    expect(resolver.stats().ignoredReplies).toBe(kind === 'port' ? 0 : 2);
    expect(resolver.stats().pending).toBe(0);
  });

  it('a socket error ends the try at once; the next resolution opens a new socket', async () => {
    const dns = await dnsServer();
    dns.setA('icmp.test', ['10.0.0.9']);
    dns.setDrop('icmp.test', 2);
    // Watch connects (calling through) to find the resolver's socket; restored in afterEach.
    const connect = vi.spyOn(dgram.Socket.prototype, 'connect');
    const resolver = createResolver({ servers: dns.servers, queryTimeoutMs: 60_000, tries: 1 });
    const pending = failureOf(resolver.resolve('icmp.test', open()));
    await waitFor(() => queriesFor(dns, 'icmp.test').length === 2);
    const socketOf = () => connect.mock.contexts.find((_, i) => connect.mock.calls[i][0] === dns.port) as dgram.Socket;
    const first = socketOf();
    first.emit('error', Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(await pending).toMatchObject({ kind: 'dns_error', code: 'ECONNREFUSED', message: 'DNS lookup of icmp.test failed: DNS server refused the connection' });
    expect(resolver.stats().pending).toBe(0);

    connect.mockClear();
    expect(await resolver.resolve('icmp.test', open())).toEqual(['10.0.0.9']);
    expect(socketOf()).not.toBe(first);
  });
});

describe('resolver with DNS servers: many at once', () => {
  it('500 concurrent resolutions are all answered right, with nothing left pending', async () => {
    const dns = await dnsServer();
    const names = Array.from({ length: 500 }, (_, i) => `site${i}.test`);
    names.forEach((name, i) => {
      dns.setA(name, [`10.1.${i >> 8}.${i & 0xff}`]);
      if (i % 3 === 0) dns.setAAAA(name, [`2001:db8::${(i + 1).toString(16)}`]);
    });
    // Where net.core.rmem_max keeps the test server's receive buffer small, it drops part of this
    // burst of 1,000 queries (it shares the thread that sends them): short tries recover quickly.
    const resolver = createResolver({ servers: dns.servers, queryTimeoutMs: 250, tries: 8 });
    const timersBefore = activeTimers();
    const results = await Promise.all(names.map((name) => resolver.resolve(name, open())));
    results.forEach((addresses, i) => {
      expect(addresses).toEqual(i % 3 === 0 ? [`10.1.${i >> 8}.${i & 0xff}`, `2001:db8::${(i + 1).toString(16)}`] : [`10.1.${i >> 8}.${i & 0xff}`]);
    });
    expect(resolver.stats().pending).toBe(0);
    await waitFor(() => activeTimers() <= timersBefore, { message: 'a timer outlived the resolutions' });
    // The resolver's sockets do not hold the event loop (only the test server's sockets do).
    expect(process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap')).toHaveLength(2);
  });

  it('aborting one resolution among many drops only its queries', async () => {
    const dns = await dnsServer();
    dns.setSilent('stall.test');
    dns.setA('slow.test', ['10.0.0.7']);
    dns.setDelay('slow.test', 100);
    const resolver = createResolver({ servers: dns.servers });
    const controller = new AbortController();
    const stalled = failureOf(resolver.resolve('stall.test', controller.signal));
    const others = Array.from({ length: 50 }, () => resolver.resolve('slow.test', open()));
    await waitFor(() => queriesFor(dns, 'stall.test').length === 2 && queriesFor(dns, 'slow.test').length === 100);

    const before = resolver.stats().pending;
    controller.abort();
    expect(resolver.stats().pending).toBe(before - 2);
    expect(await stalled).toMatchObject({ kind: 'dns_error', code: 'ABORTED', message: 'DNS resolution of stall.test was aborted' });
    expect(await Promise.all(others)).toEqual(others.map(() => ['10.0.0.7']));
    expect(resolver.stats().pending).toBe(0);
  });

  it('a deadline reads as one in the message', async () => {
    const dns = await dnsServer();
    dns.setSilent('late.test');
    const failure = await failureOf(createResolver({ servers: dns.servers }).resolve('late.test', AbortSignal.timeout(30)));
    expect(failure).toMatchObject({ code: 'ABORTED', message: 'DNS resolution of late.test did not finish before the deadline' });
  });
});

/** A port on `host` with nothing listening: bound by a UDP socket, then closed. */
async function deadPort(host: '127.0.0.1' | '::1'): Promise<number> {
  const socket = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** Not closed yet (`address()` throws on a closed dgram socket). */
const isOpen = (socket: dgram.Socket) => {
  try {
    socket.address();
    return true;
  } catch {
    return false;
  }
};

describe('resolver with DNS servers: sockets', () => {
  it(`asks from a fresh source port at least every ${MAX_QUERIES_PER_SOCKET} queries`, async () => {
    const dns = await dnsServer();
    dns.setA('spread.test', ['10.0.0.11']);
    const resolver = createResolver({ servers: dns.servers });
    for (let i = 0; i < 200; i++) expect(await resolver.resolve('spread.test', open())).toEqual(['10.0.0.11']);
    const ports = queriesFor(dns, 'spread.test').map((q) => q.port);
    expect(ports).toHaveLength(400);
    expect(new Set(ports).size).toBeGreaterThanOrEqual(200 / MAX_QUERIES_PER_SOCKET);
    let run = 0;
    let longest = 0;
    ports.forEach((port, i) => {
      run = i > 0 && ports[i - 1] === port ? run + 1 : 1;
      longest = Math.max(longest, run);
    });
    // The OS may hand a new socket the port the last one had (rarely): two sockets in a row on
    // one port must not fail the test; a socket that never rotates still does (400 in a row).
    expect(longest).toBeLessThanOrEqual(2 * MAX_QUERIES_PER_SOCKET);
  });

  const loopbacks = hasIPv6Loopback ? (['127.0.0.1', '::1'] as const) : (['127.0.0.1'] as const);
  it.each(loopbacks)('a server on %s with nothing listening: dns_error ECONNREFUSED long before the deadline', async (host) => {
    const port = await deadPort(host);
    // Tries that would take minutes to time out: only the refusal can end them before the deadline.
    const resolver = createResolver({ servers: [host === '::1' ? `[::1]:${port}` : `${host}:${port}`], tries: 20 });
    const watchdog = AbortSignal.timeout(8_000);
    const failure = await failureOf(resolver.resolve('down.test', AbortSignal.timeout(10_000)));
    expect(watchdog.aborted).toBe(false);
    expect(failure).toMatchObject({ kind: 'dns_error', code: 'ECONNREFUSED', message: 'DNS lookup of down.test failed: DNS server refused the connection' });
    expect(resolver.stats()).toMatchObject({ pending: 0, sockets: 0 });
  }, 15_000);

  it('a server with nothing listening ends its try at once: the next server answers', async () => {
    const working = await dnsServer();
    working.setA('up.test', ['10.0.0.12']);
    const resolver = createResolver({ servers: [`127.0.0.1:${await deadPort('127.0.0.1')}`, ...working.servers], queryTimeoutMs: 60_000 });
    const watchdog = AbortSignal.timeout(8_000);
    expect(await resolver.resolve('up.test', AbortSignal.timeout(10_000))).toEqual(['10.0.0.12']);
    expect(watchdog.aborted).toBe(false);
  }, 15_000);

  it('leaves no socket open but the current one of the server, and closes that one once idle', async () => {
    const dns = await dnsServer();
    const names = Array.from({ length: 50 }, (_, i) => `pool${i}.test`);
    names.forEach((name, i) => dns.setA(name, [`10.2.0.${i + 1}`]));
    // Watch connects (calling through) to see every socket the resolver opens; restored in afterEach.
    const connect = vi.spyOn(dgram.Socket.prototype, 'connect');
    // Short tries: a query the test server drops (see the 500 at once above) is soon asked again.
    const resolver = createResolver({ servers: dns.servers, queryTimeoutMs: 250, tries: 8 });
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(names.map((name) => resolver.resolve(name, open())));
      expect(results).toEqual(names.map((_, i) => [`10.2.0.${i + 1}`]));
    }
    const sockets = [...connect.mock.contexts] as dgram.Socket[];
    expect(sockets.length).toBeGreaterThanOrEqual((10 * 50 * 2) / MAX_QUERIES_PER_SOCKET);
    const stillOpen = () => sockets.filter(isOpen).length;
    expect(stillOpen()).toBeLessThanOrEqual(1);
    expect(resolver.stats()).toMatchObject({ pending: 0, sockets: stillOpen() });

    await waitFor(() => stillOpen() === 0 && resolver.stats().sockets === 0, { timeoutMs: 10_000, message: 'an idle socket stayed open' });
    expect(await resolver.resolve('pool0.test', open())).toEqual(['10.2.0.1']);
    expect(connect.mock.contexts).toHaveLength(sockets.length + 1);
    expect(resolver.stats().sockets).toBe(1);
  });
});
