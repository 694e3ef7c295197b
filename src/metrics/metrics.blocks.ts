import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { CheckRow } from '../checks/checks.table.js';
import type { Db } from '../db/client.js';
import { phaseShare } from '../scheduler/scheduler.js';
import type { TargetStatus } from '../status/status.snapshot.js';
import { join, keep, unkeep, type Kept, type Piece } from './metrics.gzip.js';
import { LineWriter } from './metrics.writer.js';

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
const [SUCCESS, DURATION, STATUS_CODE, CERT_EXPIRY, SITE_STATE, INCIDENT] = [0, 1, 2, 3, 4, 5];

const SITE_STATES = ['up', 'degraded', 'down', 'paused', 'unknown'] as const;
const PHASES = ['dns', 'connect', 'tls', 'ttfb', 'total'] as const;
/** Rendering (in the background or while a scrape streams) works this long (ms) before it yields to the event loop. */
const SLICE_MS = 4;
/**
 * The background pass renders what went stale every this long (ms): the groups whose sites were
 * checked in the last second or so (two or three of 128 at 10,000 sites @ 60 s), so that a scrape,
 * whenever it comes, finds about a second of checks to render.
 */
const PASS_EVERY_MS = 1_000;
/**
 * The background renders a group once no check has come for it for this long (ms): its sites'
 * rounds fall within a short stretch of their interval (under half a second at 10,000 sites @
 * 60 s, 2.5 s at 1,000 @ 20 s), so it is rendered once per round of them, not once per second
 * of it. A scrape renders what has not settled yet.
 */
const SETTLE_MS = 1_000;
/**
 * The background passes take at most this share of a core over time (a budget that fills at this
 * rate, up to PASS_BURST_MS): sites whose checks come at many moments of their group's window
 * (many different intervals) would otherwise have every group rendered every second; they are
 * rendered less often, and the scrape renders the rest. A steady 10,000 sites @ 60 s take about
 * a tenth of it.
 */
const PASS_SHARE = 0.02;
/**
 * What the budget holds at most (ms): a burst of edits (a bulk import, a script renaming
 * hundreds of sites for a minute or two) is rendered as it settles, not left for the next
 * scrape. Each edit renders its site's whole group again (~1.5 ms at 10,000 sites): the bench's
 * 16 API clients, ~45 edits a second, drew a 2 s reserve down within half a minute.
 */
const PASS_BURST_MS = 10_000;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

/** The fixed bytes of the lines: each family's name and `{`, the labels' names, and what closes the labels. */
const SITE_ID = Buffer.from('site_id="');
const SITE = Buffer.from('",site="');
const TARGET = Buffer.from('",target="');
const QUOTE = 34;
const OPEN = TARGET_FAMILIES.map(([name]) => Buffer.from(`${name}{`));
const CLOSE = Buffer.from('} ');
const PHASE_CLOSE = PHASES.map((phase) => Buffer.from(`,phase="${phase}"} `));
const STATE_CLOSE = new Map(SITE_STATES.map((state) => [state as string, Buffer.from(`,state="${state}"} 1\n`)]));
const NEWLINE = 10;
const ONE = 49;
const ZERO = 48;

/**
 * One target's last check, as its series need it (one entry per target, changed in place by each
 * check: a check allocates nothing). Its phases are fields, not an array: a full render reads
 * 100,000 of them at 10,000 sites, and each array was an object of its own to reach.
 */
interface Target {
  /** `site`, or the upstream's id. */
  key: string;
  /** startedAt of the last check: an older one arriving late never replaces a newer one. */
  at: number;
  ok: boolean | null;
  statusCode: number | null;
  dns: number | null;
  connect: number | null;
  tls: number | null;
  ttfb: number | null;
  total: number | null;
  /** The last certificate seen (kept when a later check saw none), unix ms. */
  certAt: number | null;
  /**
   * The target label's value as written (the upstream's current name, escaped; `site` for the
   * site's URL); null until the site is read. A string the row already holds in the usual case
   * (nothing to escape): no label bytes are kept per target.
   */
  label: string | null;
}

/** One site's per-target last checks, and what its lines need from its row. */
interface SiteLines {
  /** In the order they came; a few per site (the site and its upstreams): an array, not a Map, is cheaper to walk and to hold. */
  targets: Target[];
  /** The site label's value as written (its name, escaped); null until the site is read. */
  label: string | null;
  state: string;
  cause: string | undefined;
}

/**
 * The sites checked at about the same moment of their interval (`groupKeyOf`: the share of the
 * interval where the scheduler puts their rounds): the unit that is rendered again. A second's
 * checks fall in one or two groups, not in every one, so the background renders each group about
 * once an interval. A group keeps each family's lines of its sites as one compressed piece, so a
 * gzip scrape writes 128 ready pieces per family at 10,000 sites, and copies nothing; the
 * durations' piece is made of PARTS parts, each rendered again only when one of its sites changed.
 */
interface Group {
  key: number;
  /** The group's sites, by id. */
  sites: Map<number, SiteLines>;
  /** Sites to render again: a check came, or the site was created, edited or deleted. */
  changed: Set<number>;
  /** When the last of them came (performance.now()): the background waits for a group's checks to settle. */
  changedAt: number;
  /** Each family's lines (TARGET_FAMILIES order), kept compressed only; null until first rendered. */
  families: Kept[] | null;
  /** The durations' lines in PARTS pieces (views of `families[DURATION]`), by `partOf`; null until first rendered. */
  parts: Kept[] | null;
  /** The parts with a changed site (bit `partOf(id)`): the others' duration lines are kept as they are. */
  changedParts: number;
}

/**
 * A group's duration lines are kept in this many pieces (the other families in one): they are
 * five lines per target, ~80 % of the exposition. Edits spread over the fleet (a script renaming
 * or deleting a few hundred sites) touch nearly every group, but one part in eight of each: a
 * scrape right after them renders about a third of the bytes (the other families whole, a part of
 * the durations), not four fifths.
 */
const PARTS = 8;

/** Sites read at once (three queries) when the groups about to be rendered have changed sites. */
const READ_BATCH = 500;

/**
 * Sites per group, at most (at least a quarter of it once there are more than GROUP_SIZE sites):
 * ~0.3 ms to render one whole (three queries and its sites' lines), and a piece large enough to
 * compress well on its own.
 */
const GROUP_SIZE = 128;

/** Each target's last check as the in-memory status snapshot holds it (`StatusSnapshot.forSite`). */
export interface LastChecks {
  forSite(siteId: number): Map<string, TargetStatus>;
}

export interface SiteBlocksOptions {
  /** Each target's last check at start (the status snapshot). */
  lastChecks?: LastChecks;
  /** Background passes every this long (ms); 0: only the one at start (tests that count stale groups). */
  passEveryMs?: number;
  /** SETTLE_MS, PASS_SHARE, PASS_BURST_MS and SLICE_MS (tests). */
  settleMs?: number;
  passShare?: number;
  passBurstMs?: number;
  sliceMs?: number;
}

/**
 * The per-target families, kept per group of sites and rendered again only when one of its sites
 * changes: a check recorded for it (`observe`), an edit or a deletion (`siteChanged`,
 * `siteRemoved`). Stale groups are rendered in slices of a few ms: once at start (from the status
 * snapshot's last checks, so the first scrape has every target), in a background pass every
 * second (the group or two whose sites were just checked: about one whole render per interval,
 * whoever scrapes, within PASS_SHARE of a core), and what is still stale when a scrape comes
 * (`scrape`): a second's checks, so that the first scrape after a quiet hour costs what the
 * fifteenth of a steady run does.
 * Rendering writes bytes (metrics.writer.ts) and keeps each rendered piece compressed only (an
 * identity scrape uncompresses them as it streams). Per-target values are the checks
 * as recorded (kept in memory); names, states, open incidents and upstream names are read when a
 * changed site is rendered, and kept as the strings the labels are written from.
 */
export function createSiteBlocks(db: Db, options: SiteBlocksOptions = {}) {
  const { lastChecks, passEveryMs = PASS_EVERY_MS, settleMs = SETTLE_MS, passShare = PASS_SHARE, passBurstMs = PASS_BURST_MS, sliceMs = SLICE_MS } = options;
  const sqlite = db.$client;
  const groups = new Map<number, Group>();
  /** Group keys in ascending order, for the scrape; null when a group was added or removed. */
  let order: Group[] | null = null;
  const stale = new Set<Group>();
  const writer = new LineWriter();
  // A group's sites are not a range of ids: each query takes the ids as a JSON array.
  const selectSites = sqlite.prepare<[string], { id: number; name: string; state: string; paused: number }>(
    'SELECT id, name, state, paused FROM sites WHERE id IN (SELECT value FROM json_each(?))',
  );
  const selectUpstreams = sqlite.prepare<[string], { id: number; site_id: number; name: string }>(
    'SELECT id, site_id, name FROM upstreams WHERE site_id IN (SELECT value FROM json_each(?))',
  );
  const selectOpen = sqlite.prepare<[string], { site_id: number; cause: string | null }>(
    `SELECT site_id, json_extract(causes, '$[0].code') AS cause FROM incidents WHERE site_id IN (SELECT value FROM json_each(?)) AND state = 'open'`,
  );

  /** Groups in all: a power of two, so that sites keep their neighbours when it doubles or halves. */
  let groupCount = 1;
  /** Sites kept (with lines or waiting for their first render). */
  let known = 0;
  const groupKeyOf = (siteId: number) => Math.floor(phaseShare(siteId) * groupCount);

  const groupOf = (siteId: number): Group => {
    const key = groupKeyOf(siteId);
    let group = groups.get(key);
    if (!group) {
      group = { key, sites: new Map(), changed: new Set(), changedAt: 0, families: null, parts: null, changedParts: 0 };
      groups.set(key, group);
      order = null;
    }
    return group;
  };
  /** Which of its group's PARTS a site's duration lines are kept in: a finer slice of the same phases. */
  const partOf = (siteId: number) => Math.min(PARTS - 1, Math.max(0, Math.floor(phaseShare(siteId) * groupCount * PARTS) - groupKeyOf(siteId) * PARTS));
  const markStale = (group: Group, siteId: number) => {
    group.changed.add(siteId);
    group.changedParts |= 1 << partOf(siteId);
    group.changedAt = performance.now();
    stale.add(group);
  };

  const siteOf = (group: Group, id: number): SiteLines => {
    let site = group.sites.get(id);
    if (!site) {
      group.sites.set(id, (site = { targets: [], label: null, state: 'unknown', cause: undefined }));
      known++;
    }
    return site;
  };
  const dropSite = (group: Group, id: number): void => {
    if (group.sites.delete(id)) known--;
  };

  /**
   * Groups sites again when their number left [GROUP_SIZE / 4, GROUP_SIZE] per group: each site
   * moves with its kept values and labels, and every group is rendered again (without reading its
   * sites: none of them changed). Between renders only, never inside one.
   */
  const regroupIfNeeded = (): boolean => {
    let count = groupCount;
    while (known > count * GROUP_SIZE) count *= 2;
    while (count > 1 && known < (count * GROUP_SIZE) / 4) count /= 2;
    if (count === groupCount) return false;
    const moving = [...groups.values()];
    groupCount = count;
    groups.clear();
    stale.clear();
    order = null;
    for (const old of moving) {
      for (const [id, site] of old.sites) {
        const group = groupOf(id);
        group.sites.set(id, site);
        stale.add(group);
      }
      for (const id of old.changed) markStale(groupOf(id), id);
    }
    return true;
  };

  /** Takes a site's row, state, open incident and upstream names (by id, of its sites): its labels as written. */
  const readSite = (row: { name: string }, site: SiteLines, state: string, cause: string | undefined, upstreams: Map<string, string>): void => {
    site.label = esc(row.name);
    site.state = state;
    site.cause = cause;
    const targets = site.targets;
    let kept = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      const name = t.key === 'site' ? 'site' : upstreams.get(t.key);
      if (name === undefined) continue; // a removed upstream
      t.label = esc(name);
      targets[kept++] = t;
    }
    targets.length = kept;
  };

  /**
   * Reads sites `ids` (rows, upstream names, open incidents' causes); those not found were
   * deleted, and go.
   */
  const readSites = (ids: number[]): void => {
    const list = JSON.stringify(ids);
    // One map for the sites: an upstream's id is its target's key, and belongs to one site only.
    const upstreams = new Map<string, string>();
    for (const u of selectUpstreams.all(list)) upstreams.set(String(u.id), u.name);
    const open = new Map(selectOpen.all(list).map((i) => [i.site_id, i.cause ?? 'unknown']));
    const found = new Set<number>();
    for (const row of selectSites.all(list)) {
      found.add(row.id);
      const state = row.paused ? 'paused' : STATE_CLOSE.has(row.state) ? row.state : 'unknown';
      readSite(row, siteOf(groupOf(row.id), row.id), state, open.get(row.id), upstreams);
    }
    for (const id of ids) if (!found.has(id)) dropSite(groupOf(id), id);
  };

  /**
   * Reads the changed sites of `due[from]` and of the groups after it, up to READ_BATCH sites: the
   * groups about to be rendered, in that order. Three queries for many groups, not three for each
   * (a scrape after edits in nearly every group made ~300 of them at 10,000 sites, ~13 ms).
   */
  const readAhead = (due: Group[], from: number): void => {
    const ids: number[] = [];
    for (let i = from; i < due.length && ids.length < READ_BATCH; i++) {
      for (const id of due[i].changed) ids.push(id);
      due[i].changed = new Set();
    }
    if (ids.length > 0) readSites(ids);
  };

  /** Where each site's start is in the scratch, from and to (`siteSpan[2 i]`, `siteSpan[2 i + 1]`); each target's likewise in `targetSpan`. */
  let siteSpan = new Int32Array(0);
  let targetSpan = new Int32Array(0);
  /** Site `i`'s first target in `targetSpan`. */
  let firstTarget = new Int32Array(0);
  /**
   * Each line's start after the family's name, written once per render at the head of the
   * writer's scratch (held there while the families' lines are written after it):
   * `site_id="1",site="shop"` for a site, and `site_id="1",site="shop",target="api-1"` for each
   * of its targets, in the order the families walk them. A site has ~14 lines at 10,000 sites x 2
   * targets; writing its names for each of them was most of a render's writing.
   */
  const writeStarts = (ids: number[], sites: SiteLines[]): void => {
    const w = writer;
    w.release();
    let targetCount = 0;
    for (const site of sites) targetCount += site.targets.length;
    siteSpan = new Int32Array(ids.length * 2);
    firstTarget = new Int32Array(ids.length);
    targetSpan = new Int32Array(targetCount * 2);
    let k = 0;
    for (let i = 0; i < ids.length; i++) {
      const site = sites[i];
      const from = w.at;
      w.bytes(SITE_ID);
      w.number(ids[i]);
      w.bytes(SITE);
      w.text(site.label!);
      w.byte(QUOTE);
      const to = w.at;
      siteSpan[i * 2] = from;
      siteSpan[i * 2 + 1] = to;
      firstTarget[i] = k;
      for (const t of site.targets) {
        // The site's part again, then the target's: one copy per line.
        targetSpan[k * 2] = w.at;
        w.again(from, to - 1);
        w.bytes(TARGET);
        w.text(t.label!);
        w.byte(QUOTE);
        targetSpan[k * 2 + 1] = w.at;
        k++;
      }
    }
  };

  /** `name{site_id="1",site="shop"` (and `,target="api-1"`, when `from`-`to` is a target's): a line's start. */
  const writeStart = (f: number, from: number, to: number): void => {
    writer.bytes(OPEN[f]);
    writer.again(from, to);
  };

  /** A target's line of phase `k` (PHASES order), unless it has none. */
  const writePhase = (from: number, to: number, k: number, ms: number | null): void => {
    if (ms === null) return;
    const w = writer;
    writeStart(DURATION, from, to);
    w.bytes(PHASE_CLOSE[k]);
    w.seconds(ms);
    w.byte(NEWLINE);
  };

  /** Site `i`'s lines of family `f`, written as bytes. */
  const writeSite = (f: number, i: number, site: SiteLines): void => {
    const w = writer;
    if (f === SITE_STATE) {
      // Only the current state's series (value 1), as DESIGN.md says: a state the site left goes
      // stale in Prometheus. Five series per site would double the exposition at 10,000 sites.
      writeStart(f, siteSpan[i * 2], siteSpan[i * 2 + 1]);
      w.bytes(STATE_CLOSE.get(site.state)!);
      return;
    }
    if (f === INCIDENT) {
      if (site.cause === undefined) return;
      writeStart(f, siteSpan[i * 2], siteSpan[i * 2 + 1]);
      w.text(`,cause="${esc(site.cause)}"} 1\n`);
      return;
    }
    const targets = site.targets;
    for (let j = 0; j < targets.length; j++) {
      const t = targets[j];
      const from = targetSpan[(firstTarget[i] + j) * 2];
      const to = targetSpan[(firstTarget[i] + j) * 2 + 1];
      if (f === CERT_EXPIRY) {
        if (t.certAt === null) continue;
        writeStart(f, from, to);
        w.bytes(CLOSE);
        w.number(Math.floor(t.certAt / 1000));
        w.byte(NEWLINE);
        continue;
      }
      if (t.ok === null) continue;
      if (f === SUCCESS) {
        writeStart(f, from, to);
        w.bytes(CLOSE);
        w.byte(t.ok ? ONE : ZERO);
        w.byte(NEWLINE);
      } else if (f === DURATION) {
        writePhase(from, to, 0, t.dns);
        writePhase(from, to, 1, t.connect);
        writePhase(from, to, 2, t.tls);
        writePhase(from, to, 3, t.ttfb);
        writePhase(from, to, 4, t.total);
      } else if (f === STATUS_CODE && t.statusCode !== null) {
        writeStart(f, from, to);
        w.bytes(CLOSE);
        w.number(t.statusCode);
        w.byte(NEWLINE);
      }
    }
  };

  /**
   * The group's lines of each family, kept compressed. Only its changed sites are read (a site's
   * state and incident change with its checks, its name and upstreams with an edit); every site
   * is written from what is kept in memory. Copying the unchanged sites' lines from the previous
   * text meant uncompressing it first, which cost more than writing them (a scrape after edits in
   * every group: 128 groups uncompressed and compressed, ~1.3 ms each).
   */
  const render = (group: Group): void => {
    if (group.changed.size > 0) readAhead([group], 0);
    const ids = [...group.sites.keys()].filter((id) => group.sites.get(id)!.label !== null).sort((a, b) => a - b);
    const sites = ids.map((id) => group.sites.get(id)!);
    const fresh = group.parts === null ? (1 << PARTS) - 1 : group.changedParts;
    group.changedParts = 0;
    writeStarts(ids, sites);
    writer.hold();
    const families: Kept[] = [];
    let parts: Kept[] | null = null;
    for (let f = 0; f < FAMILIES; f++) {
      if (f === DURATION) {
        // The parts no changed site falls in are kept as they are.
        const part = ids.map(partOf);
        const next = group.parts?.slice() ?? [];
        for (let p = 0; p < PARTS; p++) {
          if ((fresh & (1 << p)) === 0) continue;
          for (let i = 0; i < sites.length; i++) if (part[i] === p) writeSite(f, i, sites[i]);
          next[p] = keep(writer.takeView());
        }
        const { joined, pieces } = join(next);
        families.push(joined);
        parts = pieces;
        continue;
      }
      for (let i = 0; i < sites.length; i++) writeSite(f, i, sites[i]);
      // Compressed at once, from the writer's scratch: the text itself is not kept (12 MB at
      // 10,000 sites, against 0.8 MB compressed), and a scrape sends the kept bytes as they are.
      families.push(keep(writer.takeView()));
    }
    writer.release();
    group.families = families;
    group.parts = parts;
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

  /**
   * Renders stale groups until `budgetMs` has passed, those whose last change came before
   * `settledBefore` only (performance.now()); true when none of those is left.
   */
  const renderFor = (budgetMs: number, settledBefore = Infinity): boolean => {
    if (!sqlite.open) {
      stale.clear();
      return true;
    }
    regroupIfNeeded();
    const until = performance.now() + budgetMs;
    const due = [...stale].filter((group) => group.changedAt <= settledBefore);
    for (let i = 0; i < due.length; i++) {
      if (due[i].changed.size > 0) readAhead(due, i);
      renderGroup(due[i]);
      if (performance.now() >= until) return false;
    }
    // The sites read in this pass may have changed their number enough to group them again.
    return !regroupIfNeeded();
  };

  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  /** The background's budget (ms): PASS_SHARE of the time since it was counted, at most PASS_BURST_MS. */
  let budget = passBurstMs;
  let budgetAt = performance.now();
  /** Time spent by the background passes (ms), for the bench. */
  let passMs = 0;
  /**
   * Renders every stale group whose checks have settled, in slices of SLICE_MS, one per turn of
   * the event loop, while the budget lasts (the pass at start: everything, whatever it costs).
   */
  const pass = (atStart = false) => {
    if (running || stopped || (!atStart && stale.size === 0)) return;
    const now = performance.now();
    budget = Math.min(passBurstMs, budget + (now - budgetAt) * passShare);
    budgetAt = now;
    if (!atStart && budget <= 0) return;
    const settledBefore = atStart ? Infinity : now - settleMs;
    running = true;
    let spent = 0;
    const slice = () => {
      const t0 = performance.now();
      const done = stopped || renderFor(SLICE_MS, settledBefore);
      const took = performance.now() - t0;
      spent += took;
      if (!atStart) budget -= took;
      if (!done && (atStart || budget > 0)) {
        setImmediate(slice);
        return;
      }
      running = false;
      passMs += spent;
    };
    slice();
  };
  if (passEveryMs > 0) {
    timer = setInterval(pass, passEveryMs);
    timer.unref();
  }

  /**
   * At start: every site's group, with each target's last check from the status snapshot (the
   * outcome, status code, total and ttfb), its dns, connect and tls phases read from the raw
   * check the snapshot names (kept RETENTION_RAW_HOURS; a target whose last check is older than
   * that comes back without them until its next check).
   */
  const load = () => {
    const phasesOf = sqlite.prepare<[number], { dns: number | null; con: number | null; tls: number | null }>('SELECT dns, con, tls FROM raw_checks WHERE id = ?');
    const all = sqlite.prepare<[], { id: number }>('SELECT id FROM sites ORDER BY id').all();
    while (all.length > groupCount * GROUP_SIZE) groupCount *= 2;
    for (const s of all) {
      const site = siteOf(groupOf(s.id), s.id);
      for (const [target, status] of lastChecks?.forSite(s.id) ?? []) {
        const last = status.last;
        if (last === null && status.cert === null) continue;
        const early = last?.checkId != null ? phasesOf.get(last.checkId) : undefined;
        site.targets.push({
          key: target,
          at: last?.at ?? 0,
          ok: last ? last.outcome === 'ok' : null,
          statusCode: last?.statusCode ?? null,
          dns: early?.dns ?? null,
          connect: early?.con ?? null,
          tls: early?.tls ?? null,
          ttfb: last?.ttfbMs ?? null,
          total: last?.totalMs ?? null,
          certAt: status.cert?.expiresAt ?? null,
          label: null,
        });
      }
    }
    for (const group of groups.values()) {
      for (const id of group.sites.keys()) group.changed.add(id);
      stale.add(group);
    }
    pass(true);
  };
  load();

  return {
    /** Takes a stored check (after each recorded batch): the target's last one; its group goes stale. */
    observe(row: CheckRow): void {
      const group = groupOf(row.siteId);
      const site = siteOf(group, row.siteId);
      const t = site.targets.find((x) => x.key === row.target);
      if (t && t.at > row.startedAt) return;
      if (!t) {
        site.targets.push({
          key: row.target,
          at: row.startedAt,
          ok: row.outcome === 'ok',
          statusCode: row.statusCode,
          dns: row.dnsMs,
          connect: row.connectMs,
          tls: row.tlsMs,
          ttfb: row.ttfbMs,
          total: row.totalMs,
          certAt: row.certExpiresAt ?? null,
          label: null,
        });
      } else {
        // In place: the target keeps its label, and a check allocates nothing here.
        t.at = row.startedAt;
        t.ok = row.outcome === 'ok';
        t.statusCode = row.statusCode;
        t.dns = row.dnsMs;
        t.connect = row.connectMs;
        t.tls = row.tlsMs;
        t.ttfb = row.ttfbMs;
        t.total = row.totalMs;
        t.certAt = row.certExpiresAt ?? t.certAt;
      }
      // The recorder may have changed the site's state or incident in the same transaction.
      markStale(group, row.siteId);
    },

    /** The site was created, edited (name, upstreams, paused) or deleted. */
    siteChanged(id: number): void {
      markStale(groupOf(id), id);
    },

    /** Renders every stale group now, yielding to the event loop every SLICE_MS (what a background pass does; the bench). */
    async renderStale(): Promise<void> {
      while (!renderFor(SLICE_MS)) await yieldToLoop();
    },

    /**
     * The per-target families for one scrape: for each (TARGET_FAMILIES order) `header(family)`,
     * then every group's lines of it in site order: the kept compressed pieces with `gzip`, their
     * text without. Groups still stale are rendered first; every family shows the groups as they
     * were then. The event loop is let in every SLICE_MS, while rendering and while the pieces go
     * out: the response takes each piece as it comes, and a socket that takes all of them at once
     * (loopback) would otherwise see the whole answer written in one turn (an identity scrape
     * uncompresses 12 MB at 10,000 sites: a 60-80 ms stall that held the scheduler's rounds).
     */
    async *scrape(gzip: boolean, header: (family: number) => Buffer): AsyncGenerator<Piece> {
      if (sqlite.open) regroupIfNeeded();
      order ??= [...groups.values()].sort((a, b) => a.key - b.key);
      const list = order;
      const due = list.filter((group) => stale.has(group));
      let until = performance.now() + sliceMs;
      const breathe = async () => {
        if (performance.now() < until) return;
        await yieldToLoop();
        until = performance.now() + sliceMs;
      };
      for (let i = 0; i < due.length; i++) {
        if (!sqlite.open) break;
        if (due[i].changed.size > 0) readAhead(due, i);
        renderIfStale(due[i]);
        await breathe();
      }
      const taken = list.map((group) => group.families);
      for (let f = 0; f < FAMILIES; f++) {
        yield header(f);
        for (const families of taken) {
          const k = families?.[f];
          if (!k || k.length === 0) continue;
          yield gzip ? k : unkeep(k);
          await breathe();
        }
      }
    },

    /** Groups kept, those still to render, the bytes kept, whether a background pass is running, and the time all of them took (ms) (bench, tests). */
    counts: () => {
      let bytes = 0;
      for (const g of groups.values()) for (const k of g.families ?? []) bytes += k.deflated.length;
      return { groups: groups.size, stale: stale.size, keptBytes: bytes, passRunning: running, passMs };
    },

    /** The group a site's lines are kept in (tests: sites checked at close moments share one). */
    groupOf: (siteId: number) => groupKeyOf(siteId),

    stop(): void {
      stopped = true;
      if (timer) clearInterval(timer);
    },
  };
}

export type SiteBlocks = ReturnType<typeof createSiteBlocks>;
