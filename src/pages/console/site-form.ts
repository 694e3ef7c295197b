/**
 * The site form's fields as the JSON API's body: the same object goes through the same zod
 * schema (siteCreateSchema / sitePatchSchema) and the same target-policy checks as the API's
 * routes, so a form and the API accept the same sites and word their errors the same way.
 */
import type { TargetPolicy } from '../../probes/target-policy.js';
import { AppError } from '../../shared/errors.js';
import { describeIssues } from '../../shared/validate.js';
import { assertTargetsAllowed } from '../../sites/sites.targets.js';
import { assertWebhooksAllowed } from '../../sites/sites.webhooks.js';
import { siteCreateSchema, sitePatchSchema, type SiteCreate, type SitePatch } from '../../sites/sites.schemas.js';
import type { SiteView } from '../../sites/sites.repository.js';

/** The form's fields as text, as the browser sends them and as the form shows them again. */
export interface SiteFormValues {
  name: string;
  url: string;
  upstreams: string;
  intervalSeconds: string;
  timeoutMs: string;
  failureThreshold: string;
  recoveryThreshold: string;
  expectedStatus: string;
  alertEmails: string;
  /** One per line: a URL and its format (json or slack). */
  webhooks: string;
  /** Write-only: signs the webhooks added in this edit; never shown again. */
  webhookSecret: string;
  gatewayLogPath: string;
  gatewayLogFormat: string;
  /** One per line: from, to (ISO 8601 times), then an optional reason. */
  maintenance: string;
  public: boolean;
  paused: boolean;
}

export interface FieldError {
  field: string;
  message: string;
}

const text = (v: unknown) => (typeof v === 'string' ? v : '');

export function formValues(body: Record<string, unknown>): SiteFormValues {
  return {
    name: text(body.name),
    url: text(body.url).trim(),
    upstreams: text(body.upstreams),
    intervalSeconds: text(body.intervalSeconds).trim(),
    timeoutMs: text(body.timeoutMs).trim(),
    failureThreshold: text(body.failureThreshold).trim(),
    recoveryThreshold: text(body.recoveryThreshold).trim(),
    expectedStatus: text(body.expectedStatus).trim(),
    alertEmails: text(body.alertEmails),
    webhooks: text(body.webhooks),
    webhookSecret: text(body.webhookSecret),
    gatewayLogPath: text(body.gatewayLogPath).trim(),
    gatewayLogFormat: text(body.gatewayLogFormat).trim(),
    maintenance: text(body.maintenance),
    public: body.public === 'on' || body.public === 'true',
    paused: body.paused === 'on' || body.paused === 'true',
  };
}

export const valuesOf = (site?: SiteView): SiteFormValues =>
  site
    ? {
        name: site.name,
        url: site.url,
        upstreams: site.upstreams.map((u) => `${u.name} ${u.url}`).join('\n'),
        intervalSeconds: String(site.intervalSeconds),
        timeoutMs: String(site.timeoutMs),
        failureThreshold: String(site.failureThreshold),
        recoveryThreshold: String(site.recoveryThreshold),
        expectedStatus: `${site.expectedStatus[0]}-${site.expectedStatus[1]}`,
        alertEmails: site.alertEmails.join('\n'),
        webhooks: site.webhooks.map((w) => `${w.url} ${w.format}`).join('\n'),
        webhookSecret: '',
        gatewayLogPath: site.gatewayLog?.path ?? '',
        gatewayLogFormat: site.gatewayLog?.format ?? '',
        maintenance: site.maintenance.map((w) => [iso(w.from), iso(w.to), w.reason ?? ''].join(' ').trim()).join('\n'),
        public: site.public,
        paused: site.paused,
      }
    : {
        name: '',
        url: '',
        upstreams: '',
        intervalSeconds: '60',
        timeoutMs: '10000',
        failureThreshold: '3',
        recoveryThreshold: '2',
        expectedStatus: '200-299',
        alertEmails: '',
        webhooks: '',
        webhookSecret: '',
        gatewayLogPath: '',
        gatewayLogFormat: '',
        maintenance: '',
        public: true,
        paused: false,
      };

const iso = (at: number) => new Date(at).toISOString().replace(/\.000Z$/, 'Z');

/** A number when the text is one; otherwise the text itself, for the schema to refuse by name. */
const numeric = (v: string): unknown => (/^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v);

const lines = (v: string) =>
  v
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * The JSON body these values stand for; empty optional fields are left out (the API's defaults apply).
 * A webhook already on the site keeps its stored secret (`hasSecret`, as the API's round trip);
 * the secret field, when filled, signs the webhooks whose URLs are not on the site yet.
 */
export function toBody(v: SiteFormValues, site?: SiteView): Record<string, unknown> {
  // paused is left out: the Pause and Resume buttons change it, not an edit.
  const body: Record<string, unknown> = { name: v.name, url: v.url, public: v.public };
  body.upstreams = lines(v.upstreams).map((line) => {
    const m = /^(\S+?)\s*(?:=|\s)\s*(\S+)$/.exec(line);
    return m ? { name: m[1], url: m[2] } : { name: line, url: '' };
  });
  for (const key of ['intervalSeconds', 'timeoutMs', 'failureThreshold', 'recoveryThreshold'] as const) {
    if (v[key] !== '') body[key] = numeric(v[key]);
  }
  if (v.expectedStatus !== '') {
    const m = /^(\d{3})\s*(?:-|–|\.\.|to)?\s*(\d{3})?$/.exec(v.expectedStatus);
    body.expectedStatus = m ? [Number(m[1]), Number(m[2] ?? m[1])] : v.expectedStatus;
  }
  body.alertEmails = v.alertEmails
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const known = new Set(site?.webhooks.map((w) => w.url));
  body.webhooks = lines(v.webhooks).map((line) => {
    const [url, format, ...rest] = line.split(/\s+/);
    const hook: Record<string, unknown> = { url, ...(format ? { format } : {}) };
    if (rest.length > 0) hook.format = [format, ...rest].join(' '); // refused by name: one word only
    if (known.has(url)) hook.hasSecret = true;
    else if (v.webhookSecret !== '') hook.secret = v.webhookSecret;
    return hook;
  });
  body.gatewayLog = v.gatewayLogPath === '' && v.gatewayLogFormat === '' ? null : { path: v.gatewayLogPath, format: v.gatewayLogFormat };
  body.maintenance = lines(v.maintenance).map((line) => {
    const [from, to, ...reason] = line.split(/\s+/);
    return { from: numeric(from), to: numeric(to ?? ''), ...(reason.length > 0 ? { reason: reason.join(' ') } : {}) };
  });
  return body;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; errors: FieldError[] };

/**
 * What the API's routes refuse after the schema: a site, upstream or webhook URL whose IP literal
 * the target policy denies (the same checks, in the same order, so the same words).
 */
function policyRefusal(policy: TargetPolicy | undefined, body: { url?: string; upstreams?: { url: string }[]; webhooks?: { url: string }[] }): Parsed<never> | null {
  try {
    if (policy) assertTargetsAllowed(policy, body);
    assertWebhooksAllowed(policy, body.webhooks);
    return null;
  } catch (error) {
    if (!(error instanceof AppError) || error.status !== 400) throw error;
    return { ok: false, message: error.message, errors: error.details as FieldError[] };
  }
}

const parse = <T extends { url?: string; upstreams?: { url: string }[]; webhooks?: { url: string }[] }>(
  schema: typeof siteCreateSchema | typeof sitePatchSchema,
  body: unknown,
  policy: TargetPolicy | undefined,
): Parsed<T> => {
  const result = schema.safeParse(body);
  if (!result.success) {
    const { message, details } = describeIssues(result.error.issues, 'body');
    return { ok: false, message: `invalid body: ${message}`, errors: details as FieldError[] };
  }
  const value = result.data as T;
  return policyRefusal(policy, value) ?? { ok: true, value };
};

export const parseCreate = (v: SiteFormValues, policy?: TargetPolicy) => parse<SiteCreate>(siteCreateSchema, toBody(v), policy);
export const parsePatch = (v: SiteFormValues, site: SiteView, policy?: TargetPolicy) => parse<SitePatch>(sitePatchSchema, toBody(v, site), policy);
