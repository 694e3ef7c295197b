/**
 * The body of an API request over a real socket, where @hono/node-server hands the app its
 * IncomingMessage: the 1 MB limit (declared by Content-Length, or counted on a chunked body), and
 * what a body that is not JSON, not declared JSON or empty gets. The same answers as in-process.
 */
import http from 'node:http';
import net from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';

const MB = 1024 * 1024;

let t: TestService;
let server: ServerType;
let port: number;
let seeded: { id: number };

beforeEach(async () => {
  t = createTestService();
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: t.svc.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  port = (server.address() as net.AddressInfo).port;
  const created = await send('POST', '/api/sites', { body: JSON.stringify({ name: 'seeded', url: 'http://127.0.0.1:9/', paused: true }) });
  expect(created.status).toBe(201);
  seeded = created.body;
});
afterEach(async () => {
  (server as unknown as { closeAllConnections(): void }).closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * One request with node:http: the body with its Content-Length, or in `pieces` without one
 * (chunked). The content type is JSON unless told otherwise (null: none).
 */
function send(
  method: string,
  path: string,
  { body, pieces, contentType = 'application/json' }: { body?: string; pieces?: string[]; contentType?: string | null },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${TEST_TOKEN}` };
    if (contentType) headers['content-type'] = contentType;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    for (const piece of pieces ?? []) req.write(piece);
    req.end(body);
  });
}

/** Sends the head of a request and no body; resolves with the status line of the answer. */
function headOnly(head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer before the body was sent; got: ${data.slice(0, 200)}`));
    }, 5000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
  });
}

const sitesCount = () => (t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM sites').get() as { n: number }).n;
/** A JSON body of exactly `bytes` bytes, which the schema refuses for its extra key (a 400, not a 413). */
const paddedBody = (bytes: number) => {
  const head = '{"name":"big","url":"http://127.0.0.1:9/","pad":"';
  return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
};

describe('the body limit over a real socket', () => {
  it('takes a body of exactly 1 MB and refuses one byte more, on POST and PATCH', async () => {
    for (const [method, path] of [
      ['POST', '/api/sites'],
      ['PATCH', `/api/sites/${seeded.id}`],
    ]) {
      const atLimit = await send(method, path, { body: paddedBody(MB) });
      expect(atLimit.status, `${method} 1 MB`).toBe(400);
      expect(atLimit.body.error.code).toBe('validation.failed');
      const over = await send(method, path, { body: paddedBody(MB + 1) });
      expect(over.status, `${method} 1 MB + 1`).toBe(413);
      expect(over.body.error).toEqual({ code: 'request.too_large', message: `the body must be at most ${MB} bytes` });
      expect(over.headers['x-content-type-options']).toBe('nosniff');
      expect(over.headers['cache-control']).toBe('no-store');
    }
    expect(sitesCount()).toBe(1);
  });

  it('answers 413 to a Content-Length over 1 MB before the body is sent, whatever the route', async () => {
    for (const line of ['POST /api/sites', `PATCH /api/sites/${seeded.id}`, `DELETE /api/sites/${seeded.id}`, `POST /api/sites/${seeded.id}/check`]) {
      const answer = await headOnly(`${line} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${2 * MB}\r\n\r\n`);
      expect(answer, line).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toContain('request.too_large');
    }
    expect(sitesCount()).toBe(1);
  });

  it('counts a chunked body: 413 past 1 MB (nothing created), 201 for a small one', async () => {
    const big = await send('POST', '/api/sites', {
      pieces: ['{"name":"big","url":"http://127.0.0.1:9/","x":"', ...Array.from({ length: 20 }, () => 'y'.repeat(64 * 1024)), '"}'],
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('request.too_large');
    const small = await send('POST', '/api/sites', { pieces: ['{"name":"small",', '"url":"http://127.0.0.1:9/","paused":true}'] });
    expect(small.status).toBe(201);
    expect(small.body.name).toBe('small');
    const patched = await send('PATCH', `/api/sites/${seeded.id}`, { pieces: ['{"name":', '"renamed"}'] });
    expect(patched.status).toBe(200);
    expect(patched.body.name).toBe('renamed');
    expect(sitesCount()).toBe(2);
  });

  it('answers 400 validation.malformed_json to a body that is not JSON, or empty, declared as JSON', async () => {
    for (const body of ['{"name":', 'not json', '', '{"name":"a"}garbage', '\u00ff\u00fe']) {
      for (const [method, path] of [
        ['POST', '/api/sites'],
        ['PATCH', `/api/sites/${seeded.id}`],
      ]) {
        const res = await send(method, path, { body });
        expect(res.status, `${method} ${JSON.stringify(body)}`).toBe(400);
        expect(res.body.error).toEqual({ code: 'validation.malformed_json', message: 'the body is not valid JSON' });
      }
    }
    const chunked = await send('POST', '/api/sites', { pieces: ['{"name":', '"a",'] });
    expect(chunked.status).toBe(400);
    expect(chunked.body.error.code).toBe('validation.malformed_json');
  });

  it('answers 415 naming the header to a body of another content type (or none)', async () => {
    const valid = JSON.stringify({ name: 'typed', url: 'http://127.0.0.1:9/' });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', null]) {
      const res = await send('POST', '/api/sites', { body: valid, contentType });
      expect(res.status, String(contentType)).toBe(415);
      expect(res.body.error.code).toBe('request.unsupported_media_type');
      expect(res.body.error.message).toContain('Content-Type: application/json');
      expect(res.body.error.message).toContain(contentType ? `got Content-Type: ${contentType}` : 'got no Content-Type header');
      const patched = await send('PATCH', `/api/sites/${seeded.id}`, { body: valid, contentType });
      expect(patched.status, String(contentType)).toBe(415);
      expect(patched.body.error.code).toBe('request.unsupported_media_type');
    }
    expect(sitesCount()).toBe(1);
    for (const contentType of ['application/json; charset=utf-8', 'APPLICATION/JSON', 'application/merge-patch+json']) {
      const res = await send('POST', '/api/sites', { body: valid, contentType });
      expect(res.status, contentType).toBe(201);
    }
    expect(sitesCount()).toBe(4);
  });

  it('names the body itself, not a field called json, when the whole body is wrong', async () => {
    for (const raw of ['[]', '"shop"', '42', 'null']) {
      const res = await send('POST', '/api/sites', { body: raw });
      expect(res.status, raw).toBe(400);
      expect(res.body.error.code).toBe('validation.failed');
      expect(res.body.error.message, raw).toMatch(/^invalid body: body: /);
      expect(res.body.error.details.map((d: { field: string }) => d.field), raw).toEqual(['body']);
    }
  });

  it('creates from a body sent with its Content-Length, and reads it back as sent', async () => {
    const body = { name: 'plain', url: 'http://127.0.0.1:9/', upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9/health' }], paused: true };
    const created = await send('POST', '/api/sites', { body: JSON.stringify(body) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...body, upstreams: [{ name: 'app-1', url: 'http://127.0.0.1:9/health' }] });
    expect(created.headers['content-type']).toMatch(/^application\/json/);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(created.headers['x-request-id']).toMatch(/^[\w-]+$/);
    const read = await send('GET', `/api/sites/${created.body.id}`, {});
    // Nobody would be emailed (no alertEmails, no ALERT_TO): the creation answer alone says so.
    const { warnings, ...site } = created.body;
    expect(warnings.map((w: { code: string }) => w.code)).toEqual(['alerts.no_recipients']);
    expect(read.body).toEqual(site);
  });
});
