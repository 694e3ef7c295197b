/**
 * Follows the gateway logs of every site that has one: one reader per file, however many sites
 * share it, polled once a second (a timer of its own: nothing is done per check).
 *
 * - New lines only: a file seen for the first time is read from its end; after that the inode
 *   and the offset of the first byte not yet read as a whole line are stored with the lines
 *   themselves (one transaction), so a restart goes on where it stopped and never reads the file
 *   again from the start.
 * - Rotation: a new inode at the path (rename + new file) -> what is left of the old file (still
 *   open) is read to its end, then the new one from its start. A file shorter than the offset
 *   (copytruncate, or truncated by hand) is read again from its start.
 * - A missing or unreadable file: a warning in the log once, the state on the site
 *   (`gatewayLogStatus`), and another try every second.
 * - Bounded: lines are cut at MAX_LINE_BYTES (the rest of an overlong line is skipped), at most
 *   MAX_READ_BYTES are read per file and second, at most MAX_LINES_PER_SITE kept per site.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { attribute } from './gatewaylog.match.js';
import { parsers } from './gatewaylog.parsers.js';
import type { GatewayLogRepository, LogSource, NewLogLine } from './gatewaylog.repository.js';
import { MAX_LINE_BYTES, MAX_RAW_CHARS, type GatewayLogFormat } from './gatewaylog.types.js';

/** Bytes read per file and tick at most: a burst is taken in over the next seconds. */
const MAX_READ_BYTES = 1024 * 1024;
/** Lines kept per site outside incidents. */
const MAX_LINES_PER_SITE = 10_000;
/** Pruning runs every this many ticks. */
const PRUNE_EVERY_TICKS = 60;

export interface FollowerDeps {
  repo: GatewayLogRepository;
  clock: Clock;
  logger: Logger;
  retentionHours: number;
  intervalMs?: number;
}

/** An open file and where reading stands in it. */
interface Reader {
  fd: number;
  inode: string;
  /** Next byte to read. */
  offset: number;
  /** Bytes of an unfinished last line (at most MAX_LINE_BYTES). */
  partial: Buffer;
  /** The line being read is longer than MAX_LINE_BYTES: drop bytes until its end. */
  skipping: boolean;
  /**
   * The last bytes read (up to MARK_BYTES, ending at `offset`): a file truncated and written
   * again up to the same size or beyond has other bytes there, which its size alone cannot tell.
   */
  mark: Buffer;
}

// Long enough to hold the start of a line (its time, a request id), not just tails that repeat.
const MARK_BYTES = 1024;

const closeQuietly = (fd: number) => {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
};

/** Control characters are kept out of stored text (it ends up in JSON, pages and emails). */
const clean = (text: string, max: number): string => {
  // eslint-disable-next-line no-control-regex
  const safe = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '?').replace(/\r$/, '');
  return safe.length > max ? `${safe.slice(0, max - 3)}...` : safe;
};

export function createGatewayLogFollower(deps: FollowerDeps) {
  const { repo, clock, logger } = deps;
  const readers = new Map<string, Reader>();
  let timer: NodeJS.Timeout | null = null;
  let ticks = 0;

  /** Splits what was read into whole lines; keeps the unfinished tail in the reader. */
  function takeLines(reader: Reader, chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (!reader.skipping) {
        const room = MAX_LINE_BYTES - reader.partial.length;
        if (piece.length > room) {
          // Too long: keep the first MAX_LINE_BYTES as the line, skip the rest of it.
          lines.push(Buffer.concat([reader.partial, piece.subarray(0, room)]));
          reader.partial = Buffer.alloc(0);
          reader.skipping = nl < 0;
        } else if (nl >= 0) {
          lines.push(Buffer.concat([reader.partial, piece]));
          reader.partial = Buffer.alloc(0);
        } else {
          reader.partial = Buffer.concat([reader.partial, piece]);
        }
      } else if (nl >= 0) {
        reader.skipping = false;
      }
      if (nl < 0) return lines;
      start = nl + 1;
    }
  }

  /** Reads from the reader's offset up to `size` (at most MAX_READ_BYTES). */
  function readFrom(reader: Reader, size: number): Buffer[] {
    const want = Math.min(size - reader.offset, MAX_READ_BYTES);
    if (want <= 0) return [];
    const buffer = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const n = readSync(reader.fd, buffer, got, want - got, reader.offset + got);
      if (n === 0) break;
      got += n;
    }
    reader.offset += got;
    const read = buffer.subarray(0, got);
    reader.mark = Buffer.concat([reader.mark, read]).subarray(-MARK_BYTES);
    return takeLines(reader, read);
  }

  /** Whether the bytes before the offset are still those read there (see Reader.mark). */
  function markStillThere(reader: Reader): boolean {
    const { mark } = reader;
    if (mark.length === 0 || reader.offset < mark.length) return true;
    const now = Buffer.alloc(mark.length);
    const n = readSync(reader.fd, now, 0, mark.length, reader.offset - mark.length);
    return n === mark.length && now.equals(mark);
  }

  function open(path: string, offset: (stats: Stats) => number): Reader {
    const fd = openSync(path, 'r');
    const stats = fstatSync(fd, { bigint: false });
    const inode = String(fstatSync(fd, { bigint: true }).ino);
    return { fd, inode, offset: offset(stats), partial: Buffer.alloc(0), skipping: false, mark: Buffer.alloc(0) };
  }

  /** The new whole lines of one file since the last call, handling rotation and truncation. */
  function readFile(path: string): { lines: Buffer[]; reader: Reader } {
    const stats = statSync(path, { bigint: true });
    const inode = String(stats.ino);
    const size = Number(stats.size);
    let reader = readers.get(path);
    const lines: Buffer[] = [];
    if (reader && reader.inode !== inode) {
      // Rotated (renamed, a new file in its place): finish the old one through its open descriptor.
      lines.push(...readFrom(reader, fstatSync(reader.fd).size));
      if (reader.partial.length) lines.push(reader.partial);
      closeQuietly(reader.fd);
      readers.delete(path);
      reader = undefined;
      logger.info('gateway log rotated; reading the new file from its start', { path });
      reader = open(path, () => 0);
    }
    if (!reader) {
      const stored = repo.file(path);
      reader = open(path, (s) => {
        if (!stored || stored.inode === null) return stored ? 0 : s.size; // first sight: only what comes next
        if (stored.inode !== inode) return 0; // a new file since the last run
        return stored.offset <= s.size ? stored.offset : 0;
      });
    }
    readers.set(path, reader);
    if (size < reader.offset || !markStillThere(reader)) {
      // Truncated in place (copytruncate): the new lines start at 0.
      logger.info('gateway log truncated; reading it again from its start', { path });
      reader.offset = 0;
      reader.partial = Buffer.alloc(0);
      reader.skipping = false;
      reader.mark = Buffer.alloc(0);
    }
    lines.push(...readFrom(reader, size));
    return { lines, reader };
  }

  function followFile(path: string, sources: LogSource[], now: number) {
    let result: { lines: Buffer[]; reader: Reader };
    try {
      result = readFile(path);
    } catch (error) {
      const old = readers.get(path);
      if (old) closeQuietly(old.fd);
      readers.delete(path);
      const code = (error as NodeJS.ErrnoException).code;
      const state = code === 'ENOENT' ? 'missing' : 'error';
      const message =
        code === 'ENOENT'
          ? `the file does not exist (yet); Gatewatch tries again every second`
          : `the file cannot be read (${code ?? (error as Error).message}); Gatewatch tries again every second`;
      const stored = repo.file(path);
      if (stored?.state !== state || stored.message !== message) {
        logger.warn('gateway log not followed', { path, sites: sources.map((s) => s.siteId), reason: message });
        // Inode kept: when the same file comes back (a brief rename), reading resumes where it was.
        repo.save(path, { inode: stored?.inode ?? null, offset: stored?.offset ?? 0, state, message, since: now }, [], now);
      }
      return;
    }
    const { lines, reader } = result;
    const stored = repo.file(path);
    const rows: NewLogLine[] = [];
    const formats = new Map<GatewayLogFormat, LogSource[]>();
    for (const s of sources) formats.set(s.gatewayLog.format, [...(formats.get(s.gatewayLog.format) ?? []), s]);
    for (const bytes of lines) {
      const text = bytes.toString('utf8');
      if (text.trim() === '') continue;
      for (const [format, group] of formats) {
        const parsed = parsers[format](text.replace(/\r$/, ''));
        if (!parsed) continue;
        for (const a of attribute(group, parsed)) {
          rows.push({
            siteId: a.siteId,
            at: parsed.at ?? now,
            readAt: now,
            product: format,
            kind: parsed.kind,
            relation: a.relation,
            upstreamId: a.upstreamId,
            upstream: parsed.upstream ?? parsed.server,
            message: clean(parsed.message, 300),
            raw: clean(text, MAX_RAW_CHARS),
          });
        }
      }
    }
    // Stored: the start of the unfinished line, so that a restart reads it whole.
    const committed = reader.offset - reader.partial.length;
    const changed = !stored || stored.state !== 'following' || stored.inode !== reader.inode || stored.offset !== committed;
    if (rows.length || changed) {
      if (stored?.state && stored.state !== 'following') logger.info('gateway log followed again', { path });
      repo.save(
        path,
        {
          inode: reader.inode,
          offset: committed,
          state: 'following',
          message: null,
          since: stored?.state === 'following' ? stored.since : now,
        },
        rows,
        now,
      );
    }
  }

  /** One pass over every followed file; exposed for tests. */
  function tick() {
    const now = clock.now();
    const byPath = new Map<string, LogSource[]>();
    for (const source of repo.sources()) {
      const list = byPath.get(source.gatewayLog.path);
      if (list) list.push(source);
      else byPath.set(source.gatewayLog.path, [source]);
    }
    for (const [path, reader] of readers) {
      if (!byPath.has(path)) {
        closeQuietly(reader.fd);
        readers.delete(path);
      }
    }
    for (const [path, sources] of byPath) {
      try {
        followFile(path, sources, now);
      } catch (error) {
        logger.error('gateway log follower failed', { path, error: String(error) });
      }
    }
    if (++ticks % PRUNE_EVERY_TICKS === 1) {
      repo.pruneOlderThan(now - deps.retentionHours * 3_600_000, 10_000);
      repo.capPerSite(MAX_LINES_PER_SITE);
    }
  }

  return {
    tick,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        try {
          tick();
        } catch (error) {
          logger.error('gateway log follower failed', { error: String(error) });
        }
      }, deps.intervalMs ?? 1000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      for (const reader of readers.values()) closeQuietly(reader.fd);
      readers.clear();
    },
  };
}

export type GatewayLogFollower = ReturnType<typeof createGatewayLogFollower>;
