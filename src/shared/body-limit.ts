import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';

export interface BodyLimitOptions {
  maxSize: number;
  /** Answers (or throws) when the body is over `maxSize`. */
  onError: (c: Context) => Response | Promise<Response>;
}

/** Methods whose body @hono/node-server never hands on (hono's own limit passes them through). */
const BODILESS = new Set(['GET', 'HEAD', 'TRACE']);

/**
 * hono's bodyLimit, with its answers, minus its cost on requests that declare their length.
 *
 * hono's middleware asks `c.req.raw.body` first; under @hono/node-server that one getter turns
 * the lightweight request into a full web `Request` (undici, AbortSignal, a ReadableStream over
 * the socket), and the body is then read through web streams: about a quarter of the CPU of a
 * `POST /api/sites`. When the request came through node-server (`c.env.incoming` is set) we
 * decide from the headers alone, as hono does once it has a body: no body for GET, HEAD and
 * TRACE; a Content-Length without Transfer-Encoding is checked against the limit (Node's parser
 * never delivers more bytes than it says), and `c.req.json()` then reads the IncomingMessage
 * directly. A chunked body, or a request from `app.request`, still goes through hono's
 * middleware, which counts the bytes as they arrive.
 */
export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler {
  const streamed = honoBodyLimit(options);
  return async (c, next) => {
    if (!(c.env as Partial<HttpBindings> | undefined)?.incoming) return streamed(c, next);
    if (BODILESS.has(c.req.method)) return next();
    const headers = c.req.raw.headers;
    if (!headers.has('content-length') || headers.has('transfer-encoding')) return streamed(c, next);
    return parseInt(headers.get('content-length') || '0', 10) > options.maxSize ? options.onError(c) : next();
  };
}
