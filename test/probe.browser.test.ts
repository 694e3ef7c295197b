/**
 * The probe against answers real servers give, where it must do what a browser does (issue 14):
 * several addresses tried in turn across families (Happy Eyeballs), a UTF-8 Location followed as
 * browsers follow it, and a close-delimited body ended by a reset keeping the status it carried.
 * Raw `net` servers and the test DNS server on loopback.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpProbe, createResolver, createTargetPolicy, type HttpProbeDeps } from '../src/probes/index.js';
import { interleaveFamilies } from '../src/probes/connect.js';
import { startBlackhole } from './support/blackhole.js';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import { getRefusingPort, okTarget, startHealthyServer, startNetServer, trackForCleanup, type TestServer } from './support/http-servers.js';

const track = trackForCleanup();

let dns: DnsServer;
beforeEach(async () => {
  dns = await startDnsServer();
});
afterEach(() => dns.close());

const probeVia = (overrides: Partial<HttpProbeDeps> = {}) =>
  createHttpProbe({ resolver: createResolver({ servers: dns.servers }), policy: createTargetPolicy(), ...overrides });

/** Whether a connect to host:port is refused at once (nothing listens there). */
const refused = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });

/** A healthy server on `host` at a port where nothing listens on `deadHost`. */
async function healthyWhereDeadIsNot(host: string, deadHost: string): Promise<TestServer> {
  for (let attempt = 0; ; attempt++) {
    const server = track(await startHealthyServer({ host }));
    if (await refused(deadHost, server.port)) return server;
    if (attempt > 10) throw new Error(`no port free on ${deadHost}`);
  }
}

describe('several addresses: tried in turn, as browsers do', () => {
  it('A 127.0.0.2, 127.0.0.1 where only 127.0.0.2 listens: ok on it, 127.0.0.1 recorded as failed', async () => {
    const server = await healthyWhereDeadIsNot('127.0.0.2', '127.0.0.1');
    dns.setA('two.test', ['127.0.0.2', '127.0.0.1']);
    const result = await probeVia()(okTarget(`http://two.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200, address: '127.0.0.2', addresses: ['127.0.0.1', '127.0.0.2'] });
    expect(result.failedAddresses).toEqual(['127.0.0.1']);
  });

  it('A + AAAA where only the IPv6 address listens: ok over IPv6, the IPv4 one failed', async () => {
    const server = await healthyWhereDeadIsNot('::1', '127.0.0.1');
    dns.setA('dual.test', ['127.0.0.1']);
    dns.setAAAA('dual.test', ['::1']);
    const result = await probeVia()(okTarget(`http://dual.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', address: '::1', addresses: ['127.0.0.1', '::1'] });
    expect(result.failedAddresses).toEqual(['127.0.0.1']);
  });

  it('one address drops packets (its connect hangs): the next is tried after the attempt delay, well within the deadline', async () => {
    const hole = track(await startBlackhole('127.0.0.1'));
    const server = track(await startHealthyServer({ host: '127.0.0.2', port: hole.port }));
    dns.setA('hang.test', ['127.0.0.1', '127.0.0.2']);
    const result = await probeVia()(okTarget(`http://hang.test:${server.port}/`, 5_000));
    expect(result).toMatchObject({ outcome: 'ok', address: '127.0.0.2' });
    expect(result.failedAddresses).toEqual(['127.0.0.1']);
    expect(result.connectMs).toBeGreaterThanOrEqual(200);
    expect(result.totalMs).toBeLessThan(4_000);
  });

  it('every address refuses: conn_refused naming each, all recorded as failed', async () => {
    const port = (await getRefusingPort()).port;
    dns.setA('dead.test', ['127.0.0.1', '127.0.0.2']);
    const result = await probeVia()(okTarget(`http://dead.test:${port}/`));
    expect(result.outcome).toBe('conn_refused');
    expect(result.failedAddresses).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(result.errorMessage).toMatch(/127\.0\.0\.1.*every address failed.*127\.0\.0\.2/);
  });

  it('a healthy single address: nothing recorded as failed', async () => {
    const server = track(await startHealthyServer());
    dns.setA('one.test', ['127.0.0.1']);
    const result = await probeVia()(okTarget(`http://one.test:${server.port}/`));
    expect(result.outcome).toBe('ok');
    expect(result.failedAddresses ?? null).toBeNull();
  });

  it('an address in a denied range is never connected to; the others are, and with none left it is blocked', async () => {
    const server = track(await startHealthyServer());
    dns.setA('mixed.test', ['169.254.169.254', '127.0.0.1']);
    const result = await probeVia()(okTarget(`http://mixed.test:${server.port}/`));
    expect(result).toMatchObject({ outcome: 'ok', address: '127.0.0.1' });

    dns.setA('meta.test', ['169.254.169.254']);
    const blocked = await probeVia()(okTarget(`http://meta.test:${server.port}/`));
    expect(blocked.outcome).toBe('blocked');
    expect(blocked.connectMs).toBeNull();
    expect(blocked.errorMessage).toMatch(/ALLOW_TARGETS/);
  });

  it('interleaves the families, starting with the family of the first address (RFC 8305 §4)', () => {
    expect(interleaveFamilies(['10.0.0.1', '10.0.0.2', '::1', '::2'])).toEqual(['10.0.0.1', '::1', '10.0.0.2', '::2']);
    expect(interleaveFamilies(['::1', '10.0.0.1', '10.0.0.2'])).toEqual(['::1', '10.0.0.1', '10.0.0.2']);
    expect(interleaveFamilies(['10.0.0.1'])).toEqual(['10.0.0.1']);
  });
});

describe('answers as browsers read them', () => {
  it('a Location in raw UTF-8 (/café) is followed to /caf%C3%A9, not to a mangled path', async () => {
    const paths: string[] = [];
    const server = track(
      await startNetServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', (request) => {
          const path = request.toString('latin1').split(' ')[1];
          paths.push(path);
          if (path === '/') socket.end(Buffer.concat([Buffer.from('HTTP/1.1 302 Found\r\nLocation: '), Buffer.from('/café', 'utf8'), Buffer.from('\r\nContent-Length: 0\r\n\r\n')]));
          else if (path === '/caf%C3%A9') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          else socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        });
      }),
    );
    const result = await probeVia()(okTarget(server.url));
    expect(paths).toEqual(['/', '/caf%C3%A9']);
    expect(result).toMatchObject({ outcome: 'ok', statusCode: 200 });
  });

  it('a close-delimited 502 page followed by a TCP reset is still a 502 (bad_gateway), gateway kept', async () => {
    const server = track(
      await startNetServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write('HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Type: text/html\r\n\r\n<html><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>');
          // The reset after the page, once it has gone out (a server behaviour, not a test sleep).
          setTimeout(() => socket.resetAndDestroy(), 50);
        });
      }),
    );
    const result = await probeVia()(okTarget(server.url));
    expect(result).toMatchObject({ outcome: 'bad_gateway', statusCode: 502, gateway: 'nginx' });
  });

  it('a Content-Length body cut by a reset is still invalid_response (truncated), status kept', async () => {
    const server = track(
      await startNetServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort');
          setTimeout(() => socket.resetAndDestroy(), 50);
        });
      }),
    );
    const result = await probeVia()(okTarget(server.url));
    expect(result).toMatchObject({ outcome: 'invalid_response', statusCode: 200 });
  });
});
