/**
 * How a page leaves the server: its own Content-Security-Policy (the served stylesheet and script, no
 * other host), an ETag over the HTML with a 304 for a matching If-None-Match, Cache-Control for
 * its audience, and the body compressed (brotli or gzip, whichever the client takes). The
 * compressed bytes are kept beside the ETag, so a page polled while nothing changed is hashed, not
 * compressed again.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from 'node:zlib';
import type { Context } from 'hono';

/** The policy of every page: nothing from another host, scripts only served ones, forms post only here. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export type PageCache =
  /** Anyone may keep it, and must ask again (a cheap 304) before showing it. */
  | 'public'
  /** Only the browser of this person may keep it, and must ask again. */
  | 'private'
  /** Not kept at all (it holds a one-time token, e.g. the sign-in form). */
  | 'none';

const CACHE_CONTROL: Record<PageCache, string> = {
  public: 'public, max-age=0, must-revalidate',
  private: 'private, no-cache',
  none: 'no-store',
};

const KEPT = 16;
const compressed = new Map<string, Buffer>();

const keep = (key: string, body: Buffer) => {
  if (compressed.size >= KEPT) compressed.delete(compressed.keys().next().value!);
  compressed.set(key, body);
};

const encodingFor = (accept: string | undefined): 'br' | 'gzip' | null => {
  if (!accept) return null;
  const offered = accept.toLowerCase();
  if (/\bbr\b(?!;q=0(\.0*)?\b)/.test(offered)) return 'br';
  if (/\bgzip\b(?!;q=0(\.0*)?\b)/.test(offered)) return 'gzip';
  return null;
};

const compress = (encoding: 'br' | 'gzip', body: Buffer) =>
  encoding === 'br'
    ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } })
    : gzipSync(body, { level: 6 });

/**
 * Whether the client's If-None-Match covers `tag`: one of its tags (weak or strong, compared
 * weakly as RFC 9110 says for it), or `*` (any current representation: every page here has one).
 */
export const clientHas = (c: Context, tag: string) => {
  const match = c.req.header('if-none-match');
  return match !== undefined && match.split(',').some((t) => {
    const one = t.trim();
    return one === '*' || one.replace(/^W\//, '') === tag;
  });
};

const tagOf = (body: Buffer) => `"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`;

/** Sends `content` (HTML, CSS) with the headers above; a 304 when the client has it already. */
export function sendPage(
  c: Context,
  html: string,
  opts: { cache: PageCache; status?: 200 | 400 | 401 | 403 | 404 | 429; type?: string } = { cache: 'private' },
): Response {
  const body = Buffer.from(html, 'utf8');
  const tag = tagOf(body);
  const headers: Record<string, string> = {
    'Content-Type': opts.type ?? 'text/html; charset=utf-8',
    'Content-Security-Policy': PAGE_CSP,
    'Cache-Control': CACHE_CONTROL[opts.cache],
    Vary: 'Accept-Encoding, Cookie',
  };
  const status = opts.status ?? 200;
  if (status === 200 && opts.cache !== 'none') {
    headers.ETag = tag;
    if (clientHas(c, tag)) return c.body(null, 304, headers);
  }
  const encoding = body.length > 1024 ? encodingFor(c.req.header('accept-encoding')) : null;
  if (!encoding) return c.body(html, status, headers);
  const key = `${encoding}${tag}`;
  let out = compressed.get(key);
  if (!out) {
    out = compress(encoding, body);
    keep(key, out);
  }
  headers['Content-Encoding'] = encoding;
  return c.body(out as Uint8Array<ArrayBuffer>, status, headers);
}

/** A page rendered and tagged once, compressed at most once per encoding (when first asked for). */
export interface PreparedPage {
  tag: string;
  body: Buffer;
  encoded: Partial<Record<'br' | 'gzip', Promise<Buffer>>>;
}

/** A piece of a page, encoded and hashed once (a site's card, kept until the site changes). */
export interface PagePart {
  bytes: Buffer;
  hash: string;
}

export const pagePart = (html: string): PagePart => {
  const bytes = Buffer.from(html, 'utf8');
  return { bytes, hash: createHash('sha1').update(bytes).digest('base64url') };
};

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
/** Above this many bytes a page is compressed on libuv's thread pool, not on the event loop. */
const ASYNC_BYTES = 64 * 1024;

/**
 * A page made of parts, each encoded and hashed when it was made: the bytes are copied once, and
 * the ETag is a hash of the parts' hashes, so a page of 1,000 kept cards is not encoded or hashed
 * again as a whole.
 */
export function preparePageOfParts(parts: PagePart[]): PreparedPage {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part.hash);
  return { tag: `"${hash.digest('base64url').slice(0, 22)}"`, body: Buffer.concat(parts.map((p) => p.bytes)), encoded: {} };
}

/**
 * The page's bytes in `encoding`, compressed once and kept beside its tag. A large page is
 * compressed by zlib's async calls (the thread pool), so that it does not hold up the scheduler.
 */
function encoded(page: PreparedPage, encoding: 'br' | 'gzip'): Promise<Buffer> {
  const body = page.body;
  page.encoded[encoding] ??=
    body.length < ASYNC_BYTES
      ? Promise.resolve(compress(encoding, body))
      : encoding === 'br'
        ? brotliAsync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } })
        : gzipAsync(body, { level: 6 });
  return page.encoded[encoding];
}

/** Both encodings of a page, ready before the page is served (a large page built in the background). */
export const encodeAll = (page: PreparedPage) => Promise.all([encoded(page, 'br'), encoded(page, 'gzip')]);

/** Sends a prepared page: a 304 when the client has it, else the encoding it takes. */
export async function sendPrepared(c: Context, page: PreparedPage, cache: PageCache): Promise<Response> {
  const headers: Record<string, string> = {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': PAGE_CSP,
    'Cache-Control': CACHE_CONTROL[cache],
    Vary: 'Accept-Encoding, Cookie',
    ETag: page.tag,
  };
  if (clientHas(c, page.tag)) return c.body(null, 304, headers);
  const encoding = encodingFor(c.req.header('accept-encoding'));
  if (!encoding) return c.body(page.body as Uint8Array<ArrayBuffer>, 200, headers);
  headers['Content-Encoding'] = encoding;
  return c.body((await encoded(page, encoding)) as Uint8Array<ArrayBuffer>, 200, headers);
}

/**
 * A handler for a served asset (the stylesheet, the live script): its URL carries a hash of its
 * content, so it is kept for a year; it also carries an ETag, and a conditional request (its tag,
 * or `*`) gets a 304. Both encodings are made once, when the handler is.
 */
export function assetHandler(content: string, type: string) {
  const body = Buffer.from(content, 'utf8');
  const tag = tagOf(body);
  const encodings = { br: compress('br', body), gzip: compress('gzip', body) };
  return (c: Context): Response => {
    const headers: Record<string, string> = {
      'Content-Type': type,
      'Cache-Control': 'public, max-age=31536000, immutable',
      'Content-Security-Policy': PAGE_CSP,
      Vary: 'Accept-Encoding',
      ETag: tag,
    };
    if (clientHas(c, tag)) return c.body(null, 304, headers);
    const encoding = encodingFor(c.req.header('accept-encoding'));
    if (!encoding) return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
    headers['Content-Encoding'] = encoding;
    return c.body(encodings[encoding] as Uint8Array<ArrayBuffer>, 200, headers);
  };
}
