import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatRequest,
  HttpParseError,
  MAX_HEAD_BYTES,
  ResponseParser,
  type EndState,
  type ResponseHead,
} from '../src/probes/http.wire.js';

interface Parsed {
  head: ResponseHead | null;
  body: string;
  /** How many times onComplete fired (0 or 1). */
  completions: number;
  error: string | null;
  /** What end() said, when the peer closed after the last piece (`close`). */
  end: EndState | null;
}

/** Feeds `pieces` one by one (latin1), then closes unless `close` is false. */
function parse(pieces: (string | Buffer)[], { close = true } = {}): Parsed {
  const parsed: Parsed = { head: null, body: '', completions: 0, error: null, end: null };
  const body: Buffer[] = [];
  const parser = new ResponseParser({
    onHead: (head) => {
      parsed.head = head;
    },
    onBody: (piece) => {
      expect(parsed.head, 'body before head').not.toBeNull();
      expect(parsed.completions, 'body after completion').toBe(0);
      body.push(Buffer.from(piece));
    },
    onComplete: () => {
      parsed.completions++;
    },
  });
  try {
    for (const piece of pieces) parser.push(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
    if (close) parsed.end = parser.end();
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error;
    parsed.error = error.message;
  }
  parsed.body = Buffer.concat(body).toString('latin1');
  return parsed;
}

/** `raw` cut at `cuts` (offsets, any order, duplicates allowed). */
function splitAt(raw: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), raw.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(raw.slice(from, point));
    from = point;
  }
  pieces.push(raw.slice(from));
  return pieces;
}

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: nginx\r\n\r\n' +
  '5;name=value;quoted="a;b"\r\nhello\r\n' +
  '1\r\n,\r\n' +
  '0006 \r\n world\r\n' +
  '0;last\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n';

/** Responses, good and bad, that must parse the same however their bytes are split. */
const FIXTURES: Record<string, string> = {
  'content-length': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  chunked: CHUNKED,
  'interim then final': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnah',
  'read to close': 'HTTP/1.0 502 Bad Gateway\r\nServer: nginx/1.22.1\r\n\r\n<center>nginx</center>',
  'bare LF': 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
  'obs-fold': 'HTTP/1.1 200 OK\r\nX-Long: one\r\n\t two\r\nContent-Length: 2\r\n\r\nok',
  'no reason': 'HTTP/1.1 204\r\n\r\n',
  'bytes after the end': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA',
  'truncated chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234',
  'no colon': 'HTTP/1.1 200 OK\r\nBroken header line\r\n\r\n',
  'conflicting lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
  'bad chunk size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  garbage: 'SSH-2.0-OpenSSH_9.2\r\n',
};

describe('http.wire: response parser', () => {
  it.each(Object.entries(FIXTURES))('%s: the same result at every split point and one byte at a time', (_name, raw) => {
    const whole = parse([raw]);
    for (let i = 0; i <= raw.length; i++) expect(parse(splitAt(raw, [i])), `split at ${i}`).toEqual(whole);
    expect(parse([...raw])).toEqual(whole);
  });

  it('the same result however the bytes are split (random cuts)', () => {
    const raws = Object.values(FIXTURES);
    const wholes = raws.map((raw) => parse([raw]));
    fc.assert(
      fc.property(fc.nat(raws.length - 1), fc.array(fc.nat(300), { maxLength: 20 }), (which, cuts) => {
        expect(parse(splitAt(raws[which], cuts))).toEqual(wholes[which]);
      }),
    );
  });

  it('decodes any chunked body, whatever its chunk sizes, extensions and splits', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.nat(400), { maxLength: 10 }),
        (body, sizes, withExtras, cuts) => {
          let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
          const bytes = Buffer.from(body);
          let at = 0;
          for (const size of sizes) {
            if (at >= bytes.length) break;
            const piece = bytes.subarray(at, at + size);
            at += piece.length;
            wire += `${piece.length.toString(16)}${withExtras ? ';ext="x"' : ''}\r\n${piece.toString('latin1')}\r\n`;
          }
          if (at < bytes.length) wire += `${(bytes.length - at).toString(16)}\r\n${bytes.subarray(at).toString('latin1')}\r\n`;
          wire += withExtras ? '0;end\r\nX-Trailer: 1\r\n\r\n' : '0\r\n\r\n';
          const parsed = parse(splitAt(wire, cuts), { close: false });
          expect(parsed).toMatchObject({ error: null, completions: 1 });
          expect(Buffer.from(parsed.body, 'latin1').equals(bytes)).toBe(true);
        },
      ),
    );
  });

  it('chunked with extensions and trailers: the body decoded, the trailers dropped', () => {
    const parsed = parse([CHUNKED], { close: false });
    expect(parsed).toMatchObject({ error: null, completions: 1, body: 'hello, world' });
    expect(parsed.head).toMatchObject({ statusCode: 200, framing: 'chunked', contentLength: null });
    expect(parsed.head?.headers).toEqual({ 'transfer-encoding': 'chunked', server: 'nginx' });
  });

  it('Content-Length: the body is exactly that long; the close after it changes nothing', () => {
    const parsed = parse([FIXTURES['bytes after the end']]);
    expect(parsed).toMatchObject({ error: null, completions: 1, body: 'ok', end: 'complete' });
    expect(parsed.head).toMatchObject({ framing: 'length', contentLength: 2 });
  });

  it('Content-Length together with Transfer-Encoding is invalid', () => {
    const parsed = parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n']);
    expect(parsed.error).toBe('invalid HTTP response: both Content-Length and Transfer-Encoding');
    expect(parsed.head).toBeNull();
  });

  it('Content-Length: conflicting values are invalid, identical repeats are one value', () => {
    expect(parse([FIXTURES['conflicting lengths']]).error).toMatch(/^invalid HTTP response: conflicting Content-Length values/);
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 3, 2\r\n\r\nok']).error).toMatch(/conflicting Content-Length/);
    const same = parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nok']);
    expect(same).toMatchObject({ error: null, body: 'ok', completions: 1 });
    expect(same.head?.headers['content-length']).toBe('2');
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 2 bytes\r\n\r\nok']).error).toMatch(/invalid Content-Length "2 bytes"/);
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n']).error).toMatch(/Content-Length too large/);
  });

  it('a header section over the limit is invalid; one exactly at it is fine', () => {
    const head = (bytes: number) => {
      const start = 'HTTP/1.1 200 OK\r\nX-Big: ';
      const end = '\r\nContent-Length: 0\r\n\r\n';
      return start + 'a'.repeat(bytes - start.length - end.length) + end;
    };
    expect(head(MAX_HEAD_BYTES)).toHaveLength(MAX_HEAD_BYTES);
    expect(parse([head(MAX_HEAD_BYTES)])).toMatchObject({ error: null, completions: 1 });
    expect(parse([head(MAX_HEAD_BYTES + 1)]).error).toBe(`invalid HTTP response: header section larger than ${MAX_HEAD_BYTES} bytes`);
    // Without an end of line in sight, the parser gives up as soon as the limit is passed.
    const endless = parse(['HTTP/1.1 200 OK\r\nX-Big: ', 'a'.repeat(MAX_HEAD_BYTES)], { close: false });
    expect(endless.error).toMatch(/header section larger than/);
    expect(parse([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`]).error).toMatch(
      /trailer section larger than/,
    );
    expect(parse([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(5_000)}\r\n`]).error).toMatch(/chunk size line longer/);
  });

  it('interim 1xx answers are skipped, their headers dropped; 101 is final', () => {
    const parsed = parse([FIXTURES['interim then final']]);
    expect(parsed).toMatchObject({ error: null, body: 'nah', completions: 1 });
    expect(parsed.head).toMatchObject({ statusCode: 404, reason: 'Not Found' });
    expect(parsed.head?.headers).toEqual({ 'content-length': '3' });

    const upgraded = parse(['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'], { close: false });
    expect(upgraded).toMatchObject({ error: null, completions: 1, body: '' });
    expect(upgraded.head).toMatchObject({ statusCode: 101, framing: 'none' });

    const onlyInterim = parse(['HTTP/1.1 100 Continue\r\n\r\n']);
    expect(onlyInterim).toMatchObject({ head: null, end: 'in_head' });
  });

  it('a status line without a reason phrase', () => {
    for (const line of ['HTTP/1.1 200', 'HTTP/1.1 200 ']) {
      const parsed = parse([`${line}\r\nContent-Length: 2\r\n\r\nok`]);
      expect(parsed).toMatchObject({ error: null, body: 'ok' });
      expect(parsed.head).toMatchObject({ statusCode: 200, reason: '' });
    }
  });

  it('HTTP/1.0 without framing: the body runs to the close', () => {
    const parsed = parse([FIXTURES['read to close']], { close: false });
    expect(parsed).toMatchObject({ error: null, completions: 0, body: '<center>nginx</center>' });
    expect(parsed.head).toMatchObject({ version: '1.0', statusCode: 502, framing: 'close' });
    expect(parse([FIXTURES['read to close']])).toMatchObject({ completions: 1, end: 'complete' });
    // Any Transfer-Encoding that does not end in chunked also runs to the close.
    expect(parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzip']).head?.framing).toBe('close');
  });

  it('204, 304 and a zero Content-Length have no body', () => {
    for (const raw of ['HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']) {
      const parsed = parse([raw], { close: false });
      expect(parsed, raw).toMatchObject({ error: null, completions: 1, body: '' });
      expect(parsed.head?.framing).toBe('none');
    }
  });

  // Decision: a bare LF ends a line (RFC 9112 §2.2 allows it; browsers and nginx accept it; Node's
  // llhttp rejects it). A bare CR is never a line end: it is invalid.
  it('bare LF line ends are accepted, in the head and in chunked framing; a bare CR is not', () => {
    const parsed = parse([FIXTURES['bare LF']]);
    expect(parsed).toMatchObject({ error: null, body: 'ok', completions: 1 });
    const chunked = parse(['HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n'], { close: false });
    expect(chunked).toMatchObject({ error: null, body: 'ok', completions: 1 });
    expect(parse(['HTTP/1.1 200 OK\rServer: x\r\n\r\n']).error).toMatch(/invalid status line/);
    expect(parse(['HTTP/1.1 200 OK\r\nServer: x\ry\r\n\r\n']).error).toBe('invalid HTTP response: bare CR in header "Server"');
  });

  it('obs-fold continues the previous header with one space; before any header it is invalid', () => {
    const parsed = parse([FIXTURES['obs-fold']]);
    expect(parsed.head?.headers['x-long']).toBe('one two');
    expect(parse(['HTTP/1.1 200 OK\r\n X-A: 1\r\n\r\n']).error).toBe('invalid HTTP response: whitespace before the first header line');
  });

  it('headers come out as Node gives them', () => {
    const parsed = parse([
      'HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nSERVER: envoy\r\nVia: 1.1 a\r\nvia: 1.1 b\r\nSet-Cookie: a=1\r\n' +
        'Set-Cookie: b=2\r\nCookie: x\r\nCookie: y\r\nLocation: /one\r\nLocation: /two\r\nX-Empty:\r\nX-Pad: \t padded \t\r\n' +
        'X-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n',
    ]);
    expect(parsed.error).toBeNull();
    expect(parsed.head?.headers).toEqual({
      server: 'nginx',
      via: '1.1 a, 1.1 b',
      'set-cookie': ['a=1', 'b=2'],
      cookie: 'x; y',
      location: '/one',
      'x-empty': '',
      'x-pad': 'padded',
      'x-latin': 'café',
      'content-length': '0',
    });
    expect(Object.getPrototypeOf(parsed.head?.headers)).toBeNull();
  });

  it.each([
    ['garbage', 'SSH-2.0-OpenSSH_9.2\r\n', 'invalid status line "SSH-2.0-OpenSSH_9.2"'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'invalid status line "HTTP/2.0 200 OK"'],
    ['lower-case http', 'http/1.1 200 OK\r\n\r\n', 'invalid status line'],
    ['two-digit status', 'HTTP/1.1 99 Odd\r\n\r\n', 'invalid status line'],
    ['status below 100', 'HTTP/1.1 099 Odd\r\n\r\n', 'invalid status line'],
    ['four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'invalid status line'],
    ['empty line first', '\r\nHTTP/1.1 200 OK\r\n\r\n', 'invalid status line ""'],
    ['no colon', FIXTURES['no colon'], 'header line without a colon'],
    ['empty name', 'HTTP/1.1 200 OK\r\n: x\r\n\r\n', 'header line with an empty name'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nServer : x\r\n\r\n', 'whitespace before the colon of header "Server"'],
    ['bad name', 'HTTP/1.1 200 OK\r\nX(y): 1\r\n\r\n', 'invalid character in header name "X(y)"'],
    ['control character', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n', 'invalid character in the value of header "X-A"'],
    ['NUL', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n', 'invalid character in the value of header "X-A"'],
    ['bad chunk size', FIXTURES['bad chunk size'], 'invalid chunk size line "zz"'],
    ['huge chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n', 'chunk size too large'],
    ['no CRLF after chunk data', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n', 'missing CRLF after chunk data'],
    ['CR CR LF after chunk data', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\r\n0\r\n\r\n', 'missing CRLF after chunk data'],
    ['bad trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbroken\r\n\r\n', 'in trailer: header line without a colon'],
  ])('%s: invalid, saying what was wrong', (_name, raw, reason) => {
    const parsed = parse([raw]);
    expect(parsed.error).toContain(`invalid HTTP response: ${reason}`);
  });

  it('after an error, more bytes are ignored', () => {
    const parser = new ResponseParser({ onHead: () => expect.fail('no head'), onBody: () => {}, onComplete: () => {} });
    expect(() => parser.push(Buffer.from('HTTP/1.1 200 OK\r\nbroken\r\n'))).toThrow(HttpParseError);
    parser.push(Buffer.from('\r\nHTTP/1.1 200 OK\r\n\r\n'));
  });

  it('tells how the close left the response: empty, in the head, in the body, complete', () => {
    expect(parse([]).end).toBe('empty');
    expect(parse(['HTTP/1.1 200 OK\r\nServ']).end).toBe('in_head');
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'])).toMatchObject({ end: 'in_body', body: '0123456789', completions: 0 });
    expect(parse([FIXTURES['truncated chunked']])).toMatchObject({ end: 'in_body', body: '01234', completions: 0 });
    expect(parse([FIXTURES['content-length']])).toMatchObject({ end: 'complete', completions: 1 });
  });

  it('statusCode is known from the status line of the final answer, before its headers end', () => {
    const parser = new ResponseParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
    parser.push(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nServer: x'));
    expect(parser.statusCode).toBe(503);
    expect(parser.head).toBeNull();
  });

  it('stop(): no event after it, even within the same chunk', () => {
    const seen: string[] = [];
    const parser: ResponseParser = new ResponseParser({
      onHead: () => {
        seen.push('head');
        parser.stop();
      },
      onBody: () => seen.push('body'),
      onComplete: () => seen.push('complete'),
    });
    parser.push(Buffer.from('HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nok'));
    parser.push(Buffer.from('more'));
    expect(seen).toEqual(['head']);
  });
});

describe('http.wire: request', () => {
  it('GET with Host, User-Agent, Accept and Connection: close', () => {
    expect(formatRequest({ target: '/health?full=1', host: 'app.test:8080', userAgent: 'Gatewatch/0.1 (uptime monitor)' })).toBe(
      'GET /health?full=1 HTTP/1.1\r\nHost: app.test:8080\r\nUser-Agent: Gatewatch/0.1 (uptime monitor)\r\nAccept: */*\r\nConnection: close\r\n\r\n',
    );
    expect(formatRequest({ target: '/', host: '[::1]:81', userAgent: 'x' })).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: \[::1\]:81\r\n/);
  });

  it('refuses what would break the request, naming the part', () => {
    expect(() => formatRequest({ target: '/a b', host: 'h', userAgent: 'x' })).toThrow(/request target/);
    expect(() => formatRequest({ target: 'x', host: 'h', userAgent: 'x' })).toThrow(/request target/);
    expect(() => formatRequest({ target: '/', host: 'h\r\nX: 1', userAgent: 'x' })).toThrow(/Host/);
    expect(() => formatRequest({ target: '/', host: 'h', userAgent: 'x\r\nX-Injected: 1' })).toThrow(/User-Agent/);
    expect(() => formatRequest({ target: '/', host: 'h', userAgent: '' })).toThrow(/User-Agent/);
  });
});
