import { constants, crc32, deflateRawSync } from 'node:zlib';

/** gzip member header: deflate, no flags, no time, unknown OS (RFC 1952). */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
/** An empty final block with fixed codes: ends a deflate stream whose pieces ended with sync flushes. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** Level 1: the exposition compresses ~15x even so, at about 4 times the speed of the default. */
const PIECE_OPTIONS = { level: 1, finishFlush: constants.Z_SYNC_FLUSH };
/** The most a stored deflate block holds (RFC 1951 3.2.4: LEN is 16 bits). */
const STORED_MAX = 0xffff;

/**
 * A piece of a gzip member's deflate stream: compressed on its own and ended with a sync flush, so
 * that pieces compressed at different times can follow each other (gzipMember writes the member).
 */
export const rawDeflate = (piece: Buffer) => own(deflateRawSync(piece, PIECE_OPTIONS));

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

/**
 * A piece as stored (uncompressed) deflate blocks: 5 bytes of header per 64 KiB, the text itself
 * sliced, not copied. Byte-aligned before and after, as a sync-flushed piece is, so it can stand
 * between two of them. What a scrape sends for what it had no time to compress.
 */
export function* storedBlocks(piece: Buffer): Generator<Buffer> {
  for (let at = 0; at < piece.length; at += STORED_MAX) {
    const len = Math.min(STORED_MAX, piece.length - at);
    // BFINAL 0, BTYPE 00, padded to the byte; then LEN and its one's complement, little-endian.
    yield Buffer.from([0, len & 0xff, len >>> 8, ~len & 0xff, (~len >>> 8) & 0xff]);
    yield piece.subarray(at, at + len);
  }
}

/** A piece of the exposition for gzipMember: compressed here unless `deflated` is given, or sent as stored blocks with `store`. */
export interface MemberPiece {
  raw: Buffer;
  deflated: Buffer | null;
  store?: boolean;
}

/**
 * One gzip member from pieces each compressed on its own (`rawDeflate`, kept by the metrics
 * groups): the header, the pieces as they are, an empty final block, then the CRC-32 and length of
 * the uncompressed text. A piece given without its compressed form is compressed here, or sent as
 * stored blocks when it says `store`. So a gzip scrape writes ~1 MB of kept bytes at 10,000 sites
 * instead of compressing 12 MB each time.
 */
export async function* gzipMember(pieces: AsyncIterable<MemberPiece>): AsyncGenerator<Buffer> {
  yield HEADER;
  let crc = 0;
  let size = 0;
  for await (const { raw, deflated, store } of pieces) {
    if (raw.length === 0) continue;
    crc = crc32(raw, crc);
    size = (size + raw.length) >>> 0;
    if (deflated) yield deflated;
    else if (store) yield* storedBlocks(raw);
    else yield rawDeflate(raw);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size, 4);
  yield Buffer.concat([FINAL_BLOCK, trailer]);
}
