import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';

/**
 * The per-target families, in the order they are exposed; each site keeps its lines of each one
 * encoded, so that a scrape copies bytes instead of rendering 130,000 lines at 10,000 sites.
 *
 * Why hand-written and not prom-client gauges: prom-client keeps each sample as an object in a
 * label map and renders every one of them again at each scrape (10,000 sites took seconds); these
 * are the same text-format lines (names, HELP, TYPE, label escaping as DESIGN.md "Metrics"),
 * rendered once per change of the site.
 */
export const TARGET_FAMILIES = [
  ['gatewatch_probe_success', 'Whether the last check of the target succeeded (1) or not (0).'],
  ['gatewatch_probe_duration_seconds', 'Phases of the last check of the target, cumulative from its start (dns, connect, tls, ttfb, total).'],
  ['gatewatch_probe_http_status_code', 'HTTP status of the last check of the target (absent when none was received).'],
  ['gatewatch_cert_expiry_timestamp_seconds', 'When the leaf certificate last seen on the target expires (unix seconds).'],
  ['gatewatch_site_state', 'The site state: 1 for the current one (up, degraded, down, paused, unknown).'],
  ['gatewatch_incident_open', 'An open incident of the site, labelled with its top cause.'],
] as const;
const FAMILIES = TARGET_FAMILIES.length;

const SITE_STATES = new Set(['up', 'degraded', 'down', 'paused', 'unknown']);
const PHASES = ['dns', 'connect', 'tls', 'ttfb', 'total'] as const;
/** Background re-rendering works this long (ms) before it yields to the event loop. */
const SLICE_MS = 4;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);
const seconds = (ms: number) => String(ms / 1000);
export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One target's last check, as its series need it (one entry per target, replaced by each check). */
interface Target {
  /** The check's target name: the label until the site's upstream names are read again. */
  name: string;
  /** startedAt of the last check: an older one arriving late never replaces a newer one. */
  at: number;
  ok: boolean | null;
  statusCode: number | null;
  phases: (number | null)[];
  /** The last certificate seen (kept when a later check saw none), unix ms. */
  certAt: number | null;
}

interface Site {
  id: number;
  name: string;
  state: string;
  cause: string | null;
  targets: Map<string, Target>;
  /** Upstream names by target key (the upstream's id). */
  upstreams: Map<string, string>;
  /** The site's lines of each family, one after the other, and where each family's begin and end. */
  block: Buffer | null;
  offsets: number[];
  /** Its name, state or incident may have changed: read them again before the next render. */
  metaStale: boolean;
}

/**
 * The per-target families, kept per site and re-rendered only when the site changes: a check
 * recorded for it (`observe`), an edit or deletion (`siteChanged`, `siteRemoved`). Stale sites
 * are rendered in the background in slices of a few ms from start and after each recorded batch,
 * so a scrape mostly copies ready blocks (`write`). Per-target values come from the checks as they
 * are recorded (in memory); a stale site's name, state, open incident and upstream names are read
 * by primary key when it is rendered again.
 */
export function createSiteBlocks(db: Db) {
  const sqlite = db.$client;
  const sites = new Map<number, Site>();
  const stale = new Set<Site>();
  const selectMeta = sqlite.prepare<[number], { name: string; state: string; paused: number; cause: string | null }>(
    `SELECT name, state, paused,
       (SELECT json_extract(causes, '$[0].code') FROM incidents WHERE site_id = sites.id AND state = 'open' LIMIT 1) AS cause
     FROM sites WHERE id = ?`,
  );
  const selectUpstreams = sqlite.prepare<[number], { id: number; name: string }>('SELECT id, name FROM upstreams WHERE site_id = ?');

  const siteOf = (id: number): Site => {
    let site = sites.get(id);
    if (!site) {
      site = { id, name: '', state: 'unknown', cause: null, targets: new Map(), upstreams: new Map(), block: null, offsets: [], metaStale: true };
      sites.set(id, site);
    }
    return site;
  };
  const markStale = (site: Site, meta: boolean) => {
    if (meta) site.metaStale = true;
    stale.add(site);
    kick();
  };

  /** Reads what the site's lines need besides its checks; false when the site is gone. */
  const readMeta = (site: Site): boolean => {
    const meta = selectMeta.get(site.id);
    if (!meta) return false;
    site.name = meta.name;
    site.state = meta.paused ? 'paused' : SITE_STATES.has(meta.state) ? meta.state : 'unknown';
    site.cause = meta.cause;
    site.upstreams = new Map(selectUpstreams.all(site.id).map((u) => [String(u.id), u.name]));
    for (const key of site.targets.keys()) if (key !== 'site' && !site.upstreams.has(key)) site.targets.delete(key); // a removed upstream
    site.metaStale = false;
    return true;
  };

  const render = (site: Site): void => {
    if (site.metaStale && !readMeta(site)) {
      sites.delete(site.id);
      return;
    }
    const base = `site_id="${site.id}",site="${esc(site.name)}"`;
    const parts: string[] = ['', '', '', '', '', ''];
    for (const [key, t] of site.targets) {
      const labels = `${base},target="${esc(key === 'site' ? 'site' : (site.upstreams.get(key) ?? t.name))}"`;
      if (t.ok !== null) {
        parts[0] += `gatewatch_probe_success{${labels}} ${t.ok ? 1 : 0}\n`;
        for (let k = 0; k < PHASES.length; k++) {
          const ms = t.phases[k];
          if (ms !== null) parts[1] += `gatewatch_probe_duration_seconds{${labels},phase="${PHASES[k]}"} ${seconds(ms)}\n`;
        }
        if (t.statusCode !== null) parts[2] += `gatewatch_probe_http_status_code{${labels}} ${t.statusCode}\n`;
      }
      if (t.certAt !== null) parts[3] += `gatewatch_cert_expiry_timestamp_seconds{${labels}} ${Math.floor(t.certAt / 1000)}\n`;
    }
    // Only the current state's series (value 1), as DESIGN.md says: a state the site left goes
    // stale in Prometheus. Five series per site would double the exposition at 10,000 sites.
    parts[4] = `gatewatch_site_state{${base},state="${site.state}"} 1\n`;
    if (site.cause !== null) parts[5] = `gatewatch_incident_open{${base},cause="${esc(site.cause)}"} 1\n`;
    const offsets = [0];
    for (const p of parts) offsets.push(offsets[offsets.length - 1] + Buffer.byteLength(p));
    const block = Buffer.allocUnsafe(offsets[FAMILIES]);
    for (let f = 0; f < FAMILIES; f++) block.write(parts[f], offsets[f]);
    site.block = block;
    site.offsets = offsets;
  };

  /** Renders stale sites until `budgetMs` has passed; true when none is left. */
  const renderFor = (budgetMs: number): boolean => {
    if (!sqlite.open) {
      stale.clear();
      return true;
    }
    const until = performance.now() + budgetMs;
    let n = 0;
    for (const site of stale) {
      stale.delete(site);
      if (sites.get(site.id) === site) render(site);
      if (++n % 16 === 0 && performance.now() >= until) return stale.size === 0;
    }
    return true;
  };

  let running = false;
  let stopped = false;
  /** Starts the background renderer when it is not running: slices of SLICE_MS, one per turn of the event loop. */
  function kick() {
    if (running || stopped) return;
    running = true;
    const slice = () => {
      if (stopped || renderFor(SLICE_MS)) {
        running = false;
        return;
      }
      setImmediate(slice);
    };
    setImmediate(slice);
  }

  /** At start: every site, its last certificates (the per-target checks arrive with the next rounds). */
  const load = () => {
    for (const s of sqlite.prepare<[], { id: number }>('SELECT id FROM sites ORDER BY id').all()) markStale(siteOf(s.id), true);
    const certs = sqlite.prepare<[], { site_id: number; target: string; cert_expires_at: number }>(
      'SELECT site_id, target, cert_expires_at FROM status_snapshot WHERE cert_expires_at IS NOT NULL',
    );
    for (const c of certs.all()) {
      const site = sites.get(c.site_id);
      if (site) site.targets.set(c.target, { name: c.target, at: 0, ok: null, statusCode: null, phases: [], certAt: c.cert_expires_at });
    }
  };
  load();

  return {
    /** Takes stored checks (after each recorded batch): each target's last one; their sites go stale. */
    observe(row: CheckRow): void {
      const site = siteOf(row.siteId);
      const prev = site.targets.get(row.target);
      if (prev && prev.at > row.startedAt) return;
      site.targets.set(row.target, {
        name: row.targetName,
        at: row.startedAt,
        ok: row.outcome === 'ok',
        statusCode: row.statusCode,
        phases: [row.dnsMs, row.connectMs, row.tlsMs, row.ttfbMs, row.totalMs],
        certAt: row.certExpiresAt ?? prev?.certAt ?? null,
      });
      // The recorder may have changed the site's state or incident in the same transaction.
      markStale(site, true);
    },

    /** The site was created or edited (name, upstreams, paused). */
    siteChanged(id: number): void {
      markStale(siteOf(id), true);
    },

    siteRemoved(id: number): void {
      const site = sites.get(id);
      if (!site) return;
      sites.delete(id);
      stale.delete(site);
    },

    /** Renders what is still stale, yielding to the event loop every SLICE_MS. */
    async renderStale(): Promise<void> {
      while (!renderFor(SLICE_MS)) await yieldToLoop();
    },

    /** The sites' encoded blocks in site order, with where each family's lines begin and end in it. */
    *blocks(): Generator<{ block: Buffer; offsets: readonly number[] }> {
      for (const site of sites.values()) if (site.block) yield site as { block: Buffer; offsets: readonly number[] };
    },

    /** Stale sites and all sites (for the bench and tests). */
    counts: () => ({ sites: sites.size, stale: stale.size }),

    stop(): void {
      stopped = true;
    },
  };
}

export type SiteBlocks = ReturnType<typeof createSiteBlocks>;
