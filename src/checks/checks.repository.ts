import { settingsStore } from '../db/settings.table.js';
import type { Db } from '../db/client.js';
import { OUTCOMES, type GatewayProduct, type Outcome } from '../probes/probes.types.js';
import { appended, sameList } from '../shared/arrays.js';
import type { CheckRow, NewCheckRow } from './checks.table.js';

/** A check as the API shows it. */
export type CheckView = Omit<CheckRow, 'incidentId'> & { incidentId: number | null };

/** Raw checks are indexed per target and per chunk of this many ms (check_chunks). */
export const CHUNK_MS = 10 * 60_000;
/**
 * A chunk's row is written once, this long after the chunk ends (a round's last checks arrive up
 * to a probe's time-out after it started); until then the chunk lives in memory.
 */
export const CHUNK_WRITE_DELAY_MS = 3 * 60_000;
/** Setting: the highest raw_checks id up to which every row is listed in a stored check_chunks row. */
export const CHUNKS_THROUGH_KEY = 'check_chunks_through';
const KEY_SPAN = 2 ** 24;
/**
 * Dictionary rows kept by their strings, beyond each target's own (a target whose strings change
 * back and forth, an error and back): a target's repeated strings never come here.
 */
const DETAIL_CACHE_MAX = 4096;

interface RawRow {
  id: number;
  tk: number;
  t: number;
  o: number;
  st: number | null;
  dns: number | null;
  con: number | null;
  tls: number | null;
  ttfb: number | null;
  tot: number | null;
  inc: number | null;
  body: string;
}

type Details = [string, string[], string | null, string[] | null, string | null, GatewayProduct | null, number | null, string | null];

const RAW_COLUMNS = 'r.id, r.tk, r.t, r.o, r.st, r.dns, r.con, r.tls, r.ttfb, r.tot, r.inc, d.body';

const OUTCOME_CODE = new Map<Outcome, number>(OUTCOMES.map((o, i) => [o, i]));
const NO_ADDRESSES: string[] = [];

interface DetailEntry {
  id: number;
  seenAt: number;
}

/**
 * One target's key and the strings (`Details`) its last check stored, with their dictionary row:
 * the strings only, not the whole check (a row object with its numbers held ~260 B a target).
 */
interface TargetState {
  key: number;
  siteId: number;
  target: string;
  detail: DetailEntry | null;
  targetName: string;
  addresses: string[];
  address: string | null;
  failedAddresses: string[] | null;
  errorMessage: string | null;
  gateway: GatewayProduct | null;
  certExpiresAt: number | null;
  certIssuer: string | null;
}

/** Whether a check stores the same strings (`Details`) as the target's last one. */
const sameDetails = (a: TargetState, b: CheckRow) =>
  a.targetName === b.targetName &&
  a.address === b.address &&
  a.errorMessage === b.errorMessage &&
  a.gateway === b.gateway &&
  a.certExpiresAt === b.certExpiresAt &&
  a.certIssuer === b.certIssuer &&
  sameList(a.addresses, b.addresses) &&
  sameList(a.failedAddresses, b.failedAddresses);

/** Encodes ids as `ids` does ("first,delta,delta..."), continuing from `after` when given. */
function encodeIds(ids: number[], after = 0): string {
  let out = '';
  let prev = after;
  for (const id of ids) {
    out += out === '' ? String(id - prev) : `,${id - prev}`;
    prev = id;
  }
  return out;
}

/** Decodes a chunk's `ids` ("first,delta,delta..."). */
export function chunkIds(ids: string): number[] {
  const out: number[] = [];
  let id = 0;
  for (const part of ids.split(',')) {
    id += Number(part);
    out.push(id);
  }
  return out;
}

/**
 * Raw checks in the compact layout (checks.table.ts: raw_checks, check_details, check_chunks),
 * read and written as CheckRow-shaped objects. Every statement is prepared once.
 *
 * The open chunks (the current 10 minutes, and the last until CHUNK_WRITE_DELAY_MS after it
 * ends) are kept in memory and read as if stored: a chunk row is written once, not rewritten
 * with each check (a random page dirtied per check). The raw rows themselves are written at
 * once; after a crash the open chunks are rebuilt from the rows above CHUNKS_THROUGH_KEY.
 * So there must be ONE instance per database, shared by every reader and writer.
 */
export function createChecksRepository(db: Db) {
  const sqlite = db.$client;
  /**
   * Per site, its targets' keys and what their last checks' strings were stored as: an array
   * (a site has a handful of targets), as a Map per site held ~150 B more. The one cache of
   * target keys: the rollups repositories ask this one (`keyOf`).
   */
  const keys = new Map<number, TargetState[]>();
  const byKey = new Map<number, TargetState>();
  const details = new Map<string, DetailEntry>();
  /**
   * Dictionary and key rows inserted since the last commit: if the transaction rolls back
   * (a full disk), the caches above must forget them, or later checks would point at rows that
   * were never stored (and vanish from reads that join them).
   */
  const uncommitted = { details: [] as { body: string; id: number }[], keys: [] as number[] };

  const findKey = sqlite.prepare<[number, string], { id: number }>('SELECT id FROM rollup_targets WHERE site_id = ? AND target = ?');
  const insertKey = sqlite.prepare('INSERT INTO rollup_targets (site_id, target) VALUES (?, ?)');
  const keysOfSite = sqlite.prepare<[number], { id: number; target: string }>('SELECT id, target FROM rollup_targets WHERE site_id = ?');
  const keyRow = sqlite.prepare<[number], { site_id: number; target: string }>('SELECT site_id, target FROM rollup_targets WHERE id = ?');
  const findDetail = sqlite.prepare<[string], { id: number }>('SELECT id FROM check_details WHERE body = ?');
  const insertDetail = sqlite.prepare('INSERT INTO check_details (body, seen_at) VALUES (?, ?)');
  const touchDetail = sqlite.prepare('UPDATE check_details SET seen_at = ? WHERE id = ? AND seen_at < ?');
  const detailExists = sqlite.prepare<[number], { id: number }>('SELECT id FROM check_details WHERE id = ?');
  const insertRaw = sqlite.prepare(
    'INSERT INTO raw_checks (id, tk, t, o, st, dns, con, tls, ttfb, tot, d, inc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  // A chunk written again (a check late for a chunk already written, or rows found again after a crash) is appended to.
  const writeChunk = sqlite.prepare<{ id: number; last: number; ids: string; first: number; rest: string }>(
    `INSERT INTO check_chunks (id, last, ids) VALUES (@id, @last, @ids)
     ON CONFLICT (id) DO UPDATE SET ids = ids || ',' || (@first - last) || @rest, last = excluded.last`,
  );
  const settings = settingsStore(sqlite);
  const rowsAbove = sqlite.prepare<[number], { id: number; tk: number; t: number; d: number }>('SELECT id, tk, t, d FROM raw_checks WHERE id > ? ORDER BY id');
  const chunkAt = sqlite.prepare<[number], { ids: string }>('SELECT ids FROM check_chunks WHERE id = ?');
  const lastChunk = sqlite.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM check_chunks');
  const firstChunk = sqlite.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM check_chunks');
  const rowById = sqlite.prepare<[number], RawRow>(`SELECT ${RAW_COLUMNS} FROM raw_checks r JOIN check_details d ON d.id = r.d WHERE r.id = ?`);
  const heldOf = sqlite.prepare<[number], RawRow>(
    `SELECT ${RAW_COLUMNS} FROM raw_checks r JOIN check_details d ON d.id = r.d WHERE r.inc IS NOT NULL AND r.tk = ?`,
  );
  // Two statements: SQLite reads min() or max() off the B-tree only when it is the query's one aggregate.
  const minId = sqlite.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM raw_checks');
  const maxId = sqlite.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM raw_checks');
  const idBounds = () => ({ lo: minId.get()?.id ?? null, hi: maxId.get()?.id ?? null });
  const timeAtOrAfter = sqlite.prepare<[number], { id: number; t: number }>('SELECT id, t FROM raw_checks WHERE id >= ? ORDER BY id LIMIT 1');
  const rowsFrom = sqlite.prepare<[number, number, number], RawRow>(
    `SELECT ${RAW_COLUMNS} FROM raw_checks r JOIN check_details d ON d.id = r.d WHERE r.id >= ? AND r.t >= ? ORDER BY r.id LIMIT ?`,
  );
  const pruneRaw = sqlite.prepare('DELETE FROM raw_checks WHERE id IN (SELECT id FROM raw_checks WHERE id < ? AND t < ? AND inc IS NULL ORDER BY id LIMIT ?)');
  const pruneChunks = sqlite.prepare('DELETE FROM check_chunks WHERE id IN (SELECT id FROM check_chunks WHERE id < ? ORDER BY id LIMIT ?)');
  const pruneDetails = sqlite.prepare(
    `DELETE FROM check_details WHERE id IN (SELECT id FROM check_details WHERE seen_at < ?
       AND id NOT IN (SELECT d FROM raw_checks WHERE inc IS NOT NULL) LIMIT ?)`,
  );
  // With its key: an open chunk may list the id of a row whose transaction rolled back, since taken by another target's check.
  const deleteRaw = sqlite.prepare('DELETE FROM raw_checks WHERE id = ? AND tk = ?');
  const deleteHeldOf = sqlite.prepare('DELETE FROM raw_checks WHERE inc IS NOT NULL AND tk = ?');
  const deleteChunk = sqlite.prepare('DELETE FROM check_chunks WHERE id = ?');
  const holdRow = sqlite.prepare('UPDATE raw_checks SET inc = ? WHERE id = ? AND inc IS NULL');

  /** The chunks not written yet: chunk index -> target key -> rowids, ascending. */
  const open = new Map<number, Map<number, number[]>>();
  /**
   * Dictionary rows used again since their seen_at was written: detail id -> startedAt. Written
   * with the chunks, in id order (a page of the dictionary once per chunk, not once per row).
   */
  const touches = new Map<number, number>();
  const touch = (id: number, at: number) => {
    if ((touches.get(id) ?? 0) < at) touches.set(id, at);
  };
  /** The newest startedAt inserted: the clock by which chunks close. */
  let latest = 0;
  let through = Number(settings.get(CHUNKS_THROUGH_KEY) ?? NaN);

  /**
   * Lists a rowid in its open chunk. Each target's list is copied into a new array of the exact
   * length: push would leave room for 16 more ids in each of the ~2 x targets lists held.
   */
  const addOpen = (chunk: number, key: number, id: number) => {
    let ofChunk = open.get(chunk);
    if (!ofChunk) open.set(chunk, (ofChunk = new Map()));
    const ids = ofChunk.get(key);
    if (!ids) ofChunk.set(key, [id]);
    else if (id > ids[ids.length - 1]) ofChunk.set(key, appended(ids, id));
    else if (!ids.includes(id)) ids.splice(ids.findIndex((x) => x > id), 0, id);
  };

  /** Stored and open rowids of one target's chunk. */
  const idsOf = (chunk: number, key: number): number[] => {
    const c = chunkAt.get(chunk * KEY_SPAN + key);
    const stored = c ? chunkIds(c.ids) : [];
    const pending = open.get(chunk)?.get(key);
    return pending ? stored.concat(pending) : stored;
  };

  const openBounds = () => {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const chunk of open.keys()) {
      lo = Math.min(lo, chunk);
      hi = Math.max(hi, chunk);
    }
    return { lo, hi };
  };

  /**
   * Writes the open chunks with an index below `upTo` (each row once, in key order) and the
   * dictionary rows' uses, and moves CHUNKS_THROUGH_KEY up to the first row still only in
   * memory, in its own transaction; memory lets go of them only once it committed. Called
   * outside any transaction: one that rolled back later would leave rows indexed nowhere.
   */
  const writeChunks = (upTo: number) => {
    const due = [...open.keys()].filter((c) => c < upTo).sort((a, b) => a - b);
    if (due.length === 0 && touches.size === 0) return;
    const noted = [...touches].sort((a, b) => a[0] - b[0]);
    let firstOpen = Number.POSITIVE_INFINITY;
    for (const [chunk, ofChunk] of open) if (chunk >= upTo) for (const ids of ofChunk.values()) firstOpen = Math.min(firstOpen, ids[0]);
    const next = sqlite.transaction(() => {
      for (const chunk of due) {
        const ofChunk = open.get(chunk)!;
        for (const key of [...ofChunk.keys()].sort((a, b) => a - b)) {
          const ids = ofChunk.get(key)!;
          writeChunk.run({ id: chunk * KEY_SPAN + key, last: ids[ids.length - 1], ids: encodeIds(ids), first: ids[0], rest: ids.length > 1 ? `,${encodeIds(ids.slice(1), ids[0])}` : '' });
        }
      }
      for (const [id, at] of noted) touchDetail.run(at, id, at);
      const mark = firstOpen === Number.POSITIVE_INFINITY ? (maxId.get()?.id ?? 0) : firstOpen - 1;
      if (mark !== through) settings.set(CHUNKS_THROUGH_KEY, mark);
      return mark;
    })();
    for (const chunk of due) open.delete(chunk);
    for (const [id, at] of noted) if (touches.get(id) === at) touches.delete(id);
    through = next;
  };

  /**
   * At start: a database from before in-memory chunks has every row indexed; otherwise the
   * rows above the mark (a crash lost their open chunks) are put back in memory, less those a
   * stored chunk already lists (a late check's chunk written while the mark stayed below it).
   * Their dictionary rows are touched again: a touch waits for the chunks, so a crash lost it.
   */
  const restoreOpen = () => {
    if (Number.isNaN(through)) {
      through = maxId.get()?.id ?? 0;
      settings.set(CHUNKS_THROUGH_KEY, through);
      return;
    }
    for (const r of rowsAbove.iterate(through)) {
      addOpen(Math.floor(r.t / CHUNK_MS), r.tk, r.id);
      touch(r.d, r.t);
      latest = Math.max(latest, r.t);
    }
    for (const [chunk, ofChunk] of open) {
      for (const [key, ids] of ofChunk) {
        const c = chunkAt.get(chunk * KEY_SPAN + key);
        if (!c) continue;
        const stored = new Set(chunkIds(c.ids));
        const rest = ids.filter((id) => !stored.has(id));
        if (rest.length) ofChunk.set(key, rest);
        else ofChunk.delete(key);
      }
      if (ofChunk.size === 0) open.delete(chunk);
    }
  };
  restoreOpen();

  const newState = (key: number, siteId: number, target: string): TargetState => {
    const state: TargetState = {
      key,
      siteId,
      target,
      detail: null,
      targetName: '',
      addresses: NO_ADDRESSES,
      address: null,
      failedAddresses: null,
      errorMessage: null,
      gateway: null,
      certExpiresAt: null,
      certIssuer: null,
    };
    const ofSite = keys.get(siteId);
    keys.set(siteId, ofSite ? appended(ofSite, state) : [state]);
    byKey.set(key, state);
    return state;
  };

  const cachedState = (siteId: number, target: string): TargetState | undefined => {
    const ofSite = keys.get(siteId);
    if (ofSite) for (const state of ofSite) if (state.target === target) return state;
    return undefined;
  };

  /** The state of a target, by its key (rollup_targets); with `create`, one is made for a target seen for the first time. */
  function stateOf(siteId: number, target: string, create: true): TargetState;
  function stateOf(siteId: number, target: string, create: boolean): TargetState | undefined;
  function stateOf(siteId: number, target: string, create: boolean): TargetState | undefined {
    const cached = cachedState(siteId, target);
    if (cached) return cached;
    let id = findKey.get(siteId, target)?.id;
    if (id === undefined) {
      if (!create) return undefined;
      id = Number(insertKey.run(siteId, target).lastInsertRowid);
      uncommitted.keys.push(id);
    }
    return newState(id, siteId, target);
  }

  /** Drops a target's state from the caches (its key row is gone, or never committed). */
  const forgetState = (key: number) => {
    const state = byKey.get(key);
    if (!state) return;
    byKey.delete(key);
    const ofSite = keys.get(state.siteId);
    if (!ofSite) return;
    const at = ofSite.indexOf(state);
    if (at >= 0) ofSite.splice(at, 1);
    if (ofSite.length === 0) keys.delete(state.siteId);
  };

  const NO_TARGET = { siteId: 0, target: '' };
  /** The site and target of a key (a key without a row reads as site 0, as a deleted target's rows do). */
  const targetOf = (key: number): { siteId: number; target: string } => {
    const state = byKey.get(key);
    if (state) return state;
    const row = keyRow.get(key);
    return row ? newState(key, row.site_id, row.target) : NO_TARGET;
  };

  /** The dictionary row of a check's strings, shared by every check with the same ones. */
  const detailOf = (body: string, startedAt: number): DetailEntry => {
    const cached = details.get(body);
    if (cached) {
      if (cached.seenAt >= startedAt - CHUNK_MS) return cached;
      if (detailExists.get(cached.id)) {
        cached.seenAt = startedAt;
        touch(cached.id, startedAt);
        return cached;
      }
      details.delete(body);
    }
    let id = findDetail.get(body)?.id;
    if (id === undefined) {
      id = Number(insertDetail.run(body, startedAt).lastInsertRowid);
      uncommitted.details.push({ body, id });
    } else touch(id, startedAt);
    if (details.size >= DETAIL_CACHE_MAX) details.clear();
    const entry = { id, seenAt: startedAt };
    details.set(body, entry);
    return entry;
  };

  /**
   * The dictionary row of a check's strings. Most checks carry the same strings as their
   * target's previous one (same addresses, no error): that row is reused after a comparison,
   * without writing the strings out as JSON and hashing them, while it is fresh (as in `detailOf`).
   */
  const detailFor = (state: TargetState, row: CheckRow): number => {
    const { detail } = state;
    if (detail && sameDetails(state, row)) {
      if (detail.seenAt >= row.startedAt - CHUNK_MS) return detail.id;
      // Its use is noted once a chunk; the row may have been pruned meanwhile.
      if (detailExists.get(detail.id)) {
        detail.seenAt = row.startedAt;
        touch(detail.id, row.startedAt);
        return detail.id;
      }
    }
    const body: Details = [
      row.targetName,
      row.addresses,
      row.address,
      row.failedAddresses,
      row.errorMessage,
      row.gateway,
      row.certExpiresAt,
      row.certIssuer,
    ];
    state.detail = detailOf(JSON.stringify(body), row.startedAt);
    state.targetName = row.targetName;
    // Copies of the exact length: a probe's lists are built with push (room for 16 more).
    state.addresses = row.addresses.slice();
    state.address = row.address;
    state.failedAddresses = row.failedAddresses && row.failedAddresses.slice();
    state.errorMessage = row.errorMessage;
    state.gateway = row.gateway;
    state.certExpiresAt = row.certExpiresAt;
    state.certIssuer = row.certIssuer;
    return state.detail.id;
  };

  const toRow = (r: RawRow): CheckRow => {
    const { siteId, target } = targetOf(r.tk);
    const [targetName, addresses, address, failedAddresses, errorMessage, gateway, certExpiresAt, certIssuer] = JSON.parse(r.body) as Details;
    return {
      id: r.id,
      siteId,
      target,
      targetName,
      startedAt: r.t,
      outcome: OUTCOMES[r.o],
      statusCode: r.st,
      errorMessage,
      addresses,
      address,
      failedAddresses,
      dnsMs: r.dns,
      connectMs: r.con,
      tlsMs: r.tls,
      ttfbMs: r.ttfb,
      totalMs: r.tot,
      gateway,
      certExpiresAt,
      certIssuer,
      incidentId: r.inc,
    };
  };

  /** Inserts one row (with its own id when it has one, as the upgrade does) and returns it as stored. */
  const insertOne = (row: NewCheckRow): CheckRow => {
    const stored: CheckRow = {
      id: row.id ?? 0,
      siteId: row.siteId,
      target: row.target,
      targetName: row.targetName,
      startedAt: row.startedAt,
      outcome: row.outcome,
      statusCode: row.statusCode ?? null,
      errorMessage: row.errorMessage ?? null,
      addresses: row.addresses,
      address: row.address ?? null,
      failedAddresses: row.failedAddresses?.length ? row.failedAddresses : null,
      dnsMs: row.dnsMs ?? null,
      connectMs: row.connectMs ?? null,
      tlsMs: row.tlsMs ?? null,
      ttfbMs: row.ttfbMs ?? null,
      totalMs: row.totalMs ?? null,
      gateway: row.gateway ?? null,
      incidentId: row.incidentId ?? null,
      certExpiresAt: row.certExpiresAt ?? null,
      certIssuer: row.certIssuer ?? null,
    };
    const state = stateOf(stored.siteId, stored.target, true);
    const key = state.key;
    const info = insertRaw.run(
      row.id ?? null,
      key,
      stored.startedAt,
      OUTCOME_CODE.get(stored.outcome) ?? 0,
      stored.statusCode,
      stored.dnsMs,
      stored.connectMs,
      stored.tlsMs,
      stored.ttfbMs,
      stored.totalMs,
      detailFor(state, stored),
      stored.incidentId,
    );
    stored.id = Number(info.lastInsertRowid);
    addOpen(Math.floor(stored.startedAt / CHUNK_MS), key, stored.id);
    latest = Math.max(latest, stored.startedAt);
    return stored;
  };

  /**
   * A site's checks (optionally one target) with startedAt in [since, before), newest first,
   * chunk by chunk from the newest, stopping once `enough` rows are read and a chunk boundary is
   * passed. Held checks older than the chunks still indexed come from the partial index.
   */
  const read = (siteId: number, opts: { since?: number; before?: number; target?: string; enough: number }): CheckRow[] => {
    const targetKeys = keysOfSite
      .all(siteId)
      .filter((k) => opts.target === undefined || k.target === opts.target)
      .map((k) => k.id);
    if (targetKeys.length === 0) return [];
    const since = opts.since ?? 0;
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const floorId = firstChunk.get()?.id;
    const openChunks = openBounds();
    const firstIndexed = Math.min(floorId == null ? Number.MAX_SAFE_INTEGER : Math.floor(floorId / KEY_SPAN), openChunks.lo);
    const out: CheckRow[] = [];
    const seen = new Set<number>();
    const keep = (r: RawRow) => {
      if (seen.has(r.id) || r.t < since || r.t >= before) return;
      seen.add(r.id);
      out.push(toRow(r));
    };
    const newest = lastChunk.get()?.id;
    const top = Math.min(Math.floor(before / CHUNK_MS), Math.max(newest == null ? -1 : Math.floor(newest / KEY_SPAN), openChunks.hi));
    const bottom = Math.max(firstIndexed, Math.floor(since / CHUNK_MS));
    for (let chunk = top; chunk >= bottom; chunk--) {
      for (const key of targetKeys) {
        for (const id of idsOf(chunk, key)) {
          const r = rowById.get(id);
          if (r && r.tk === key) keep(r);
        }
      }
      // A row sits in the chunk of its startedAt, so once `enough` rows are newer than this chunk, older ones cannot displace them.
      if (out.length >= opts.enough && nthNewest(out, opts.enough) >= chunk * CHUNK_MS) break;
    }
    for (const key of targetKeys) for (const r of heldOf.all(key)) keep(r);
    return out.sort((a, b) => b.startedAt - a.startedAt || b.id - a.id);
  };

  /**
   * The first rowid whose check started at or after `t` (rowids grow with time, up to a round's
   * spread: callers look from a chunk earlier), by binary search; null when there is none.
   */
  const firstIdFrom = (t: number): number | null => {
    const { lo, hi } = idBounds();
    if (lo == null || hi == null) return null;
    let a = lo;
    let b = hi + 1;
    while (a < b) {
      const mid = Math.floor((a + b) / 2);
      const row = timeAtOrAfter.get(mid);
      if (!row || row.t >= t) b = mid;
      else a = Math.min(row.id + 1, b);
    }
    return a > hi ? null : a;
  };

  return {
    firstIdFrom,

    /**
     * The key of a target (rollup_targets) for the rollups; with `create`, one is made for a
     * target seen for the first time (forgotten again if its transaction rolls back).
     */
    keyOf(siteId: number, target: string, create = false): number | null {
      return stateOf(siteId, target, create)?.key ?? null;
    },

    /** Forgets a target key whose row was deleted (a deleted site's, once its rollups are gone). */
    forgetKey(key: number): void {
      forgetState(key);
    },

    /** Every check started at or after `from`, in rowid order, `limit` at a time from `afterId`. */
    since(from: number, afterId: number | null, limit: number): CheckRow[] {
      const start = afterId == null ? firstIdFrom(from - CHUNK_MS) : afterId + 1;
      return start == null ? [] : rowsFrom.all(start, from, limit).map(toRow);
    },

    /** Inserts rows; the caller wraps a batch in one transaction, then calls writeClosedChunks. */
    insertMany(rows: NewCheckRow[]): void {
      for (const row of rows) insertOne(row);
    },

    /** Inserts rows and returns them as stored, with their ids (as insertMany). */
    insertReturning(rows: NewCheckRow[]): CheckRow[] {
      return rows.map(insertOne);
    },

    /**
     * Writes the chunks closed CHUNK_WRITE_DELAY_MS ago by the newest check's clock, in their own
     * transaction: call it after the transaction that inserted checks, never inside one.
     */
    writeClosedChunks(): void {
      // Called after a commit: what the committed transaction inserted is stored for good.
      uncommitted.details.length = 0;
      uncommitted.keys.length = 0;
      const upTo = Math.floor((latest - CHUNK_WRITE_DELAY_MS) / CHUNK_MS);
      if (openBounds().lo < upTo) writeChunks(upTo);
    },

    /**
     * After a transaction that inserted checks rolled back: forgets the dictionary and key rows it
     * had inserted (the open chunks need nothing: reads check each listed id's target).
     */
    forgetUncommitted(): void {
      const gone = new Set<number>();
      // By id: the cache may have been emptied since, while a target still holds the entry.
      for (const { body, id } of uncommitted.details) {
        gone.add(id);
        details.delete(body);
      }
      if (gone.size > 0) {
        for (const state of byKey.values()) if (state.detail && gone.has(state.detail.id)) state.detail = null;
      }
      for (const key of uncommitted.keys) forgetState(key);
      uncommitted.details.length = 0;
      uncommitted.keys.length = 0;
    },

    /** Writes every open chunk (at stop, once no check is recorded any more), in its own transaction. */
    writeOpenChunks(): void {
      writeChunks(Number.POSITIVE_INFINITY);
    },

    /** How many targets' chunks are held in memory (tests, metrics). */
    openChunkCount(): number {
      let n = 0;
      for (const ofChunk of open.values()) n += ofChunk.size;
      return n;
    },

    /**
     * Newest first. A full page is completed with the rest of its last round (checks sharing the
     * last `startedAt`, up to one per target), so that paging on with `before` = that time skips none.
     */
    list(siteId: number, opts: { limit: number; before?: number; target?: string }): CheckView[] {
      const rows = read(siteId, { before: opts.before, target: opts.target, enough: opts.limit });
      if (rows.length <= opts.limit) return rows;
      const last = rows[opts.limit - 1];
      let end = opts.limit;
      while (end < rows.length && rows[end].startedAt === last.startedAt) end++;
      return rows.slice(0, end);
    },

    /** Checks of a site since a time, oldest first, at most `limit` (the newest ones). */
    window(siteId: number, since: number, limit: number): CheckRow[] {
      return read(siteId, { since, enough: limit }).slice(0, limit).reverse();
    },

    /** One target's checks with startedAt in [from, to), any order. */
    ofTarget(siteId: number, target: string, from: number, to: number): CheckRow[] {
      return read(siteId, { since: from, before: to, target, enough: Number.MAX_SAFE_INTEGER });
    },

    /**
     * Deletes up to `limit` checks started before `before` that no incident holds (their
     * chunks and unused dictionary rows with them); returns how many rows went.
     */
    prune(before: number, limit: number): number {
      const bound = firstIdFrom(before) ?? (idBounds().hi ?? 0) + 1;
      let n = pruneRaw.run(bound, before, limit).changes;
      if (n < limit) n += pruneChunks.run(Math.floor(before / CHUNK_MS) * KEY_SPAN, limit - n).changes;
      if (n < limit) for (const chunk of open.keys()) if (chunk < Math.floor(before / CHUNK_MS)) open.delete(chunk);
      // A margin of three chunks: a dictionary row's use is noted at most once a chunk, and written
      // with the next chunks (up to a chunk and CHUNK_WRITE_DELAY_MS later).
      if (n < limit) n += pruneDetails.run(before - 3 * CHUNK_MS, limit - n).changes;
      return n;
    },

    /** Deletes every check of a target key (a deleted site's), held ones too, chunk by chunk. */
    removeKey(key: number): void {
      const first = firstChunk.get()?.id;
      const last = lastChunk.get()?.id;
      if (first != null && last != null) {
        for (let chunk = Math.floor(first / KEY_SPAN); chunk <= Math.floor(last / KEY_SPAN); chunk++) {
          const c = chunkAt.get(chunk * KEY_SPAN + key);
          if (!c) continue;
          for (const id of chunkIds(c.ids)) deleteRaw.run(id, key);
          deleteChunk.run(chunk * KEY_SPAN + key);
        }
      }
      for (const [chunk, ofChunk] of open) {
        for (const id of ofChunk.get(key) ?? []) deleteRaw.run(id, key);
        ofChunk.delete(key);
        if (ofChunk.size === 0) open.delete(chunk);
      }
      deleteHeldOf.run(key);
      forgetState(key);
    },

    /** Marks a site's checks since a time as evidence of an incident, so retention keeps them. */
    attachToIncident(siteId: number, since: number, incidentId: number): void {
      for (const row of read(siteId, { since, enough: Number.MAX_SAFE_INTEGER })) holdRow.run(incidentId, row.id);
    },
  };
}

/** The startedAt of the `n`th newest row read so far. */
function nthNewest(rows: CheckRow[], n: number): number {
  return rows.map((r) => r.startedAt).sort((a, b) => b - a)[n - 1];
}

export type ChecksRepository = ReturnType<typeof createChecksRepository>;
