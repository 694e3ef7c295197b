import { crc32 } from 'node:zlib';
import { rawDeflate } from './metrics.blocks.js';

/** gzip member header: deflate, no flags, no time, unknown OS (RFC 1952). */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
/** An empty final block with fixed codes: ends a deflate stream whose pieces ended with sync flushes. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

/**
 * One gzip member from pieces each compressed on its own (`rawDeflate`, kept by the metrics
 * groups): the header, the pieces as they are, an empty final block, then the CRC-32 and length of
 * the uncompressed text. A piece given without its compressed form is compressed here. So a gzip
 * scrape writes ~1 MB of kept bytes at 10,000 sites instead of compressing 12 MB each time.
 */
export async function* gzipMember(pieces: AsyncIterable<{ raw: Buffer; deflated: Buffer | null }>): AsyncGenerator<Buffer> {
  yield HEADER;
  let crc = 0;
  let size = 0;
  for await (const { raw, deflated } of pieces) {
    crc = crc32(raw, crc);
    size = (size + raw.length) >>> 0;
    yield deflated ?? rawDeflate(raw);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size, 4);
  yield Buffer.concat([FINAL_BLOCK, trailer]);
}
