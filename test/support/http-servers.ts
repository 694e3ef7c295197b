/**
 * Real servers on loopback (port 0) that misbehave in the ways upstreams and gateways do.
 * Every starter resolves to a `TestServer`; call `close()` in afterEach/afterAll (it destroys
 * open connections, so it never hangs). Use `closeAll()` to close a list of them at once.
 *
 *   const s = await startHealthyServer();           // 200 "ok"
 *   await probe({ url: s.url, ... });
 *   await s.close();
 *
 * `host` options take any loopback address: '127.0.0.1' (default), '127.0.0.5', '::1'.
 */
import { afterEach } from 'vitest';
import http from 'node:http';
import net from 'node:net';

export interface TestServer {
  /** `http://HOST:PORT/` (IPv6 hosts in brackets). */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface ServerOptions {
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
}

const urlHost = (host: string) => (net.isIP(host) === 6 ? `[${host}]` : host);

/** Listens on `port` (default 0) of `host`, keeps track of open sockets and destroys them on close. */
export async function listen(server: net.Server, host = '127.0.0.1', scheme = 'http', port = 0): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  // TLS servers hand out TLSSockets on 'secureConnection'; the raw socket is seen on 'connection'.
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${urlHost(host)}:${bound}/`,
    host,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        (server as http.Server).closeAllConnections?.();
      });
      return closing;
    },
  };
}

export async function closeAll(servers: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

/**
 * For a test file: returns `track(thing)`, which registers anything with close() to be closed
 * after each test and returns it. Call once at the top level of the file.
 */
export function trackForCleanup(): <T extends { close(): Promise<void> }>(thing: T) => T {
  const cleanup: { close(): Promise<void> }[] = [];
  afterEach(() => closeAll(cleanup));
  return (thing) => {
    cleanup.push(thing);
    return thing;
  };
}

/** A probe target expecting any 2xx. */
export const okTarget = (url: string, timeoutMs = 5_000) => ({ url, timeoutMs, expectedStatus: [200, 299] as [number, number] });

/** An HTTP server with your own handler. */
export function startHttpServer(handler: http.RequestListener, options: ServerOptions = {}): Promise<TestServer> {
  return listen(http.createServer(handler), options.host, 'http', options.port);
}

/** 200 with body "ok" on every path. */
export function startHealthyServer(options: ServerOptions = {}): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
  }, options);
}

/** nginx 1.22's own 502 page, byte for byte. */
export const NGINX_502_BODY =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n';

/** 502 as nginx sends it when its upstream fails: `Server: nginx/1.22.1` and nginx's page. */
export function startNginx502Server(options: ServerOptions = {}): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeHead(502, { Server: 'nginx/1.22.1', 'Content-Type': 'text/html' });
    res.end(NGINX_502_BODY);
  }, options);
}

/** Answers with `status`, `headers` and `body`, e.g. to mimic another gateway's error page. */
export function startStaticServer(
  status: number,
  body = '',
  headers: http.OutgoingHttpHeaders = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  }, options);
}

/** Sends 200 "slow" only after `delayMs` (a stalled upstream). */
export function startSlowServer(delayMs: number, options: ServerOptions = {}): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    const timer = setTimeout(() => res.end('slow'), delayMs);
    res.on('close', () => clearTimeout(timer));
  }, options);
}

/** A port on `host` that nobody listens on (bound, then closed): connects are refused. */
export async function getRefusingPort(options: ServerOptions = {}): Promise<TestServer> {
  const probe = await listen(net.createServer(), options.host);
  await probe.close();
  return { ...probe, close: async () => {} };
}

/** A raw TCP server; `onSocket` does what it wants with each connection. */
export function startNetServer(onSocket: (socket: net.Socket) => void, options: ServerOptions = {}): Promise<TestServer> {
  return listen(net.createServer(onSocket), options.host, 'http', options.port);
}

/** Accepts, reads the request, then resets the connection (TCP RST). */
export function startResettingServer(options: ServerOptions = {}): Promise<TestServer> {
  return startNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.resetAndDestroy());
  }, options);
}

/** Reads the request and writes `raw` bytes back verbatim, then closes. */
export function startRawServer(raw: string | Buffer, options: ServerOptions = {}): Promise<TestServer> {
  return startNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(raw));
  }, options);
}

/** Broken HTTP: a status line followed by a header line without a colon. */
export function startBrokenHttpServer(options: ServerOptions = {}): Promise<TestServer> {
  return startRawServer('HTTP/1.1 200 OK\r\nBroken header line\r\n\r\n', options);
}

/** Reads the request and closes the connection without a byte of reply (curl's "empty reply"). */
export function startEmptyReplyServer(options: ServerOptions = {}): Promise<TestServer> {
  return startNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end());
  }, options);
}

/** Promises `Content-Length: 100`, sends 10 bytes and closes. */
export function startTruncatedServer(options: ServerOptions = {}): Promise<TestServer> {
  return startRawServer('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789', options);
}

/**
 * Answers `status` with a chunked body (Node's own `Transfer-Encoding: chunked`), one chunk per
 * piece, each written on its own turn of the event loop so that they tend to travel apart.
 */
export function startChunkedServer(
  pieces: string[],
  status = 200,
  headers: http.OutgoingHttpHeaders = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeHead(status, headers);
    let next = 0;
    const write = () => {
      if (res.destroyed) return;
      if (next === pieces.length) {
        res.end();
        return;
      }
      res.write(pieces[next++]);
      setImmediate(write);
    };
    write();
  }, options);
}

/**
 * Sends the head of a chunked answer (`status`, with `headers`) and the first `sent` bytes of a
 * `promised`-byte chunk, then closes: a body cut short in the middle of a chunk.
 */
export function startTruncatedChunkedServer(
  status: number,
  headers: Record<string, string>,
  promised: number,
  sent: string,
  options: ServerOptions = {},
): Promise<TestServer> {
  const head = Object.entries({ ...headers, 'Transfer-Encoding': 'chunked' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return startRawServer(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${head}\r\n${promised.toString(16)}\r\n${sent}`, options);
}

/** Sends 100 Continue and 103 Early Hints, then answers 200 "after interim". */
export function startInterimServer(options: ServerOptions = {}): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeContinue();
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.end('after interim');
  }, options);
}

/** Sends the head of a 200 with `Content-Length: 100` and 10 bytes of its body, then stalls. */
export function startStallingBodyServer(options: ServerOptions = {}): Promise<TestServer> {
  return startNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
  }, options);
}

export interface LargeBodyServer extends TestServer {
  /** Responses whose body was sent to the end. */
  completed(): number;
  /** Responses closed by the client before the end of the body. */
  abandoned(): number;
}

/** 200 with a body of `bytes` bytes, written with back-pressure. */
export async function startLargeBodyServer(bytes: number, options: ServerOptions = {}): Promise<LargeBodyServer> {
  let completed = 0;
  let abandoned = 0;
  const chunk = Buffer.alloc(16_384, 'x');
  const server = await startHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': bytes });
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const piece = chunk.subarray(0, Math.min(chunk.length, left));
        left -= piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('finish', () => completed++);
    res.on('close', () => {
      if (!res.writableFinished) abandoned++;
    });
    pump();
  }, options);
  return { ...server, completed: () => completed, abandoned: () => abandoned };
}

/**
 * Redirects `/hop/N` to `/hop/N-1` (302) until `/hop/0`, which answers 200 "arrived".
 * `url` starts at `/hop/<hops>`, so a probe of it follows exactly `hops` redirects.
 */
export async function startRedirectChain(hops: number, options: ServerOptions = {}): Promise<TestServer> {
  const server = await startHttpServer((req, res) => {
    const n = Number(/^\/hop\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
    if (n > 0) {
      res.writeHead(302, { Location: `/hop/${n - 1}` });
      res.end();
      return;
    }
    res.end('arrived');
  }, options);
  return { ...server, url: `${server.url}hop/${hops}` };
}

/** Answers every request with `status` (default 302) and `Location: location`. */
export function startRedirectServer(location: string, status = 302, options: ServerOptions = {}): Promise<TestServer> {
  return startHttpServer((_req, res) => {
    res.writeHead(status, { Location: location });
    res.end();
  }, options);
}

export interface CountingServer extends TestServer {
  /** TCP connections accepted so far. */
  connections(): number;
}

/** An HTTP 200 server that counts the TCP connections it accepts (to prove none were made). */
export async function startCountingServer(options: ServerOptions = {}): Promise<CountingServer> {
  let connections = 0;
  const server = http.createServer((_req, res) => res.end('counted'));
  server.on('connection', () => connections++);
  const started = await listen(server, options.host, 'http', options.port);
  return { ...started, connections: () => connections };
}

/**
 * Healthy servers on several loopback addresses sharing one port (as a name with several A
 * records needs). Retries with another port when one is taken on some address.
 */
export async function startHealthyServersOnOnePort(hosts: string[]): Promise<TestServer[]> {
  for (let attempt = 0; ; attempt++) {
    const first = await startHealthyServer({ host: hosts[0] });
    const started = [first];
    try {
      for (const host of hosts.slice(1)) started.push(await startHealthyServer({ host, port: first.port }));
      return started;
    } catch (error) {
      await closeAll(started);
      if (attempt >= 10) throw error;
    }
  }
}
