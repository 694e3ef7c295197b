import { constants, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/** gzip member header: deflate, no flags, no time, unknown OS (RFC 1952). */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
/** An empty final block with fixed codes: ends a deflate stream whose pieces ended with sync flushes. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/**
 * Level 1: the exposition compresses ~15x even so, at about 4 times the speed of the default.
 * memLevel 6 (a 16 KiB hash table, not 128 KiB): each piece gets a zlib stream of its own, and with
 * the default memLevel setting up and tearing down that state cost ~5 times the compression
 * itself (480 pieces of ~25 KB, 12 MB: 110-178 ms against 18.6 ms with MALLOC_MMAP_THRESHOLD_ set
 * as npm start sets it, 43 against 18.5 ms without), for the same output on exposition text.
 */
const PIECE_OPTIONS = { level: 1, memLevel: 6, finishFlush: constants.Z_SYNC_FLUSH };
const INFLATE_OPTIONS = { finishFlush: constants.Z_SYNC_FLUSH };

/**
 * A piece of text kept compressed only: a piece of a gzip member's deflate stream (compressed on
 * its own, ended with a sync flush, so that pieces compressed at different times can follow each
 * other), with the CRC-32 and length of its text for the member's trailer. At 10,000 sites the
 * metrics keep 0.8 MB so, not 12 MB of text.
 */
export interface Kept {
  deflated: Buffer;
  crc: number;
  length: number;
  /** x^(8 length) modulo the CRC polynomial: what puts a CRC before this piece's (crc32Combine's costly part, done once). */
  shift: number;
}

/** What a scrape is made of: text as it is (headers, counters), or a kept piece. */
export type Piece = Buffer | Kept;

const EMPTY: Kept = { deflated: Buffer.alloc(0), crc: 0, length: 0, shift: 0x80000000 };

/**
 * A copy in memory of its own: zlib's answer can be a slice of its 16 KiB output buffer or of
 * Node's shared 8 KB pool, which a kept piece would hold on to.
 */
const own = (b: Buffer) => {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
};

/** A kept piece's text again (identity scrapes). */
export const unkeep = (k: Kept): Buffer => (k.length === 0 ? Buffer.alloc(0) : inflateRawSync(k.deflated, INFLATE_OPTIONS));

/** CRC-32's polynomial, reflected. */
const POLY = 0xedb88320;
/** a(x) b(x) modulo the CRC polynomial (reflected bit order, as zlib's multmodp). */
const multModP = (a: number, b: number): number => {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
};
/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N: number[] = [];
for (let k = 0, p = 0x40000000; k < 32; k++) X2N.push((p = k === 0 ? p : multModP(p, p)));
/** x^(n 2^k) modulo the polynomial. */
const x2nModP = (n: number, k: number): number => {
  let p = 0x80000000;
  for (; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multModP(X2N[k & 31], p);
  return p;
};
/**
 * The CRC-32 of A followed by B from A's CRC, B's CRC and B's length (zlib's crc32_combine, which
 * Node does not expose): a kept piece's text is gone, its CRC is kept.
 */
export const crc32Combine = (crcA: number, crcB: number, lengthB: number): number => (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;

/** The CRC-32 of some text followed by kept piece `k`'s, from the text's CRC (crc32Combine with the piece's shift, kept). */
const followedBy = (crc: number, k: Kept): number => (multModP(k.shift, crc) ^ k.crc) >>> 0;

/** `text` kept compressed (it may be a view of a scratch buffer: nothing holds on to it). */
export const keep = (text: Uint8Array): Kept =>
  text.length === 0
    ? EMPTY
    : { deflated: own(deflateRawSync(text, PIECE_OPTIONS)), crc: crc32(text) >>> 0, length: text.length, shift: x2nModP(text.length, 3) };

/**
 * Kept pieces one after the other as one: their deflated bytes in one buffer, their CRCs combined.
 * The pieces come back as views of that buffer, so that the bytes are held once.
 */
export const join = (pieces: Kept[]): { joined: Kept; pieces: Kept[] } => {
  let crc = 0;
  let length = 0;
  let shift = EMPTY.shift;
  for (const k of pieces) {
    if (k.length === 0) continue;
    crc = followedBy(crc, k);
    length += k.length;
    shift = multModP(k.shift, shift);
  }
  if (length === 0) return { joined: EMPTY, pieces };
  const deflated = Buffer.concat(pieces.map((k) => k.deflated));
  let at = 0;
  const views = pieces.map((k) => {
    const view = { ...k, deflated: deflated.subarray(at, at + k.deflated.length) };
    at += k.deflated.length;
    return view;
  });
  return { joined: { deflated, crc, length, shift }, pieces: views };
};

/**
 * One gzip member from pieces: the header, each kept piece as it is and each text compressed here,
 * an empty final block, then the CRC-32 and length of the whole text (the kept pieces' CRCs
 * combined). So a gzip scrape writes ~1 MB of kept bytes at 10,000 sites instead of compressing
 * 12 MB each time.
 */
export async function* gzipMember(pieces: AsyncIterable<Piece>): AsyncGenerator<Buffer> {
  yield HEADER;
  let crc = 0;
  let size = 0;
  for await (const piece of pieces) {
    const k = Buffer.isBuffer(piece) ? keep(piece) : piece;
    if (k.length === 0) continue;
    crc = followedBy(crc, k);
    size = (size + k.length) >>> 0;
    yield k.deflated;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size, 4);
  yield Buffer.concat([FINAL_BLOCK, trailer]);
}
