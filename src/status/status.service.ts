import type { Db } from '../db/client.js';
import type { Cause } from '../diagnosis/diagnosis.types.js';
import type { SiteView } from '../sites/sites.repository.js';
import { maintenanceAt } from '../sites/sites.maintenance.js';
import type { MaintenanceWindow } from '../sites/sites.table.js';
import type { Clock } from '../shared/clock.js';
import type { StatusSnapshot, TargetStatus } from './status.snapshot.js';

/** The status snapshot's base covers the hour rollups before this time (ms). */
export const HOUR_WATERMARK_KEY = 'rollup_hour_watermark';
/** Day rollups are written for every day before this time (ms). */
export const DAY_WATERMARK_KEY = 'rollup_day_watermark';

export interface UptimeFigures {
  '24h': number | null;
  '7d': number | null;
  '30d': number | null;
}


interface OpenIncident {
  id: number;
  site_id: number;
  kind: string;
  opened_at: number;
  failed_checks: number;
  causes: string;
}

const lastCheckOf = (s: TargetStatus | undefined) =>
  s?.last ? { at: s.last.at, outcome: s.last.outcome, statusCode: s.last.statusCode, totalMs: s.last.totalMs, ttfbMs: s.last.ttfbMs } : null;

/** The target's last seen leaf certificate (https): when it expires and who issued it. */
const certificateOf = (s: TargetStatus | undefined) => (s?.cert ? { expiresAt: s.cert.expiresAt, issuer: s.cert.issuer } : null);

const uptimeOf = (s: TargetStatus | undefined): UptimeFigures => s?.uptime ?? { '24h': null, '7d': null, '30d': null };

/**
 * What an entry reads from the database: the site's row and its open incident (rendered by SQLite
 * as JSON text); the rest comes from the status snapshot in memory.
 */
const entrySql = (full: boolean, where: 'one' | 'range') => `
  SELECT s.id AS id, s.name AS name, CASE WHEN s.paused THEN 'paused' ELSE s.state END AS state, s.url AS url, s.maintenance AS maintenance, (
      SELECT json_object(
        'id', i.id, 'kind', i.kind, 'openedAt', i.opened_at, 'failedChecks', i.failed_checks,
        'topCause', CASE WHEN json_array_length(i.causes) > 0 THEN json_object(
          'code', json_extract(i.causes, '$[0].code'),${full ? " 'summary', json_extract(i.causes, '$[0].summary')," : ''}
          'confidence', json_extract(i.causes, '$[0].confidence')) END)
      FROM incidents i WHERE i.site_id = s.id AND i.state = 'open' ORDER BY i.opened_at DESC LIMIT 1) AS incident
  FROM sites s
  WHERE ${where === 'one' ? 's.id = ?' : 's.id BETWEEN ? AND ?'}`;

interface SiteRow {
  id: number;
  name: string;
  state: string;
  url: string;
  maintenance: string;
  incident: string | null;
}

/** After LIST_BUDGET_MS of rendering, the list yields to the event loop. */
const LIST_BUDGET_MS = 40;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
/** Entries rendered per statement when most of a page is missing. */
const RANGE_ROWS = 500;
/**
 * How long after the last read of a list its changed entries are rendered in the background: twice
 * the time between its last two reads, so that a dashboard polling at any pace up to 2.5 min finds
 * them ready, within these bounds. A single read keeps the list warm for the shortest: each entry
 * rendered ahead lives until its site's next check, and at 1,000 sites @ 20 s five minutes of it
 * for a reader gone cost ~1 % of a core (bench/README.md, the sixth pass).
 */
const KEEP_WARM_MIN_MS = 60_000;
const KEEP_WARM_MAX_MS = 5 * 60_000;
const REFRESH_EVERY_MS = 250;
/** The most time one background pass renders for. */
const REFRESH_BUDGET_MS = 5;


/**
 * The columns of `sites` that an entry shows or that decide whether it is listed. An update of
 * any other column (the round marks that are written for every site in one sweep every
 * 10 minutes, `updated_at`) leaves the cached entries alone: marking every site for that would
 * make the next list render all of them again.
 */
const SITE_COLUMNS_SHOWN = ['name', 'url', 'state', 'paused', 'maintenance', 'public'];

/**
 * Sites whose status entry may have changed since it was rendered: the status snapshot tells of
 * its own changes (onChange), and temporary triggers on the tables an entry reads (sites,
 * incidents) mark the site whatever writes them. Temporary objects live with this connection
 * only; they are not part of the schema and need no migration.
 */
const DIRTY_SQL = `
  CREATE TEMP TABLE IF NOT EXISTS status_dirty (site_id INTEGER PRIMARY KEY);
  ${(
    [
      ['sites', 'id', ` OF ${SITE_COLUMNS_SHOWN.join(', ')}`],
      ['incidents', 'site_id', ''],
    ] as const
  )
    .flatMap(([table, column, updatedColumns]) =>
      (['INSERT', 'UPDATE', 'DELETE'] as const).map((op) => {
        // Not INSERT OR IGNORE: inside a trigger, the conflict clause of the statement that fired
        // it (an upsert's) would win over the trigger's own.
        const mark = (value: string) =>
          `INSERT INTO temp.status_dirty SELECT ${value} WHERE NOT EXISTS (SELECT 1 FROM temp.status_dirty WHERE site_id = ${value});`;
        const marks = op === 'INSERT' ? mark(`NEW.${column}`) : op === 'DELETE' ? mark(`OLD.${column}`) : mark(`NEW.${column}`) + mark(`OLD.${column}`);
        const event = op === 'UPDATE' ? `UPDATE${updatedColumns}` : op;
        return `CREATE TEMP TRIGGER IF NOT EXISTS status_dirty_${table}_${op.toLowerCase()} AFTER ${event} ON main.${table} BEGIN ${marks} END;`;
      }),
    )
    .join('\n')}`;

/**
 * Which sites a list holds changes only when a site is created or deleted, or made public or
 * private: temporary triggers leave a mark for those, and the listed ids are read again only after
 * one (a read inside a transaction keeps nothing: see listedIds).
 */
const MEMBERS_SQL = `
  CREATE TEMP TABLE IF NOT EXISTS status_members_changed (mark INTEGER PRIMARY KEY);
  ${(['INSERT', 'DELETE', 'UPDATE OF public'] as const)
    .map(
      (event) =>
        `CREATE TEMP TRIGGER IF NOT EXISTS status_members_${event.split(' ')[0].toLowerCase()} AFTER ${event} ON main.sites BEGIN
           INSERT INTO temp.status_members_changed SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM temp.status_members_changed);
         END;`,
    )
    .join('\n')}
  INSERT INTO temp.status_members_changed SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM temp.status_members_changed);`;

/**
 * Status of sites and their targets, read from the status snapshot (one row per target, kept
 * current by the recorder and housekeeping): the cost is one row per site, whatever the history.
 * Uptime covers the last 24 h / 7 d / 30 d to the hour (the full hours before the last hour
 * rollup, plus everything since); latency percentiles come from the 24 h histogram.
 *
 * The list keeps each site's rendered entry (public and full apart) until a trigger marks the site
 * changed, so that a list call renders only the sites checked or changed since the last one: at
 * 10,000 sites checked every minute and a list read every second, under 200 entries instead of all.
 */
export function createStatusService(db: Db, clock: Clock, snapshot: StatusSnapshot) {
  db.$client.exec(DIRTY_SQL);
  db.$client.exec(MEMBERS_SQL);
  /** Sites whose snapshot entry changed since the last forgetChanged (the triggers mark the rest). */
  const snapshotChanged = new Set<number>();
  snapshot.onChange((siteId) => snapshotChanged.add(siteId));
  const takeDirty = db.$client.prepare<[], { site_id: number }>('DELETE FROM temp.status_dirty RETURNING site_id');
  const takeMembersChanged = db.$client.prepare<[], number>('DELETE FROM temp.status_members_changed RETURNING mark').pluck();
  const allIds = db.$client.prepare<[], number>('SELECT id FROM sites ORDER BY id').pluck();
  // Without the token, only the sites marked public are listed (and counted).
  const publicIds = db.$client.prepare<[], number>('SELECT id FROM sites WHERE public = 1 ORDER BY id').pluck();
  const variant = (full: boolean) => ({
    one: db.$client.prepare<[number], SiteRow>(entrySql(full, 'one')),
    range: db.$client.prepare<[number, number], SiteRow>(entrySql(full, 'range')),
    full,
    cache: new Map<number, string>(),
    /** The ids this variant lists, ascending (null: to read again, see MEMBERS_SQL). */
    ids: null as number[] | null,
    /** When the list was last read in this variant (performance.now()). */
    readAt: -Infinity,
    /** How long after `readAt` it stays warm (KEEP_WARM_MIN_MS to KEEP_WARM_MAX_MS). */
    warmFor: KEEP_WARM_MIN_MS,
    /** Sites changed since, to render again in the background while the variant is warm. */
    toRender: new Set<number>(),
  });
  const rendered = { public: variant(false), full: variant(true) };
  const variants = [rendered.public, rendered.full];
  const warm = (v: (typeof variants)[number], now: number) => now - v.readAt < v.warmFor;
  let backgroundRenders = 0;
  let renders = 0;
  let refresher: NodeJS.Timeout | null = null;
  const openOf = db.$client.prepare<[number], OpenIncident>(
    `SELECT id, site_id, kind, opened_at, failed_checks, causes FROM incidents
     WHERE site_id = ? AND state = 'open' ORDER BY opened_at DESC LIMIT 1`,
  );

  /** Drops the cached entries of the sites marked since the last call (to render again if warm). */
  const forgetChanged = () => {
    const now = performance.now();
    const forget = (id: number) => {
      windowsOf.delete(id);
      for (const v of variants) {
        v.cache.delete(id);
        if (warm(v, now)) v.toRender.add(id);
      }
    };
    for (const { site_id: id } of takeDirty.all()) forget(id);
    for (const id of snapshotChanged) forget(id);
    snapshotChanged.clear();
  };

  /**
   * Maintenance windows of the sites with any, kept beside their cached entries: whether a site is
   * in maintenance changes with the clock, not with a row, so the cached entry of such a site
   * leaves `maintenance` out, to be added each time the list is read (see `withMaintenance`). Both
   * are set by `render` and dropped by `forgetChanged` together.
   */
  const windowsOf = new Map<number, MaintenanceWindow[]>();
  const maintenanceEntry = (windows: readonly MaintenanceWindow[] | undefined, full: boolean, now: number) => {
    const m = windows ? maintenanceAt(windows, now) : null;
    return m && !full ? { from: m.from, until: m.until } : m;
  };
  /** A cached entry as the list sends it: complete, or (a site with windows) completed with its maintenance now. */
  const withMaintenance = (id: number, cached: string, full: boolean, now: number) => {
    const windows = windowsOf.get(id);
    return windows ? `${cached},"maintenance":${JSON.stringify(maintenanceEntry(windows, full, now))}}` : cached;
  };

  /**
   * `text` as one flat string: JSON.stringify returns its text as a tree of concatenated pieces
   * (~140 B more a cached entry until a list read flattens it). Copied through one reused buffer:
   * a new Buffer per entry came from the pool's 8 KB blocks, malloc'd, and grew the C heap for good.
   */
  const scratch = Buffer.allocUnsafeSlow(64 * 1024);
  const flat = (text: string): string => {
    // At most 3 bytes a UTF-16 unit: a longer entry (a rare one) is kept as it is.
    if (text.length * 3 > scratch.length) return text;
    return scratch.toString('utf8', 0, scratch.write(text, 0, 'utf8'));
  };

  /**
   * One site's list entry as JSON text: its row and open incident, and its own target's snapshot;
   * for a site with maintenance windows, without its closing brace (withMaintenance closes it).
   */
  const render = (r: SiteRow, full: boolean): string => {
    renders++;
    const windows = JSON.parse(r.maintenance) as MaintenanceWindow[];
    if (windows.length > 0) windowsOf.set(r.id, windows);
    else windowsOf.delete(r.id);
    const own = snapshot.target(r.id, 'site');
    const last = own?.last;
    const lastCheck = last
      ? full
        ? { at: last.at, outcome: last.outcome, statusCode: last.statusCode, totalMs: last.totalMs, ttfbMs: last.ttfbMs, errorMessage: last.errorMessage }
        : { at: last.at, outcome: last.outcome, statusCode: last.statusCode, totalMs: last.totalMs, ttfbMs: last.ttfbMs }
      : null;
    const json = JSON.stringify({
      id: r.id,
      name: r.name,
      state: r.state,
      lastCheck,
      latencyMs: { last: last?.ttfbMs ?? null, p50_24h: own?.p50Ms24h ?? null, p95_24h: own?.p95Ms24h ?? null },
      uptime: uptimeOf(own),
      incident: r.incident === null ? null : (JSON.parse(r.incident) as unknown),
      certificate: certificateOf(own),
      url: full ? r.url : undefined,
      maintenance: windows.length > 0 ? undefined : null,
    });
    return flat(windows.length > 0 ? json.slice(0, -1) : json);
  };

  /**
   * While a list variant is warm (read in the last KEEP_WARM_MIN_MS to KEEP_WARM_MAX_MS), the entries that changed are
   * rendered again in the background, a few ms at a time, so that a dashboard's next read finds
   * them ready (at 10,000 sites checked every minute: ~170 entries a second, ~2 ms of CPU). The
   * timer starts with a read and stops when nothing has been read for that long.
   */
  const refresh = () => {
    if (!db.$client.open) return stopRefresher();
    forgetChanged();
    const now = performance.now();
    const until = now + REFRESH_BUDGET_MS;
    let anyWarm = false;
    for (const v of variants) {
      if (!warm(v, now)) {
        v.toRender.clear();
        continue;
      }
      anyWarm = true;
      for (const id of v.toRender) {
        if (performance.now() > until) return;
        v.toRender.delete(id);
        if (v.cache.has(id)) continue;
        const row = v.one.get(id);
        if (row) {
          v.cache.set(id, render(row, v.full));
          backgroundRenders++;
        }
      }
    }
    if (!anyWarm) stopRefresher();
  };
  const stopRefresher = () => {
    if (refresher) clearInterval(refresher);
    refresher = null;
  };

  /** The ids a variant lists, ascending: kept until a site is created, deleted, or made public or private. */
  const listedIds = (v: (typeof variants)[number]): number[] => {
    // Inside a transaction, a rollback would take back the write together with its mark: read, keep nothing.
    if (db.$client.inTransaction) return (v.full ? allIds : publicIds).all();
    if (takeMembersChanged.all().length > 0) for (const other of variants) other.ids = null;
    v.ids ??= (v.full ? allIds : publicIds).all();
    return v.ids;
  };

  /**
   * The entries (JSON text each) of a page of the list, from the cache where it holds them. Entries
   * not cached are rendered with the event loop let in every LIST_BUDGET_MS, so that a long list
   * does not hold up the scheduler.
   */
  const entries = async (offset: number, limit: number, full: boolean): Promise<{ parts: string[]; total: number }> => {
    const v = full ? rendered.full : rendered.public;
    const { one, range, cache } = v;
    forgetChanged();
    const readAt = performance.now();
    // A first read tells no pace: the shortest.
    v.warmFor = v.readAt === -Infinity ? KEEP_WARM_MIN_MS : Math.min(KEEP_WARM_MAX_MS, Math.max(KEEP_WARM_MIN_MS, 2 * (readAt - v.readAt)));
    v.readAt = readAt;
    refresher ??= setInterval(refresh, REFRESH_EVERY_MS).unref();
    const listed = listedIds(v);
    const ids = offset === 0 && limit < 0 ? listed : listed.slice(offset, limit < 0 ? undefined : offset + limit);
    const parts: string[] = [];
    const now = clock.now();
    let since = performance.now();
    const yieldIfLong = async () => {
      if (performance.now() - since <= LIST_BUDGET_MS) return;
      await new Promise((resolve) => setImmediate(resolve));
      forgetChanged();
      since = performance.now();
    };
    // Mostly missing (the first read, or the first after an interval without one): render the
    // page by id ranges, which costs half as much per entry as one statement per site.
    let missing = 0;
    for (const id of ids) if (!cache.has(id)) missing++;
    if (missing > ids.length / 4) {
      for (let i = 0; i < ids.length; i += RANGE_ROWS) {
        const last = ids[Math.min(i + RANGE_ROWS, ids.length) - 1];
        for (const row of range.all(ids[i], last)) cache.set(row.id, render(row, full));
        await yieldIfLong();
      }
    }
    for (const id of ids) {
      let entry = cache.get(id);
      if (entry === undefined) {
        const row = one.get(id);
        if (row === undefined) continue; // deleted while the list was read
        entry = render(row, full);
        cache.set(id, entry);
        await yieldIfLong();
      }
      parts.push(withMaintenance(id, entry, full, now));
    }
    return { parts, total: listed.length };
  };

  const incidentEntry = (incident: OpenIncident | undefined, full: boolean) => {
    if (!incident) return null;
    const top = (JSON.parse(incident.causes) as Cause[])[0];
    return {
      id: incident.id,
      kind: incident.kind,
      openedAt: incident.opened_at,
      failedChecks: incident.failed_checks,
      topCause: top ? { code: top.code, summary: full ? top.summary : undefined, confidence: top.confidence } : null,
    };
  };

  return {
    /**
     * The status entries of the sites by ascending id, `offset` then at most `limit` (-1: all), as the text
     * of a JSON array; without `full` only public sites are listed; `full` adds what only an authenticated caller may see (url, error message,
     * the top cause's summary). The same entries as `one` gives, without upstreams.
     */
    async listJson(offset: number, limit: number, full: boolean): Promise<string> {
      return `[${(await entries(offset, limit, full)).parts.join(',')}]`;
    },

    /**
     * The whole answer of `GET /api/status` as UTF-8 bytes: `generatedAt`, `total` (every site, or
     * every public one without `full`), `offset` and the entries `listJson` gives. The cached
     * entries are copied into one buffer: no string of the whole list is made (at 10,000 sites it
     * was 2.7 MB of V8 heap made twice a call, and encoded again when written).
     */
    async listBody(offset: number, limit: number, full: boolean, generatedAt: number): Promise<Buffer<ArrayBuffer>> {
      const { parts, total } = await entries(offset, limit, full);
      const head = `{"generatedAt":${generatedAt},"total":${total},"offset":${offset},"sites":[`;
      let bytes = head.length + parts.length + 1; // the commas between entries, and "]}"
      if (parts.length === 0) bytes++;
      for (const part of parts) bytes += Buffer.byteLength(part);
      const body = Buffer.allocUnsafe(bytes);
      let at = body.write(head, 0, 'latin1');
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) body[at++] = COMMA;
        at += body.write(parts[i], at);
      }
      body[at++] = CLOSE_BRACKET;
      body[at++] = CLOSE_BRACE;
      return body;
    },

    /** A listed site's maintenance windows (as of the last list read), for the public page's day bars. */
    maintenanceWindows(siteId: number): readonly MaintenanceWindow[] {
      return windowsOf.get(siteId) ?? [];
    },

    /** How many sites are public (what an anonymous list counts). */
    publicCount(): number {
      return listedIds(rendered.public).length;
    },

    /**
     * Entries kept rendered, entries waiting for a background render, renders done in the
     * background and in all, how long each variant stays warm after its last read (ms), and
     * whether the background timer runs.
     */
    cacheStats() {
      return {
        cached: rendered.public.cache.size + rendered.full.cache.size,
        waiting: rendered.public.toRender.size + rendered.full.toRender.size,
        backgroundRenders,
        renders,
        warmForMs: { public: rendered.public.warmFor, full: rendered.full.warmFor },
        /** Whether the background renders run (they stop once no variant is warm). */
        refreshing: refresher !== null,
      };
    },

    /** Stops the background renders (they also stop by themselves once the database is closed). */
    stop(): void {
      stopRefresher();
    },

    /** One site's entry with its upstreams. */
    one(site: SiteView, full: boolean) {
      const targets = snapshot.forSite(site.id);
      const own = targets.get('site');
      const lastCheck: Record<string, unknown> | null = lastCheckOf(own);
      const entry: Record<string, unknown> = {
        id: site.id,
        name: site.name,
        state: site.state,
        lastCheck,
        latencyMs: { last: own?.last?.ttfbMs ?? null, p50_24h: own?.p50Ms24h ?? null, p95_24h: own?.p95Ms24h ?? null },
        uptime: uptimeOf(own),
        incident: incidentEntry(openOf.get(site.id), full),
        certificate: certificateOf(own),
        maintenance: maintenanceEntry(site.maintenance, full, clock.now()),
      };
      if (full) {
        entry.url = site.url;
        if (lastCheck) lastCheck.errorMessage = own!.last!.errorMessage;
      }
      entry.upstreams = site.upstreams.map((u) => {
        const s = targets.get(String(u.id));
        const last: Record<string, unknown> | null = lastCheckOf(s);
        const base: Record<string, unknown> = {
          name: u.name,
          state: s?.last ? (s.last.outcome === 'ok' ? 'up' : 'down') : 'unknown',
          lastCheck: last,
          uptime: uptimeOf(s),
          certificate: certificateOf(s),
        };
        if (full) {
          base.id = u.id;
          base.url = u.url;
          if (last) Object.assign(last, { addresses: s!.last!.addresses, address: s!.last!.address, errorMessage: s!.last!.errorMessage });
        }
        return base;
      });
      return entry;
    },
  };
}

export type StatusService = ReturnType<typeof createStatusService>;
