/**
 * HTTP/1.1 on the wire, for the probe: the one request it sends, and a small, strict parser of
 * the response it reads (RFC 9112). Pure: bytes in, events out; no socket, no clock.
 *
 * What the parser accepts, and where it parts from Node's llhttp (Node 20):
 * - Status line `HTTP/1.0` or `HTTP/1.1`, a 3-digit code from 100 to 999, an optional reason
 *   (`HTTP/1.1 200` is fine). Other versions are rejected (llhttp also takes `HTTP/2.0`).
 * - Line ends: CRLF, or a bare LF (RFC 9112 §2.2 lets a recipient accept one; llhttp rejects it).
 *   A bare CR anywhere in the head is rejected.
 * - Interim responses (1xx but 101) are skipped; 101 is a final answer without a body.
 * - A header section (status line, headers, end line) over `MAX_HEAD_BYTES` is rejected, as is a
 *   trailer section over it. Header names are tokens, with no whitespace before the colon;
 *   values hold no control character but HTAB.
 * - obs-fold (a line starting with SP or HTAB) continues the previous header, joined with one
 *   SP, as RFC 9112 §5.2 asks of a user agent (llhttp rejects it); before any header it is invalid.
 * - Content-Length: digits only; repeated identical values are one value (RFC 9110 §8.6; llhttp
 *   rejects any repeat), different ones are invalid. Content-Length with Transfer-Encoding is
 *   invalid (as llhttp). Transfer-Encoding ending in `chunked` is decoded (extensions skipped,
 *   trailers read and dropped); any other Transfer-Encoding, or no framing at all, is read to
 *   the close. 101, 204 and 304 have no body.
 * - Headers come out as Node gives them: names lower-cased, duplicates joined with `, ` (`; `
 *   for cookie), `set-cookie` an array, and the first kept for the fields Node keeps the first
 *   of (`server`, `location`, `content-length`, `content-type`, ...). Values are latin1.
 */

/** Response headers as Node gives them (`res.headers`): lower-case names. */
export type IncomingHeaders = Record<string, string | string[]>;

/** How the body of a response is delimited. */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead {
  version: '1.0' | '1.1';
  statusCode: number;
  /** The reason phrase; empty when the status line has none. */
  reason: string;
  headers: IncomingHeaders;
  framing: BodyFraming;
  /** The Content-Length, checked; null without one. */
  contentLength: number | null;
}

/** Malformed response bytes; the message reads `invalid HTTP response: <what was wrong>`. */
export class HttpParseError extends Error {
  override readonly name = 'HttpParseError';
  constructor(reason: string) {
    super(`invalid HTTP response: ${reason}`);
  }
}

export interface ResponseEvents {
  /** The head of the final response (never an interim 1xx one). */
  onHead(head: ResponseHead): void;
  /** A piece of the body, decoded from chunked framing; a view into the pushed chunk. */
  onBody(piece: Buffer): void;
  /** The body ended where its framing says (for read-to-close bodies: at `end()`). */
  onComplete(): void;
}

/**
 * What the peer closing the connection meant, from `end()`:
 * - `complete`: the response was whole (a read-to-close body ends here)
 * - `empty`: not a byte had arrived
 * - `in_head`: closed in the middle of the head (perhaps after an interim 1xx)
 * - `in_body`: closed before the end of a Content-Length or chunked body
 */
export type EndState = 'complete' | 'empty' | 'in_head' | 'in_body';

/** Most bytes of a header section (status line and headers) or of a trailer section. */
export const MAX_HEAD_BYTES = 65_536;
/** Most bytes of one chunk-size line, extensions included. */
const MAX_CHUNK_LINE_BYTES = 4_096;
/** 16^13 = 2^52: any chunk size with at most this many significant hex digits is an exact number. */
const MAX_CHUNK_SIZE_DIGITS = 13;

const CR = 13;
const LF = 10;

const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const FOLD_LINE = /^[\t ]+([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const DIGITS = /^[0-9]+$/;
/** Digits that are surely a safe integer: the usual Content-Length. */
const SHORT_DIGITS = /^[0-9]{1,15}$/;

/** Fields of which Node keeps the first and drops repeats (`matchKnownFields` in `_http_incoming`). */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** A short, quoted excerpt of bad input for an error message. */
const excerpt = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);

/** Adds one header the way Node's `IncomingMessage` does. */
function addHeader(headers: IncomingHeaders, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
  else if (name === 'set-cookie') (existing as string[]).push(value);
  else if (!FIRST_WINS.has(name)) headers[name] = `${existing as string}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/** Why a header line did not match `HEADER_LINE`. */
function headerLineProblem(line: string): string {
  const colon = line.indexOf(':');
  if (colon === -1) return 'header line without a colon';
  if (colon === 0) return 'header line with an empty name';
  const name = line.slice(0, colon);
  if (name.endsWith(' ') || name.endsWith('\t')) return `whitespace before the colon of header ${excerpt(name.trimEnd())}`;
  if (!TOKEN.test(name)) return `invalid character in header name ${excerpt(name)}`;
  if (line.includes('\r')) return `bare CR in header ${excerpt(name)}`;
  return `invalid character in the value of header ${excerpt(name)}`;
}

/** The single Content-Length of a response (null without one), from every value it gave. */
function contentLengthOf(values: string[]): number | null {
  if (values.length === 0) return null;
  if (values.length === 1 && SHORT_DIGITS.test(values[0])) return Number(values[0]);
  let found: string | null = null;
  for (const value of values) {
    for (const item of value.split(',')) {
      const digits = item.replace(/^[\t ]+|[\t ]+$/g, '');
      if (!DIGITS.test(digits)) throw new HttpParseError(`invalid Content-Length ${excerpt(value)}`);
      const normal = digits.replace(/^0+(?=.)/, '');
      if (found !== null && normal !== found) throw new HttpParseError(`conflicting Content-Length values ${excerpt(values.join(', '))}`);
      found = normal;
    }
  }
  if (found === null) return null;
  const length = Number(found);
  if (!Number.isSafeInteger(length)) throw new HttpParseError(`Content-Length too large ${excerpt(found)}`);
  return length;
}

// Parser states.
const STATUS = 0;
const HEADERS = 1;
const BODY_LENGTH = 2;
const BODY_CLOSE = 3;
const CHUNK_SIZE = 4;
const CHUNK_DATA = 5;
const CHUNK_DATA_CR = 6; // after the chunk's data: CR or LF expected
const CHUNK_DATA_LF = 7; // after that CR: LF expected
const TRAILERS = 8;
const DONE = 9;
const FAILED = 10;
const STOPPED = 11;
type State = number;

/**
 * An incremental parser of one HTTP/1.x response, fed with `push()` as bytes arrive and told of
 * the close with `end()`. Bytes may be split anywhere: the events are the same. `push()` throws
 * `HttpParseError` on malformed input, then ignores anything more. Bytes after the end of the
 * response are ignored.
 */
export class ResponseParser {
  private state: State = STATUS;
  private received = false;
  /** The start of a line whose end has not arrived yet, as it came (joined once the line ends). */
  private pending: Buffer[] = [];
  /** Bytes of the current head, trailer section or chunk-size line, against `sectionLimit`. */
  private sectionBytes = 0;
  private sectionLimit = MAX_HEAD_BYTES;
  /** Left to read of the Content-Length body or of the current chunk. */
  private remaining = 0;
  private version: '1.0' | '1.1' = '1.1';
  private code = 0;
  private reason = '';
  private names: string[] = [];
  private values: string[] = [];
  private sawTrailer = false;
  /** The status of the final response once its status line has arrived (not of a 1xx). */
  statusCode: number | null = null;
  /** The head of the final response once it has been read. */
  head: ResponseHead | null = null;

  constructor(private readonly events: ResponseEvents) {}

  /** Feeds the next bytes from the peer. Throws `HttpParseError` on malformed input. */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.received = true;
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.state) {
        case STATUS:
        case HEADERS:
        case CHUNK_SIZE:
        case TRAILERS: {
          const lf = chunk.indexOf(LF, pos);
          const end = lf === -1 ? chunk.length : lf + 1;
          this.sectionBytes += end - pos;
          if (this.sectionBytes > this.sectionLimit) throw this.fail(this.sectionTooLarge());
          if (lf === -1) {
            this.pending.push(chunk.subarray(pos));
            return;
          }
          let bytes = chunk;
          let start = pos;
          let stop = lf;
          if (this.pending.length > 0) {
            this.pending.push(chunk.subarray(pos, lf));
            bytes = Buffer.concat(this.pending);
            this.pending = [];
            start = 0;
            stop = bytes.length;
          }
          if (stop > start && bytes[stop - 1] === CR) stop--;
          pos = end;
          this.line(bytes.toString('latin1', start, stop));
          break;
        }
        case BODY_LENGTH:
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, chunk.length - pos);
          const piece = take === chunk.length ? chunk : chunk.subarray(pos, pos + take);
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            if (this.state === BODY_LENGTH) this.state = DONE;
            else this.state = CHUNK_DATA_CR;
          }
          this.events.onBody(piece);
          if (this.state === DONE) this.events.onComplete();
          break;
        }
        case BODY_CLOSE: {
          const piece = pos === 0 ? chunk : chunk.subarray(pos);
          pos = chunk.length;
          this.events.onBody(piece);
          break;
        }
        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF: {
          const byte = chunk[pos++];
          if (byte === LF) this.startChunkSizeLine();
          else if (byte === CR && this.state === CHUNK_DATA_CR) this.state = CHUNK_DATA_LF;
          else throw this.fail('missing CRLF after chunk data');
          break;
        }
        default: // DONE, FAILED, STOPPED
          return;
      }
    }
  }

  /** The peer closed the connection; a read-to-close body completes here. */
  end(): EndState {
    switch (this.state) {
      case DONE:
        return 'complete';
      case BODY_CLOSE:
        this.state = DONE;
        this.events.onComplete();
        return 'complete';
      case STATUS:
      case HEADERS:
        return this.received ? 'in_head' : 'empty';
      default:
        return this.head ? 'in_body' : 'in_head';
    }
  }

  /** No more events, whatever arrives: for a reader that has what it wanted (or gave up). */
  stop(): void {
    this.state = STOPPED;
  }

  private fail(reason: string): HttpParseError {
    this.state = FAILED;
    return new HttpParseError(reason);
  }

  private sectionTooLarge(): string {
    if (this.state === CHUNK_SIZE) return `chunk size line longer than ${MAX_CHUNK_LINE_BYTES} bytes`;
    if (this.state === TRAILERS) return `trailer section larger than ${MAX_HEAD_BYTES} bytes`;
    return `header section larger than ${MAX_HEAD_BYTES} bytes`;
  }

  private startChunkSizeLine(): void {
    this.state = CHUNK_SIZE;
    this.sectionBytes = 0;
    this.sectionLimit = MAX_CHUNK_LINE_BYTES;
  }

  /** One whole line (its CRLF or LF removed) in a state that reads lines. */
  private line(text: string): void {
    switch (this.state) {
      case STATUS:
        return this.statusLine(text);
      case HEADERS:
        return this.headerLine(text);
      case CHUNK_SIZE:
        return this.chunkSizeLine(text);
      case TRAILERS:
        return this.trailerLine(text);
    }
  }

  private statusLine(text: string): void {
    const match = STATUS_LINE.exec(text);
    const code = match ? Number(match[2]) : 0;
    if (!match || code < 100) throw this.fail(`invalid status line ${excerpt(text)}`);
    this.version = match[1] === '0' ? '1.0' : '1.1';
    this.code = code;
    this.reason = match[3] ?? '';
    if (code >= 200 || code === 101) this.statusCode = code;
    this.names = [];
    this.values = [];
    this.state = HEADERS;
  }

  private headerLine(text: string): void {
    if (text === '') return this.endOfHead();
    if (text.charCodeAt(0) === 0x20 || text.charCodeAt(0) === 0x09) {
      const last = this.values.length - 1;
      if (last < 0) throw this.fail('whitespace before the first header line');
      const fold = FOLD_LINE.exec(text);
      if (!fold) throw this.fail(`invalid character in the value of header ${excerpt(this.names[last])}`);
      if (fold[1] !== '') this.values[last] = this.values[last] === '' ? fold[1] : `${this.values[last]} ${fold[1]}`;
      return;
    }
    const match = HEADER_LINE.exec(text);
    if (!match) throw this.fail(headerLineProblem(text));
    this.names.push(match[1].toLowerCase());
    this.values.push(match[2]);
  }

  private endOfHead(): void {
    const code = this.code;
    if (code < 200 && code !== 101) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      this.state = STATUS;
      this.sectionBytes = 0;
      return;
    }
    const headers: IncomingHeaders = Object.create(null) as IncomingHeaders;
    const lengths: string[] = [];
    let transferEncoding = false;
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i];
      if (name === 'content-length') lengths.push(this.values[i]);
      else if (name === 'transfer-encoding') transferEncoding = true;
      addHeader(headers, name, this.values[i]);
    }
    let contentLength: number | null;
    try {
      contentLength = contentLengthOf(lengths);
    } catch (error) {
      this.state = FAILED;
      throw error;
    }
    if (contentLength !== null && transferEncoding) throw this.fail('both Content-Length and Transfer-Encoding');

    let framing: BodyFraming;
    if (code === 101 || code === 204 || code === 304) framing = 'none';
    else if (transferEncoding) {
      const codings = (headers['transfer-encoding'] as string).split(',');
      framing = codings[codings.length - 1].trim().toLowerCase() === 'chunked' ? 'chunked' : 'close';
    } else if (contentLength !== null) framing = contentLength === 0 ? 'none' : 'length';
    else framing = 'close';

    this.head = { version: this.version, statusCode: code, reason: this.reason, headers, framing, contentLength };
    if (framing === 'none') this.state = DONE;
    else if (framing === 'length') {
      this.state = BODY_LENGTH;
      this.remaining = contentLength as number;
    } else if (framing === 'chunked') this.startChunkSizeLine();
    else this.state = BODY_CLOSE;

    this.events.onHead(this.head);
    if (this.state === DONE) this.events.onComplete();
  }

  private chunkSizeLine(text: string): void {
    const match = CHUNK_SIZE_LINE.exec(text);
    if (!match) throw this.fail(`invalid chunk size line ${excerpt(text)}`);
    const digits = match[1].replace(/^0+(?=.)/, '');
    if (digits.length > MAX_CHUNK_SIZE_DIGITS) throw this.fail(`chunk size too large ${excerpt(match[1])}`);
    const size = parseInt(digits, 16);
    if (size === 0) {
      this.state = TRAILERS;
      this.sectionBytes = 0;
      this.sectionLimit = MAX_HEAD_BYTES;
      this.sawTrailer = false;
      return;
    }
    this.state = CHUNK_DATA;
    this.remaining = size;
  }

  /** Trailer fields are checked like headers, then dropped. */
  private trailerLine(text: string): void {
    if (text === '') {
      this.state = DONE;
      this.events.onComplete();
      return;
    }
    const folded = text.charCodeAt(0) === 0x20 || text.charCodeAt(0) === 0x09;
    if (folded ? !this.sawTrailer || !FOLD_LINE.test(text) : !HEADER_LINE.test(text)) {
      throw this.fail(folded && !this.sawTrailer ? 'whitespace before the first trailer line' : `in trailer: ${headerLineProblem(text)}`);
    }
    this.sawTrailer = true;
  }
}

export interface RequestLine {
  /** The request target: path and query, e.g. `/health?full=1`. */
  target: string;
  /** The Host header: `URL.host` (port included unless it is the scheme's default). */
  host: string;
  userAgent: string;
}

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
const FIELD_VALUE = /^[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

/**
 * The probe's request, `GET target HTTP/1.1` with Host, User-Agent, `Accept: *\/*` and
 * `Connection: close`, as a latin1 string. Throws a TypeError when a part would break the
 * request (a space or control character in the target or host, a control character in the
 * User-Agent), naming the part.
 */
export function formatRequest({ target, host, userAgent }: RequestLine): string {
  if (!VISIBLE_ASCII.test(target) || target[0] !== '/') throw new TypeError(`invalid request target ${excerpt(target)}`);
  if (!VISIBLE_ASCII.test(host)) throw new TypeError(`invalid Host ${excerpt(host)}`);
  if (!FIELD_VALUE.test(userAgent)) throw new TypeError(`invalid User-Agent ${excerpt(userAgent)}`);
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${userAgent}\r\nAccept: */*\r\nConnection: close\r\n\r\n`;
}
