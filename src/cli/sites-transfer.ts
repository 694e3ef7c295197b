import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { tokenFilePath } from '../auth/token.js';
import { siteCreateSchema } from '../sites/sites.schemas.js';
import type { CliIo } from './io.js';

export const sitesUsage = `usage: gatewatch sites export > sites.json
       gatewatch sites import sites.json     (or - for standard input)

Moves sites between instances through the API of a running one.

  export  prints every site as JSON (its body's fields: name, url, upstreams, intervalSeconds, ...;
          no ids, states or history)
  import  creates the sites of the file that the instance does not have and updates those that
          changed (PATCH), matching by name and url; a site already the same is left alone, so
          importing the same file again creates nothing

environment:
  GATEWATCH_URL  the instance (default http://127.0.0.1:3000)
  API_TOKEN      its token; else the token file beside DATABASE_PATH (default ./data/api-token)

exit status: 0 done, 1 the instance could not be reached, refused the token or a site, 2 bad usage`;

/** The fields a site is created with: what an export carries, whatever fields the body has today. */
const BODY_FIELDS = Object.keys(siteCreateSchema.shape);

type SiteBody = Record<string, unknown> & { name: string; url: string };

class CliFailure extends Error {}

interface Api {
  base: string;
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

function tokenFrom(env: Record<string, string | undefined>): string | null {
  if (env.API_TOKEN) return env.API_TOKEN;
  const file = tokenFilePath(env.DATABASE_PATH || './data/gatewatch.db');
  if (!file) return null;
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function connect(env: Record<string, string | undefined>): Api {
  const raw = env.GATEWATCH_URL || 'http://127.0.0.1:3000';
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw new CliFailure(`GATEWATCH_URL must be an http:// or https:// URL (got ${JSON.stringify(raw)})`);
  const base = raw.replace(/\/+$/, '');
  const token = tokenFrom(env);
  return {
    base,
    async request(method, path, body) {
      let res: Response;
      try {
        res = await fetch(base + path, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new CliFailure(`cannot reach Gatewatch at ${base} (${cause?.code ?? cause?.message ?? (error as Error).message}); is it running? set GATEWATCH_URL`);
      }
      const text = await res.text();
      let parsed: any = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
      if (res.status === 401) {
        throw new CliFailure(
          `${base} refused the token (401 ${parsed?.error?.message ?? ''}): set API_TOKEN${token ? ' to this instance\'s token' : ', or run beside its data/api-token'}`,
        );
      }
      return { status: res.status, body: parsed };
    },
  };
}

/** A site as its body: the create fields only, upstreams without their ids. */
function toBody(site: Record<string, any>): SiteBody {
  const body: Record<string, unknown> = {};
  for (const key of BODY_FIELDS) {
    if (site[key] === undefined) continue;
    body[key] = key === 'upstreams' ? (site.upstreams as { name: string; url: string }[]).map(({ name, url }) => ({ name, url })) : site[key];
  }
  return body as SiteBody;
}

const keyOf = (site: Record<string, any>) => `${site.name}\n${site.url}`;

async function listSites(api: Api): Promise<Record<string, any>[]> {
  const res = await api.request('GET', '/api/sites');
  if (res.status !== 200 || !Array.isArray(res.body?.sites)) throw new CliFailure(`GET ${api.base}/api/sites answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.sites;
}

async function exportSites(io: CliIo): Promise<number> {
  const api = connect(io.env);
  const sites = await listSites(api);
  io.out(JSON.stringify({ gatewatch: 'sites', version: 1, exportedAt: new Date().toISOString(), sites: sites.map(toBody) }, null, 2) + '\n');
  io.err(`exported ${sites.length} ${sites.length === 1 ? 'site' : 'sites'} from ${api.base}\n`);
  // The API never shows a webhook's secret: an import into another instance needs it written in.
  const secretive = sites.filter((s) => Array.isArray(s.webhooks) && s.webhooks.some((w: { hasSecret?: boolean }) => w.hasSecret));
  if (secretive.length) {
    io.err(`note: webhook secrets are not exported (the API never shows them); for another instance, add "secret" to the webhooks of ${secretive.map((s) => s.name).join(', ')}\n`);
  }
  return 0;
}

function readSites(file: string): SiteBody[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliFailure(`cannot read ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new CliFailure(`${file} is not JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(data) ? data : (data as { sites?: unknown })?.sites;
  if (!Array.isArray(list)) throw new CliFailure(`${file}: expected {"sites": [...]} (as export writes) or an array of sites`);
  list.forEach((site, i) => {
    if (typeof site?.name !== 'string' || typeof site?.url !== 'string') throw new CliFailure(`${file}: site ${i + 1} needs a name and a url`);
  });
  return list as SiteBody[];
}

/** The fields of `wanted` that differ from the site as stored (absent fields are left as they are). */
function changes(wanted: SiteBody, stored: Record<string, any>): Record<string, unknown> {
  const current = toBody(stored);
  return Object.fromEntries(Object.entries(toBody(wanted)).filter(([key, value]) => !isDeepStrictEqual(value, current[key])));
}

async function importSites(file: string, io: CliIo): Promise<number> {
  const wanted = readSites(file);
  const api = connect(io.env);
  const existing = new Map<string, Record<string, any>>();
  for (const site of await listSites(api)) if (!existing.has(keyOf(site))) existing.set(keyOf(site), site);

  const counts = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  for (const site of wanted) {
    const label = `${site.name} (${site.url})`;
    const stored = existing.get(keyOf(site));
    if (stored) {
      const diff = changes(site, stored);
      if (Object.keys(diff).length === 0) {
        counts.unchanged++;
        continue;
      }
      const res = await api.request('PATCH', `/api/sites/${stored.id}`, diff);
      if (res.status === 200) {
        counts.updated++;
        existing.set(keyOf(site), res.body);
        io.err(`updated ${label}: ${Object.keys(diff).join(', ')}\n`);
      } else {
        counts.failed++;
        io.err(`could not update ${label}: ${res.status} ${res.body?.error?.message ?? JSON.stringify(res.body)}\n`);
      }
      continue;
    }
    const res = await api.request('POST', '/api/sites', toBody(site));
    if (res.status === 201) {
      counts.created++;
      existing.set(keyOf(site), res.body);
      io.err(`created ${label}\n`);
    } else {
      counts.failed++;
      io.err(`could not create ${label}: ${res.status} ${res.body?.error?.message ?? JSON.stringify(res.body)}\n`);
    }
  }
  io.out(`${api.base}: ${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged, ${counts.failed} failed\n`);
  return counts.failed > 0 ? 1 : 0;
}

/** `gatewatch sites export|import FILE`. */
export async function sitesCommand(argv: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help' || rest.includes('--help') || rest.includes('-h')) {
    if (verb === undefined) {
      io.err(sitesUsage + '\n');
      return 2;
    }
    io.out(sitesUsage + '\n');
    return 0;
  }
  try {
    if (verb === 'export' && rest.length === 0) return await exportSites(io);
    if (verb === 'import' && rest.length === 1) return await importSites(rest[0], io);
  } catch (error) {
    if (!(error instanceof CliFailure)) throw error;
    io.err(`gatewatch sites ${verb}: ${error.message}\n`);
    return 1;
  }
  io.err(`gatewatch sites: ${verb === 'import' ? 'import needs one file' : verb === 'export' ? 'export takes no argument' : `unknown command ${JSON.stringify(verb)}`}\n\n${sitesUsage}\n`);
  return 2;
}
