/** What the pages read that the JSON routes' repositories do not offer: incidents with their site's name and audience. */
import type { Db } from '../db/client.js';
import type { Cause, IncidentEvent } from '../diagnosis/diagnosis.types.js';

export interface IncidentListItem {
  id: number;
  siteId: number;
  siteName: string;
  sitePublic: boolean;
  state: 'open' | 'resolved';
  kind: string;
  firstFailureAt: number;
  openedAt: number;
  resolvedAt: number | null;
  failedChecks: number;
  topCause: string | null;
}

export interface IncidentDetail extends IncidentListItem {
  causes: Cause[];
  timeline: IncidentEvent[];
}

interface Row {
  id: number;
  site_id: number;
  site_name: string;
  site_public: number;
  state: 'open' | 'resolved';
  kind: string;
  first_failure_at: number;
  opened_at: number;
  resolved_at: number | null;
  failed_checks: number;
  top_cause: string | null;
}

const COLUMNS = `i.id, i.site_id, s.name AS site_name, s.public AS site_public, i.state, i.kind, i.first_failure_at, i.opened_at,
  i.resolved_at, i.failed_checks, json_extract(i.causes, '$[0].code') AS top_cause`;

const toItem = (r: Row): IncidentListItem => ({
  id: r.id,
  siteId: r.site_id,
  siteName: r.site_name,
  sitePublic: r.site_public === 1,
  state: r.state,
  kind: r.kind,
  firstFailureAt: r.first_failure_at,
  openedAt: r.opened_at,
  resolvedAt: r.resolved_at,
  failedChecks: r.failed_checks,
  topCause: r.top_cause,
});

export function createPagesRepository(db: Db) {
  const sqlite = db.$client;
  const open = sqlite.prepare<[number], Row>(
    `SELECT ${COLUMNS} FROM incidents i JOIN sites s ON s.id = i.site_id
     WHERE i.state = 'open' AND (? = 0 OR s.public = 1)
     ORDER BY i.opened_at DESC, i.id DESC`,
  );
  const resolved = sqlite.prepare<[number, number, number], Row>(
    `SELECT ${COLUMNS} FROM incidents i JOIN sites s ON s.id = i.site_id
     WHERE i.state = 'resolved' AND i.resolved_at >= ? AND (? = 0 OR s.public = 1)
     ORDER BY i.opened_at DESC, i.id DESC LIMIT ?`,
  );
  const ofSite = sqlite.prepare<[number, number], Row>(
    `SELECT ${COLUMNS} FROM incidents i JOIN sites s ON s.id = i.site_id WHERE i.site_id = ? ORDER BY i.opened_at DESC, i.id DESC LIMIT ?`,
  );
  const one = sqlite.prepare<[number], Row & { causes: string; timeline: string }>(
    `SELECT ${COLUMNS}, i.causes, i.timeline FROM incidents i JOIN sites s ON s.id = i.site_id WHERE i.id = ?`,
  );
  return {
    /**
     * Every incident open now (at most one per site, so never cut), newest first; `publicOnly`
     * keeps those of public sites.
     */
    open(opts: { publicOnly: boolean }): IncidentListItem[] {
      return open.all(opts.publicOnly ? 1 : 0).map(toItem);
    },
    /** Incidents resolved since `since`, newest first, at most `limit`; `publicOnly` as above. */
    resolved(since: number, opts: { publicOnly: boolean; limit: number }): IncidentListItem[] {
      return resolved.all(since, opts.publicOnly ? 1 : 0, opts.limit).map(toItem);
    },
    ofSite(siteId: number, limit: number): IncidentListItem[] {
      return ofSite.all(siteId, limit).map(toItem);
    },
    get(id: number): IncidentDetail | undefined {
      const r = one.get(id);
      return r && { ...toItem(r), causes: JSON.parse(r.causes), timeline: JSON.parse(r.timeline) };
    },
  };
}

export type PagesRepository = ReturnType<typeof createPagesRepository>;
