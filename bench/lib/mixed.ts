/**
 * Window C's load: `clients` API clients at once while the service probes every bench site. Each
 * client loops over operations picked by weight (writes to sites of its own, reads of bench
 * sites, incidents and status), waiting `pauseMs` between its requests: a steady load, not a
 * saturation test.
 *
 * Lost writes: a client only ever writes the sites it created, so the state of each one after the
 * window is known: the last one the API acknowledged (201 created, 200 renamed, 204 deleted).
 * After the window every such site is read back (GET /api/sites/:id and the list); a site that
 * is not in that state is a lost write. A write whose answer never came (network error, 5xx) may
 * or may not have happened: such a site is left alone from then on, and either state passes.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { siteBody } from './names.js';
import { quantile, round } from './stats.js';

export interface MixedOptions {
  api: string;
  token: string;
  clients: number;
  durationMs: number;
  pauseMs: number;
  /** Bench sites have ids 1..sites (created first, on a fresh database): the reads pick among them. */
  sites: number;
  upstreams: number;
  intervalSeconds: number;
  timeoutMs: number;
}

export interface ApiAnswer {
  status: number;
  bytes: number;
  /** The body when asked for, else only that of an answer other than 200/201 (its start). */
  text: string;
}

/** One JSON request over `agent`; rejects on a network error. */
export type ApiRequest = (
  agent: http.Agent,
  url: string,
  init: { method: string; body?: unknown; token?: string; keepBody?: boolean },
) => Promise<ApiAnswer>;

/** Site names of client `w` come from bench indexes FIRST_INDEX + w * INDEX_SPAN + n: never a bench site's. */
const FIRST_INDEX = 1_000_000;
const INDEX_SPAN = 100_000;
/** Sites a client keeps at most: past it, a create deletes the client's oldest site instead. */
const MAX_ALIVE = 20;
const PAGE = 100;
const CHECKS_LIMIT = 20;
const EXAMPLES = 5;

type Op = 'create' | 'rename' | 'delete' | 'site' | 'checks' | 'incidents' | 'statusPage' | 'statusOne' | 'statusList';

/** Weights out of 100: about one request in six writes, almost half are status reads, the whole list 1 in 50. */
const WEIGHTS: [Op, number][] = [
  ['create', 6],
  ['rename', 6],
  ['delete', 4],
  ['site', 15],
  ['checks', 15],
  ['incidents', 8],
  ['statusPage', 25],
  ['statusOne', 19],
  ['statusList', 2],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((a, [, w]) => a + w, 0);

const pick = (): Op => {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const [op, w] of WEIGHTS) if ((r -= w) < 0) return op;
  return WEIGHTS[0][0];
};
const randomInt = (n: number) => Math.floor(Math.random() * n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one client expects a site of its own to be: alive with `name`, or deleted. */
interface SiteState {
  alive: boolean;
  name: string | null;
  /** The write that set this state, for the examples. */
  by: string;
}

interface Owned {
  id: number;
  index: number;
  name: string;
  renames: number;
}

interface Ledger {
  client: number;
  /** Per site id: the last acknowledged state and, after an unanswered write, the state it tried. */
  sites: Map<number, { acked: SiteState; attempted?: SiteState }>;
}

interface OpCounts {
  count: number;
  /** Answered with the status the operation expects (2xx, or 404 for a deleted site read back). */
  ok: number;
  /** Expected answers that are not 2xx, by status. */
  expectedNon2xx: Record<string, number>;
  serverErrors: number;
  /** Other unexpected statuses (4xx where a 2xx was due), by status. */
  unexpected: Record<string, number>;
  networkErrors: number;
  latencies: number[];
}

/** Runs the clients for `durationMs`, then checks every acknowledged write; see the file comment. */
export async function runMixed(o: MixedOptions, deps: { request: ApiRequest; ports: number[] }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, o.clients) });
  const ops = new Map<string, OpCounts>();
  const errorExamples: string[] = [];
  const writes = { created: 0, renamed: 0, deleted: 0, unanswered: 0 };

  /** One request, counted under `key`; null on a network error. */
  const call = async (
    key: string,
    path: string,
    init: { method?: string; body?: unknown; anonymous?: boolean; keepBody?: boolean; expect: number[] },
  ): Promise<ApiAnswer | null> => {
    let c = ops.get(key);
    if (!c) ops.set(key, (c = { count: 0, ok: 0, expectedNon2xx: {}, serverErrors: 0, unexpected: {}, networkErrors: 0, latencies: [] }));
    c.count++;
    const started = performance.now();
    let res: ApiAnswer;
    try {
      res = await deps.request(agent, `${o.api}${path}`, {
        method: init.method ?? 'GET',
        body: init.body,
        token: init.anonymous ? undefined : o.token,
        keepBody: init.keepBody,
      });
    } catch (error) {
      c.networkErrors++;
      if (errorExamples.length < EXAMPLES) errorExamples.push(`${key} ${path}: ${String(error)}`);
      return null;
    }
    c.latencies.push(performance.now() - started);
    if (init.expect.includes(res.status)) {
      c.ok++;
      if (res.status >= 300) c.expectedNon2xx[res.status] = (c.expectedNon2xx[res.status] ?? 0) + 1;
    } else {
      if (res.status >= 500) c.serverErrors++;
      else c.unexpected[res.status] = (c.unexpected[res.status] ?? 0) + 1;
      if (errorExamples.length < EXAMPLES) errorExamples.push(`${key} ${path}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    return res;
  };

  const benchId = () => 1 + randomInt(o.sites);
  const anonymous = () => Math.random() < 0.5;
  const anonKey = (key: string, anon: boolean) => (anon ? `${key} (anonymous)` : key);

  const client = async (w: number, until: number): Promise<Ledger> => {
    const ledger: Ledger = { client: w, sites: new Map() };
    const alive: Owned[] = [];
    let created = 0;

    /** An answer that is not the acknowledgement: leave the site alone; if no answer came, either state passes. */
    const unacknowledged = (site: Owned, res: ApiAnswer | null, attempted: SiteState) => {
      alive.splice(alive.indexOf(site), 1);
      if (res === null || res.status >= 500) {
        writes.unanswered++;
        ledger.sites.get(site.id)!.attempted = attempted;
      }
    };

    const create = async () => {
      if (created >= INDEX_SPAN) return;
      const index = FIRST_INDEX + w * INDEX_SPAN + created++;
      const body = siteBody(index, { ports: deps.ports, upstreams: o.upstreams, intervalSeconds: o.intervalSeconds, timeoutMs: o.timeoutMs });
      const res = await call('POST /api/sites', '/api/sites', { method: 'POST', body, keepBody: true, expect: [201] });
      if (res?.status === 201) {
        const id = (JSON.parse(res.text) as { id: number }).id;
        writes.created++;
        ledger.sites.set(id, { acked: { alive: true, name: body.name, by: `created "${body.name}" (201)` } });
        alive.push({ id, index, name: body.name, renames: 0 });
      } else if (res === null || res.status >= 500) {
        // No id to follow: a site may exist under this name, which is not a lost write either way.
        writes.unanswered++;
      }
    };

    const rename = async (site: Owned) => {
      const name = `bench-${site.index}-r${++site.renames}`;
      const res = await call('PATCH /api/sites/:id', `/api/sites/${site.id}`, { method: 'PATCH', body: { name }, expect: [200] });
      if (res?.status === 200) {
        writes.renamed++;
        site.name = name;
        ledger.sites.get(site.id)!.acked = { alive: true, name, by: `renamed to "${name}" (200)` };
      } else unacknowledged(site, res, { alive: true, name, by: `rename to "${name}" unanswered` });
    };

    const remove = async (site: Owned) => {
      const res = await call('DELETE /api/sites/:id', `/api/sites/${site.id}`, { method: 'DELETE', expect: [204] });
      if (res?.status === 204) {
        writes.deleted++;
        alive.splice(alive.indexOf(site), 1);
        ledger.sites.get(site.id)!.acked = { alive: false, name: null, by: 'deleted (204)' };
      } else unacknowledged(site, res, { alive: false, name: null, by: 'delete unanswered' });
    };

    const step = async (op: Op) => {
      switch (op) {
        case 'create':
          return alive.length >= MAX_ALIVE ? remove(alive[0]) : create();
        case 'rename':
          return alive.length ? rename(alive[randomInt(alive.length)]) : create();
        case 'delete':
          return alive.length ? remove(alive[0]) : create();
        case 'site':
          return call('GET /api/sites/:id', `/api/sites/${benchId()}`, { expect: [200] });
        case 'checks':
          return call(`GET /api/sites/:id/checks?limit=${CHECKS_LIMIT}`, `/api/sites/${benchId()}/checks?limit=${CHECKS_LIMIT}`, { expect: [200] });
        case 'incidents':
          return call('GET /api/incidents?state=open', '/api/incidents?state=open', { expect: [200] });
        case 'statusPage': {
          const anon = anonymous();
          const offset = randomInt(Math.max(1, o.sites - PAGE));
          return call(anonKey(`GET /api/status?limit=${PAGE}`, anon), `/api/status?limit=${PAGE}&offset=${offset}`, { anonymous: anon, expect: [200] });
        }
        case 'statusOne': {
          const anon = anonymous();
          return call(anonKey('GET /api/status/:id', anon), `/api/status/${benchId()}`, { anonymous: anon, expect: [200] });
        }
        case 'statusList': {
          const anon = anonymous();
          return call(anonKey('GET /api/status', anon), '/api/status', { anonymous: anon, expect: [200] });
        }
      }
    };

    // Spread the clients' first requests over one pause, so they do not march in step.
    await sleep(randomInt(o.pauseMs + 1));
    while (performance.now() < until) {
      await step(pick());
      await sleep(o.pauseMs);
    }
    return ledger;
  };

  const t0 = performance.now();
  const ledgers = await Promise.all(Array.from({ length: o.clients }, (_, w) => client(w, t0 + o.durationMs)));
  const runMs = performance.now() - t0;
  let requests = 0;
  for (const c of ops.values()) requests += c.count;

  const verified = await verify(ledgers);

  agent.destroy();
  const latency = (samples: number[]) => ({ p50: round(quantile(samples, 0.5)), p99: round(quantile(samples, 0.99)), max: round(quantile(samples, 1)) });
  const samplesOf = (...keys: string[]) => keys.flatMap((k) => ops.get(k)?.latencies ?? []);
  const list = samplesOf('GET /api/status', 'GET /api/status (anonymous)');
  const page = samplesOf(`GET /api/status?limit=${PAGE}`, `GET /api/status?limit=${PAGE} (anonymous)`);
  let serverErrors = 0;
  for (const c of ops.values()) serverErrors += c.serverErrors;
  return {
    clients: o.clients,
    pauseMs: o.pauseMs,
    seconds: round(runMs / 1000, 1),
    /** Requests of the clients in the window (the check afterwards not included). */
    requests,
    requestsPerSecond: round((requests / runMs) * 1000, 1),
    /** Every 5xx, the check afterwards included. */
    serverErrors,
    lostWrites: verified.lost,
    lostWriteExamples: verified.examples,
    writes: { ...writes, sitesChecked: verified.checked },
    /** Surviving client sites deleted after the check, so the database figures cover the bench sites. */
    cleanedUp: verified.cleanedUp,
    statusLatencyMs: { list: { calls: list.length, ...latency(list) }, page: { limit: PAGE, calls: page.length, ...latency(page) } },
    operations: Object.fromEntries(
      [...ops]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, { latencies, ...counts }]) => [key, { ...counts, latencyMs: latency(latencies) }]),
    ),
    errorExamples,
  };

  /** Reads back every site a client wrote, compares with its acknowledged state, then deletes the survivors. */
  async function verify(all: Ledger[]) {
    let lost = 0;
    let checked = 0;
    let cleanedUp = 0;
    const examples: string[] = [];
    const listing = await call('verify: GET /api/sites', '/api/sites', { keepBody: true, expect: [200] });
    const listed =
      listing?.status === 200 ? new Map((JSON.parse(listing.text) as { sites: { id: number; name: string }[] }).sites.map((s) => [s.id, s.name])) : null;
    const matches = (s: SiteState, status: number, name: string | undefined, inList: string | undefined) =>
      (s.alive ? status === 200 && name === s.name : status === 404) && (listed === null || (s.alive ? inList === s.name : inList === undefined));

    await Promise.all(
      all.map(async ({ client: w, sites }) => {
        for (const [id, { acked, attempted }] of sites) {
          const expect = [acked, attempted].flatMap((s) => (s === undefined ? [] : [s.alive ? 200 : 404]));
          const res = await call('verify: GET /api/sites/:id', `/api/sites/${id}`, { keepBody: true, expect });
          if (res === null || res.status >= 500) continue; // no answer: neither kept nor lost (counted as an error)
          checked++;
          const name = res.status === 200 ? (JSON.parse(res.text) as { name: string }).name : undefined;
          const inList = listed?.get(id);
          if (!matches(acked, res.status, name, inList) && !(attempted && matches(attempted, res.status, name, inList))) {
            lost++;
            if (examples.length < EXAMPLES) {
              const read = res.status === 200 ? `200 "${name}"` : String(res.status);
              const list = listed === null ? 'list unread' : inList === undefined ? 'not listed' : `listed as "${inList}"`;
              examples.push(`client ${w}, site ${id}: ${acked.by}${attempted ? ` then ${attempted.by}` : ''}; read back ${read}, ${list}`);
            }
          }
          if (res.status === 200) {
            const del = await call('cleanup: DELETE /api/sites/:id', `/api/sites/${id}`, { method: 'DELETE', expect: [204] });
            if (del?.status === 204) cleanedUp++;
          }
        }
      }),
    );
    return { lost, checked, cleanedUp, examples };
  }
}

export type MixedReport = Awaited<ReturnType<typeof runMixed>>;
