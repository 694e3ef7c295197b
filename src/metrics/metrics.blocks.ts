import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { constants, deflateRawSync } from 'node:zlib';
import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';
import type { TargetStatus } from '../status/status.snapshot.js';

/**
 * The per-target families, in the order they are exposed; each group of sites keeps its lines of
 * each one encoded, so that a scrape writes buffers instead of rendering 130,000 lines at 10,000 sites.
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
/** Rendering (in the background or while a scrape streams) works this long (ms) before it yields to the event loop. */
const SLICE_MS = 4;
/** The background pass runs this long (ms) before the next expected scrape. */
const PASS_LEAD_MS = 1_000;
/** Two scrapes closer than this (ms) say nothing of the scrape interval (a person, a second scraper). */
const MIN_SCRAPE_EVERY_MS = 2_000;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);
const seconds = (ms: number) => String(ms / 1000);
/**
 * A piece of a gzip member's deflate stream: compressed on its own and ended with a sync flush, so
 * that pieces compressed at different times can follow each other (gzip.ts writes the member).
 */
export const rawDeflate = (piece: Buffer) =>
  // Copied: zlib's answer can be a slice of its 16 KiB output buffer, which a kept piece would hold on to.
  Buffer.from(deflateRawSync(piece, { level: 1, finishFlush: constants.Z_SYNC_FLUSH }));

/** One target's last check, as its series need it (one entry per target, replaced by each check). */
interface Target {
  /** The check's target name: the label when the upstream is not (or no longer) known. */
  name: string;
  /** startedAt of the last check: an older one arriving late never replaces a newer one. */
  at: number;
  ok: boolean | null;
  statusCode: number | null;
  phases: (number | null)[];
  /** The last certificate seen (kept when a later check saw none), unix ms. */
  certAt: number | null;
}

/** One site's per-target last checks, and its lines of each family as last rendered. */
interface SiteLines {
  targets: Map<string, Target>;
  /**
   * Its lines of every family, encoded, one family after the other (`ends[f]` is where family f
   * ends); null until first rendered. Encoded once per change, so a group rendered again because
   * of a few of its sites copies the others' bytes instead of encoding 150 KB of text.
   */
  lines: Buffer | null;
  ends: number[];
}

/**
 * The sites whose ids share `Math.floor(id / GROUP_SIZE)`: the unit that is rendered again. A
 * group keeps each family's lines of its sites as one Buffer, so a scrape writes about 80 ready
 * buffers per family at 10,000 sites, and copies nothing.
 */
interface Group {
  key: number;
  /** The group's sites, by id. */
  sites: Map<number, SiteLines>;
  /** Sites to render again: a check came, or the site was created, edited or deleted. */
  changed: Set<number>;
  /** Each family's lines (TARGET_FAMILIES order); null until first rendered. */
  families: Buffer[] | null;
  /** The same, each compressed on its own (rawDeflate), once a gzip scrape has been asked for. */
  deflated: Buffer[] | null;
}

/** Sites per group: ~1 ms to render one (three range queries and its sites' lines). */
const GROUP_SIZE = 128;

/** Each target's last check as the in-memory status snapshot holds it (`StatusSnapshot.forSite`). */
export interface LastChecks {
  forSite(siteId: number): Map<string, TargetStatus>;
}

/** One piece of the exposition: its text, and the same compressed on its own (rawDeflate) when kept so. */
export interface Piece {
  raw: Buffer;
  deflated: Buffer | null;
}

/**
 * The per-target families, kept per group of sites and rendered again only when one of its sites
 * changes: a check recorded for it (`observe`), an edit or a deletion (`siteChanged`,
 * `siteRemoved`). Stale groups are rendered in slices of a few ms: once at start (from the status
 * snapshot's last checks, so the first scrape has every target), in a background pass about a
 * second before each expected scrape (only once scrapes have shown their interval: nobody
 * scraping costs no rendering), and what is still stale while the scrape streams (`scrape`).
 * Per-target values are the checks as recorded (kept in memory); names, states, open incidents
 * and upstream names are read when a changed site is rendered.
 */
export function createSiteBlocks(db: Db, lastChecks?: LastChecks) {
  const sqlite = db.$client;
  const groups = new Map<number, Group>();
  /** Group keys in ascending order, for the scrape; null when a group was added or removed. */
  let order: Group[] | null = null;
  const stale = new Set<Group>();
  /** Whether groups keep their lines compressed too: from the first gzip scrape on (Prometheus always asks for it). */
  let gzipAsked = false;
  const selectSites = sqlite.prepare<[number, number], { id: number; name: string; state: string; paused: number }>(
    'SELECT id, name, state, paused FROM sites WHERE id >= ? AND id < ? ORDER BY id',
  );
  const selectUpstreams = sqlite.prepare<[number, number], { id: number; site_id: number; name: string }>(
    'SELECT id, site_id, name FROM upstreams WHERE site_id >= ? AND site_id < ?',
  );
  const selectOpen = sqlite.prepare<[number, number], { site_id: number; cause: string | null }>(
    `SELECT site_id, json_extract(causes, '$[0].code') AS cause FROM incidents WHERE site_id >= ? AND site_id < ? AND state = 'open'`,
  );

  const groupOf = (siteId: number): Group => {
    const key = Math.floor(siteId / GROUP_SIZE);
    let group = groups.get(key);
    if (!group) {
      group = { key, sites: new Map(), changed: new Set(), families: null, deflated: null };
      groups.set(key, group);
      order = null;
    }
    return group;
  };
  const markStale = (group: Group, siteId: number) => {
    group.changed.add(siteId);
    stale.add(group);
  };

  const siteOf = (group: Group, id: number): SiteLines => {
    let site = group.sites.get(id);
    if (!site) group.sites.set(id, (site = { targets: new Map(), lines: null, ends: [] }));
    return site;
  };

  /** One site's lines of each family, encoded into `site.lines` and `site.ends`. */
  const renderSite = (row: { id: number; name: string }, site: SiteLines, state: string, cause: string | undefined, upstreams: Map<string, string>): void => {
    const base = `site_id="${row.id}",site="${esc(row.name)}"`;
    const lines: string[][] = [[], [], [], [], [], []];
    for (const [key, t] of site.targets) {
      const name = key === 'site' ? 'site' : upstreams.get(key);
      if (name === undefined) {
        site.targets.delete(key); // a removed upstream
        continue;
      }
      const labels = `${base},target="${esc(name)}"`;
      if (t.ok !== null) {
        lines[0].push(`gatewatch_probe_success{${labels}} ${t.ok ? 1 : 0}\n`);
        for (let k = 0; k < PHASES.length; k++) {
          const ms = t.phases[k];
          if (ms !== null) lines[1].push(`gatewatch_probe_duration_seconds{${labels},phase="${PHASES[k]}"} ${seconds(ms)}\n`);
        }
        if (t.statusCode !== null) lines[2].push(`gatewatch_probe_http_status_code{${labels}} ${t.statusCode}\n`);
      }
      if (t.certAt !== null) lines[3].push(`gatewatch_cert_expiry_timestamp_seconds{${labels}} ${Math.floor(t.certAt / 1000)}\n`);
    }
    // Only the current state's series (value 1), as DESIGN.md says: a state the site left goes
    // stale in Prometheus. Five series per site would double the exposition at 10,000 sites.
    lines[4].push(`gatewatch_site_state{${base},state="${state}"} 1\n`);
    if (cause !== undefined) lines[5].push(`gatewatch_incident_open{${base},cause="${esc(cause)}"} 1\n`);
    const texts = lines.map((l) => l.join(''));
    site.ends = [];
    let end = 0;
    for (const text of texts) site.ends.push((end += Buffer.byteLength(text)));
    // Its own memory (not a slice of Node's shared 8 KB pool, which any one live slice would keep).
    const bytes = Buffer.allocUnsafeSlow(end);
    let at = 0;
    for (const text of texts) at += bytes.write(text, at);
    site.lines = bytes;
  };

  /**
   * Reads sites `from` to `to` - 1 (rows, upstream names, open incidents' causes) and renders
   * those `pick` accepts; the ids found.
   */
  const renderRange = (group: Group, from: number, to: number, pick: (id: number) => boolean): Set<number> => {
    const rows = selectSites.all(from, to);
    const upstreams = new Map<number, Map<string, string>>();
    for (const u of selectUpstreams.all(from, to)) {
      const names = upstreams.get(u.site_id) ?? new Map<string, string>();
      names.set(String(u.id), u.name);
      upstreams.set(u.site_id, names);
    }
    const open = new Map(selectOpen.all(from, to).map((i) => [i.site_id, i.cause ?? 'unknown']));
    const found = new Set<number>();
    for (const row of rows) {
      found.add(row.id);
      if (!pick(row.id)) continue;
      const state = row.paused ? 'paused' : SITE_STATES.has(row.state) ? row.state : 'unknown';
      renderSite(row, siteOf(group, row.id), state, open.get(row.id), upstreams.get(row.id) ?? new Map<string, string>());
    }
    return found;
  };

  /**
   * The group's lines of each family. Only its changed sites are read and rendered again (a
   * site's state and incident change with its checks, its name and upstreams with an edit): one
   * by one when they are few, by the group's id range when many; the others' bytes are copied.
   */
  const render = (group: Group): void => {
    const changed = group.changed;
    group.changed = new Set();
    if (changed.size > GROUP_SIZE / 8) {
      const from = group.key * GROUP_SIZE;
      const found = renderRange(group, from, from + GROUP_SIZE, (id) => changed.has(id) || !group.sites.get(id)?.lines);
      for (const id of changed) if (!found.has(id)) group.sites.delete(id); // deleted
    } else {
      for (const id of changed) if (renderRange(group, id, id + 1, () => true).size === 0) group.sites.delete(id);
    }
    const rendered = [...group.sites.keys()]
      .sort((a, b) => a - b)
      .map((id) => group.sites.get(id)!)
      .filter((site) => site.lines !== null);
    const sizes = [0, 0, 0, 0, 0, 0];
    const startOf = (site: SiteLines, f: number) => (f === 0 ? 0 : site.ends[f - 1]);
    for (const site of rendered) for (let f = 0; f < FAMILIES; f++) sizes[f] += site.ends[f] - startOf(site, f);
    const before = group.families;
    const fresh = sizes.map((n) => Buffer.allocUnsafeSlow(n));
    const at = [0, 0, 0, 0, 0, 0];
    for (const site of rendered) {
      for (let f = 0; f < FAMILIES; f++) at[f] += site.lines!.copy(fresh[f], at[f], startOf(site, f), site.ends[f]);
    }
    const families = fresh.map((raw, f) => (before && before[f].equals(raw) ? before[f] : raw));
    // A family whose bytes did not change keeps its compressed piece (site states, incidents,
    // certificates mostly): only what changed is compressed again.
    const kept = group.deflated;
    group.deflated = gzipAsked ? families.map((raw, f) => (kept && before?.[f] === raw ? kept[f] : rawDeflate(raw))) : null;
    group.families = families;
  };

  /** Takes a stale group off the list and renders it, unless it was dropped meanwhile. */
  const renderGroup = (group: Group): void => {
    stale.delete(group);
    if (groups.get(group.key) === group) render(group);
  };

  /** Renders the group now if it is stale (a scrape reaching it), unless the database is closed. */
  const renderIfStale = (group: Group): void => {
    if (stale.has(group) && sqlite.open) renderGroup(group);
  };

  /** Renders stale groups until `budgetMs` has passed; true when none is left. */
  const renderFor = (budgetMs: number): boolean => {
    if (!sqlite.open) {
      stale.clear();
      return true;
    }
    const until = performance.now() + budgetMs;
    for (const group of stale) {
      renderGroup(group);
      if (performance.now() >= until) return stale.size === 0;
    }
    return true;
  };

  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let lastScrape = 0;
  /** The interval between the last two scrapes (ms); 0 until two have come. */
  let scrapeEvery = 0;
  /** Renders every stale group, in slices of SLICE_MS, one per turn of the event loop. */
  const pass = () => {
    timer = null;
    if (running || stopped) return;
    running = true;
    const slice = () => {
      if (stopped || renderFor(SLICE_MS)) {
        running = false;
        return;
      }
      setImmediate(slice);
    };
    slice();
  };
  /** Plans a background pass in `delayMs` (replacing one planned). */
  const planPass = (delayMs: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(pass, Math.max(0, delayMs));
    timer.unref();
  };
  /**
   * A scrape came: learns the interval, and plans one pass PASS_LEAD_MS before the next expected
   * one, so that it finds little stale. Checks arrive all the time and a group rendered for one is
   * rendered again for the next, so rendering more often than scrapes come is wasted; when scrapes
   * stop, so do the passes.
   */
  const scraped = () => {
    const now = performance.now();
    if (lastScrape > 0 && now - lastScrape >= MIN_SCRAPE_EVERY_MS) scrapeEvery = now - lastScrape;
    lastScrape = now;
    if (scrapeEvery > 0) planPass(scrapeEvery - PASS_LEAD_MS);
  };

  /**
   * At start: every site's group, with each target's last check from the status snapshot (it
   * keeps the total and ttfb phases; dns, connect and tls come back with the target's next check).
   */
  const load = () => {
    for (const s of sqlite.prepare<[], { id: number }>('SELECT id FROM sites ORDER BY id').all()) {
      const site = siteOf(groupOf(s.id), s.id);
      for (const [target, status] of lastChecks?.forSite(s.id) ?? []) {
        const last = status.last;
        if (last === null && status.cert === null) continue;
        site.targets.set(target, {
          name: target,
          at: last?.at ?? 0,
          ok: last ? last.outcome === 'ok' : null,
          statusCode: last?.statusCode ?? null,
          phases: [null, null, null, last?.ttfbMs ?? null, last?.totalMs ?? null],
          certAt: status.cert?.expiresAt ?? null,
        });
      }
    }
    for (const group of groups.values()) {
      for (const id of group.sites.keys()) group.changed.add(id);
      stale.add(group);
    }
    planPass(0);
  };
  load();

  return {
    /** Takes a stored check (after each recorded batch): the target's last one; its group goes stale. */
    observe(row: CheckRow): void {
      const group = groupOf(row.siteId);
      const site = siteOf(group, row.siteId);
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
      markStale(group, row.siteId);
    },

    /** The site was created, edited (name, upstreams, paused) or deleted. */
    siteChanged(id: number): void {
      markStale(groupOf(id), id);
    },

    /** Renders every stale group now, yielding to the event loop every SLICE_MS (what the pass before a scrape does; the bench). */
    async renderStale(): Promise<void> {
      while (!renderFor(SLICE_MS)) await yieldToLoop();
    },

    /**
     * The per-target families for one scrape: for each (TARGET_FAMILIES order) `header(family)`,
     * then every group's lines of it in site order, with the same compressed on its own when
     * `gzip` (kept compressed from then on). A group still stale is rendered when the scrape
     * reaches it, yielding to the event loop every SLICE_MS; every family shows the groups as
     * they were when the first one was written.
     */
    async *scrape(gzip: boolean, header: (family: number) => Piece): AsyncGenerator<Piece> {
      scraped();
      gzipAsked ||= gzip;
      order ??= [...groups.values()].sort((a, b) => a.key - b.key);
      const list = order;
      const taken: { families: Buffer[]; deflated: Buffer[] | null }[] = [];
      let until = performance.now() + SLICE_MS;
      for (let f = 0; f < FAMILIES; f++) {
        yield header(f);
        for (let i = 0; i < list.length; i++) {
          if (f === 0) {
            const group = list[i];
            renderIfStale(group);
            if (gzip && group.families) group.deflated ??= group.families.map(rawDeflate);
            taken.push({ families: group.families ?? [], deflated: group.deflated });
            if (performance.now() >= until) {
              await yieldToLoop();
              until = performance.now() + SLICE_MS;
            }
          }
          const raw = taken[i].families[f];
          if (!raw || raw.length === 0) continue;
          yield { raw, deflated: gzip ? taken[i].deflated![f] : null };
        }
      }
    },

    /** Groups kept, those still to render, the bytes kept, and whether a background pass is planned or running (bench, tests). */
    counts: () => {
      let bytes = 0;
      for (const g of groups.values()) for (const b of [...(g.families ?? []), ...(g.deflated ?? [])]) bytes += b.length;
      return { groups: groups.size, stale: stale.size, keptBytes: bytes, passPending: timer !== null || running };
    },

    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export type SiteBlocks = ReturnType<typeof createSiteBlocks>;
