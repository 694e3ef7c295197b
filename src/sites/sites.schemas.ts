import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { GATEWAY_LOG_FORMATS } from '../gatewaylog/gatewaylog.types.js';

// Names and emails end up in email headers and logs: no control characters, ever. C1 controls
// (NEL U+0085 among them) and the Unicode line/paragraph separators break lines too; a lone
// surrogate is not text (SQLite would store it as U+FFFD, so it would not read back as sent).
const noControl = (v: string) =>
  !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v);

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine(noControl, 'must not contain control characters (CR, LF, ...)');

const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine(noControl, 'must not contain control characters')
  .refine((v) => {
    if (!URL.canParse(v)) return false;
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  }, 'must be an absolute http:// or https:// URL')
  .refine((v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''), 'must not carry credentials');

const upstream = z.strictObject({ name, url: httpUrl });

const email = z
  .string()
  .max(254)
  .refine(noControl, 'must not contain control characters')
  .pipe(z.email('must be an email address'));

const timestamp = z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]).transform((v) =>
  typeof v === 'number' ? v : Date.parse(v),
);

const maintenanceWindow = z
  .strictObject({
    from: timestamp,
    to: timestamp,
    reason: z.string().max(200).refine(noControl, 'must not contain control characters').optional(),
  })
  .refine((w) => w.to > w.from, { message: 'to must be after from', path: ['to'] });

/**
 * A webhook: `secret` (optional) signs JSON bodies; the API never shows it, only `hasSecret`.
 * Sending back what GET shows (`hasSecret: true`, no `secret`) keeps the stored secret of the
 * webhook with that URL, so a read-modify-write or an export/import round trip loses nothing.
 */
const webhook = z.strictObject({
  url: httpUrl,
  format: z.enum(['json', 'slack']).default('json'),
  secret: z.string().min(1).max(256, 'must be at most 256 characters').refine(noControl, 'must not contain control characters').optional(),
  hasSecret: z.boolean().optional(),
});

/** The gateway's error log on this host (see DESIGN.md, `gatewayLog`). */
const gatewayLog = z.strictObject({
  path: z
    .string()
    .max(1024, 'must be at most 1024 characters')
    .refine(noControl, 'must not contain control characters')
    .refine((v) => isAbsolute(v) && !v.split(/[\\/]/).includes('..'), 'must be an absolute path without ..'),
  format: z.enum(GATEWAY_LOG_FORMATS),
});

const siteFields = {
  name,
  url: httpUrl,
  upstreams: z
    .array(upstream)
    .max(20, 'at most 20 upstreams')
    .refine((list) => new Set(list.map((u) => u.name.toLowerCase())).size === list.length, 'upstream names must be unique'),
  intervalSeconds: z.number().int().min(1).max(86_400),
  timeoutMs: z.number().int().min(100).max(120_000),
  failureThreshold: z.number().int().min(1).max(100),
  recoveryThreshold: z.number().int().min(1).max(100),
  expectedStatus: z
    .tuple([z.number().int().min(100).max(599), z.number().int().min(100).max(599)])
    .refine(([lo, hi]) => lo <= hi, 'the first status must not be above the second'),
  alertEmails: z.array(email).max(50, 'at most 50 addresses'),
  maintenance: z.array(maintenanceWindow).max(50, 'at most 50 windows'),
  paused: z.boolean(),
  webhooks: z.array(webhook).max(10, 'at most 10 webhooks'),
  gatewayLog: gatewayLog.nullable(),
  public: z.boolean(),
};

export const SITE_DEFAULTS = {
  upstreams: [],
  intervalSeconds: 60,
  timeoutMs: 10_000,
  failureThreshold: 3,
  recoveryThreshold: 2,
  expectedStatus: [200, 299] as [number, number],
  alertEmails: [],
  maintenance: [],
  paused: false,
  webhooks: [],
  public: true,
};

export const siteCreateSchema = z
  .strictObject({
    name: siteFields.name,
    url: siteFields.url,
    upstreams: siteFields.upstreams.default(SITE_DEFAULTS.upstreams),
    intervalSeconds: siteFields.intervalSeconds.default(SITE_DEFAULTS.intervalSeconds),
    timeoutMs: siteFields.timeoutMs.default(SITE_DEFAULTS.timeoutMs),
    failureThreshold: siteFields.failureThreshold.default(SITE_DEFAULTS.failureThreshold),
    recoveryThreshold: siteFields.recoveryThreshold.default(SITE_DEFAULTS.recoveryThreshold),
    expectedStatus: siteFields.expectedStatus.default(SITE_DEFAULTS.expectedStatus),
    alertEmails: siteFields.alertEmails.default(SITE_DEFAULTS.alertEmails),
    maintenance: siteFields.maintenance.default(SITE_DEFAULTS.maintenance),
    paused: siteFields.paused.default(SITE_DEFAULTS.paused),
    webhooks: siteFields.webhooks.default(SITE_DEFAULTS.webhooks),
    gatewayLog: siteFields.gatewayLog.default(null),
    public: siteFields.public.default(SITE_DEFAULTS.public),
  });

export const sitePatchSchema = z
  .strictObject({
    name: siteFields.name,
    url: siteFields.url,
    upstreams: siteFields.upstreams,
    intervalSeconds: siteFields.intervalSeconds,
    timeoutMs: siteFields.timeoutMs,
    failureThreshold: siteFields.failureThreshold,
    recoveryThreshold: siteFields.recoveryThreshold,
    expectedStatus: siteFields.expectedStatus,
    alertEmails: siteFields.alertEmails,
    maintenance: siteFields.maintenance,
    paused: siteFields.paused,
    webhooks: siteFields.webhooks,
    gatewayLog: siteFields.gatewayLog,
    public: siteFields.public,
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, 'the body must change at least one field');

export type SiteCreate = z.infer<typeof siteCreateSchema>;
export type SitePatch = z.infer<typeof sitePatchSchema>;

export const idParam = z.object({
  id: z.string().regex(/^[1-9]\d{0,15}$/, 'must be a positive integer id').transform(Number),
});

export const checksQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(0).optional(),
  target: z.string().max(32).optional(),
});
