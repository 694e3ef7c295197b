import type { Db } from '../db/client.js';
import type { GatewayLogFileRow } from './gatewaylog.table.js';
import type { GatewayLogConfig, GatewayLogEvent, GatewayLogFormat, LogEventKind, LogLineRelation } from './gatewaylog.types.js';

/** A site whose gateway log is followed, with what matching its lines needs. */
export interface LogSource {
  siteId: number;
  url: string;
  gatewayLog: GatewayLogConfig;
  upstreams: { id: number; name: string; url: string }[];
}

export interface NewLogLine {
  siteId: number;
  at: number;
  readAt: number;
  product: GatewayLogFormat;
  kind: LogEventKind;
  relation: LogLineRelation;
  upstreamId: string | null;
  upstream: string | null;
  message: string;
  raw: string;
}

/** A kept line as the API lists it. */
export type LogLineView = Omit<NewLogLine, 'siteId'> & { id: number; incidentId: number | null };

export interface FileState {
  inode: string | null;
  offset: number;
  state: GatewayLogFileRow['state'];
  message: string | null;
  since: number;
}

/** The gateway-log tables: lines kept per site, and where the follower is in each file. */
export function createGatewayLogRepository(db: Db) {
  const sqlite = db.$client;
  const selectSources = sqlite.prepare<[], { id: number; url: string; gateway_log: string }>(
    // The partial index's own condition (sites.table.ts), so that SQLite reads only that index.
    `SELECT id, url, gateway_log FROM sites WHERE gateway_log IS NOT NULL AND gateway_log <> 'null'`,
  );
  const selectUpstreams = sqlite.prepare<[number], { id: number; name: string; url: string }>(
    'SELECT id, name, url FROM upstreams WHERE site_id = ? ORDER BY position',
  );
  const selectFile = sqlite.prepare<[string], { inode: string | null; offset: number; state: FileState['state']; message: string | null; since: number }>(
    'SELECT inode, offset, state, message, since FROM gateway_log_files WHERE path = ?',
  );
  const upsertFile = sqlite.prepare(
    `INSERT INTO gateway_log_files (path, inode, offset, state, message, since, updated_at) VALUES (@path, @inode, @offset, @state, @message, @since, @now)
     ON CONFLICT(path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset, state = excluded.state,
       message = excluded.message, since = excluded.since, updated_at = excluded.updated_at`,
  );
  const insertLine = sqlite.prepare(
    `INSERT INTO gateway_log_lines (site_id, at, read_at, product, kind, relation, upstream_id, upstream, message, raw)
     VALUES (@siteId, @at, @readAt, @product, @kind, @relation, @upstreamId, @upstream, @message, @raw)`,
  );
  const selectLines = sqlite.prepare<[number, number], Record<string, unknown>>(
    `SELECT id, at, read_at AS readAt, product, kind, relation, upstream_id AS upstreamId, upstream, message, raw, incident_id AS incidentId
     FROM gateway_log_lines WHERE site_id = ? ORDER BY at DESC, id DESC LIMIT ?`,
  );
  const selectEvents = sqlite.prepare<[number, number, number], GatewayLogEvent>(
    `SELECT at, kind, relation, upstream_id AS upstreamId, upstream, message FROM
       (SELECT * FROM gateway_log_lines WHERE site_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?)
     ORDER BY at, id`,
  );
  const attach = sqlite.prepare('UPDATE gateway_log_lines SET incident_id = ? WHERE site_id = ? AND at >= ? AND incident_id IS NULL');
  const pruneOld = sqlite.prepare(
    'DELETE FROM gateway_log_lines WHERE rowid IN (SELECT rowid FROM gateway_log_lines WHERE read_at < ? AND incident_id IS NULL LIMIT ?)',
  );
  const sitesWithLines = sqlite.prepare<[], { site_id: number }>('SELECT DISTINCT site_id FROM gateway_log_lines');
  const pruneBeyond = sqlite.prepare(
    `DELETE FROM gateway_log_lines WHERE site_id = @siteId AND incident_id IS NULL AND id <= (
       SELECT id FROM gateway_log_lines WHERE site_id = @siteId AND incident_id IS NULL ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
  );
  const insertLines = sqlite.transaction((lines: NewLogLine[], file: { path: string } & Omit<FileState, 'message'> & { message: string | null; now: number }) => {
    for (const line of lines) insertLine.run(line);
    upsertFile.run(file);
  });

  return {
    /** Every site with a gateway log (a partial index keeps this cheap however many sites there are). */
    sources(): LogSource[] {
      const out: LogSource[] = [];
      for (const row of selectSources.all()) {
        const gatewayLog = JSON.parse(row.gateway_log) as GatewayLogConfig | null;
        if (!gatewayLog?.path || !gatewayLog.format) continue;
        out.push({ siteId: row.id, url: row.url, gatewayLog, upstreams: selectUpstreams.all(row.id) });
      }
      return out;
    },

    file(path: string): FileState | undefined {
      return selectFile.get(path);
    },

    /**
     * What the site's owner sees of following its log: `following`, `missing` or `error` (with
     * the reason), or `pending` until the follower first looks at the file.
     */
    status(gatewayLog: GatewayLogConfig | null): { state: FileState['state'] | 'pending'; message: string | null; since: number | null } | null {
      if (!gatewayLog) return null;
      const file = selectFile.get(gatewayLog.path);
      if (!file) return { state: 'pending', message: 'not read yet: the follower looks at the file every second', since: null };
      return { state: file.state, message: file.message, since: file.since };
    },

    /** Stores new lines and the file's position together: a crash between them never re-reads or loses a line. */
    save(path: string, state: Omit<FileState, 'message'> & { message?: string | null }, lines: NewLogLine[], now: number) {
      insertLines(lines, { path, ...state, message: state.message ?? null, now });
    },

    /** The lines kept for a site, newest first. */
    list(siteId: number, limit: number): LogLineView[] {
      return selectLines.all(siteId, limit) as unknown as LogLineView[];
    },

    /** Up to `limit` of the newest lines of a site since `since`, oldest first: what diagnosis reads. */
    events(siteId: number, since: number, limit = 2000): GatewayLogEvent[] {
      return selectEvents.all(siteId, since, limit);
    },

    /** Keeps the lines an incident cites as long as the incident. */
    attachToIncident(siteId: number, from: number, incidentId: number) {
      attach.run(incidentId, siteId, from);
    },

    /** Deletes up to `limit` lines read before `before` that no incident cites; returns how many. */
    pruneOlderThan(before: number, limit: number): number {
      return pruneOld.run(before, limit).changes;
    },

    /** Keeps at most the newest `keep` lines per site that no incident cites (a flooding gateway cannot fill the disk). */
    capPerSite(keep: number): number {
      let n = 0;
      for (const { site_id } of sitesWithLines.all()) n += pruneBeyond.run({ siteId: site_id, keep }).changes;
      return n;
    },
  };
}

export type GatewayLogRepository = ReturnType<typeof createGatewayLogRepository>;
