import { resolver } from 'hono-openapi';
import { z } from 'zod';
import { OUTCOMES } from '../probes/probes.types.js';
import { siteCreateSchema } from '../sites/sites.schemas.js';

/*
 * What the API answers, as zod schemas: the OpenAPI document's response bodies. Requests are
 * described from the very schemas the routes validate with (see shared/validate.ts); these only
 * describe, nothing validates against them. Open objects (no additionalProperties: false), so
 * that a field added to an answer does not make the document wrong.
 */

const ms = (what: string) => z.number().int().describe(`${what} (ms since epoch)`);
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

/** `{"error":{"code","message","details"}}`: every error of the API. */
export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('stable code, e.g. validation.failed, sites.not_found, auth.unauthorized'),
      message: z.string().describe('what went wrong, in words; for a 400 it names the field'),
      details: z
        .unknown()
        .optional()
        .describe('for validation.failed: a list of { field, message }'),
    }),
  })
  .meta({ id: 'Error' });

const outcome = z.enum(OUTCOMES).describe('ok, bad_gateway (502), http_error, or the network failure');

export const checkSchema = z
  .object({
    id: z.number().int(),
    siteId: z.number().int(),
    target: z.string().describe("'site' or the upstream's id"),
    targetName: z.string(),
    startedAt: ms('when the probe began'),
    outcome,
    statusCode: nullable(z.number().int()),
    errorMessage: nullable(z.string()),
    addresses: z.array(z.string()).describe('every address the name resolved to, sorted'),
    address: nullable(z.string()).describe('the address the probe connected to'),
    dnsMs: nullable(z.number()).describe('cumulative ms from the start of the probe'),
    connectMs: nullable(z.number()),
    tlsMs: nullable(z.number()),
    ttfbMs: nullable(z.number()),
    totalMs: nullable(z.number()),
    gateway: nullable(z.string()).describe('which product answered an error: nginx, haproxy, envoy, cloudflare, aws_elb, apache, other'),
    incidentId: nullable(z.number().int()),
  })
  .meta({ id: 'Check' });

/** A site's fields as stored: the body's fields (with the defaults applied) plus what Gatewatch adds. */
const storedFields = Object.fromEntries(
  Object.entries(siteCreateSchema.shape).map(([key, field]) => [key, field instanceof z.ZodDefault ? field.unwrap() : field]),
) as Record<string, z.ZodType>;

export const siteSchema = z
  .object({
    ...storedFields,
    id: z.number().int(),
    upstreams: z.array(z.object({ id: z.number().int(), name: z.string(), url: z.string() })),
    maintenance: z.array(z.object({ from: ms('start'), to: ms('end'), reason: z.string().optional() })),
    state: z.enum(['up', 'degraded', 'down', 'paused', 'unknown']),
    lastRoundAt: nullable(ms('last round')),
    createdAt: ms('created'),
    updatedAt: ms('last changed'),
  })
  .meta({ id: 'Site' });

export const causeSchema = z
  .object({
    code: z.string().describe('upstream_down, overload, dns_change, dns_failure, firewall, app_error, gateway_misconfig, gateway_down, tls_error, blocked, unknown'),
    confidence: z.number().min(0).max(1),
    summary: z.string(),
    evidence: z.array(z.string()),
    advice: z.array(z.string()),
  })
  .meta({ id: 'Cause' });

export const incidentSchema = z
  .object({
    id: z.number().int(),
    siteId: z.number().int(),
    state: z.enum(['open', 'resolved']),
    kind: outcome.describe('the failure that opened it'),
    kinds: z.array(outcome),
    openedAt: ms('opened'),
    firstFailureAt: ms('first failed check of the streak'),
    resolvedAt: nullable(ms('resolved')),
    durationMs: z.number().int(),
    failedChecks: z.number().int(),
    silenced: z.boolean().describe('opened inside a maintenance window: recorded, never alerted'),
    causes: z.array(causeSchema).describe('ranked, best first'),
    topCause: nullable(causeSchema),
  })
  .meta({ id: 'Incident' });

export const incidentDetailSchema = incidentSchema
  .extend({
    timeline: z.array(z.object({ at: ms('when'), type: z.string(), message: z.string() })),
  })
  .meta({ id: 'IncidentDetail' });

const lastCheck = nullable(
  z.object({
    at: ms('when'),
    outcome,
    statusCode: nullable(z.number().int()),
    totalMs: nullable(z.number()),
    ttfbMs: nullable(z.number()),
    errorMessage: nullable(z.string()).optional().describe('with the token only'),
  }),
);
const uptime = z
  .object({ '24h': nullable(z.number()), '7d': nullable(z.number()), '30d': nullable(z.number()) })
  .describe('share of good checks, 0..1; null without checks');

export const statusEntrySchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    state: z.enum(['up', 'degraded', 'down', 'paused', 'unknown']),
    url: z.string().optional().describe('with the token only'),
    lastCheck,
    latencyMs: z.object({ last: nullable(z.number()), p50_24h: nullable(z.number()), p95_24h: nullable(z.number()) }),
    uptime,
    incident: nullable(
      z.object({
        id: z.number().int(),
        kind: z.string(),
        openedAt: ms('opened'),
        failedChecks: z.number().int(),
        topCause: nullable(z.object({ code: z.string(), summary: z.string().optional().describe('with the token only'), confidence: z.number() })),
      }),
    ),
    maintenance: nullable(
      z.object({
        from: ms('the maintenance began'),
        until: ms('it ends (windows that follow on without a gap count as one)'),
        reason: z.string().optional().describe("the window's reason, with the token only"),
      }),
    ).describe('the maintenance window the site is in now (an incident opened inside it is recorded, not alerted), or null'),
  })
  .meta({ id: 'StatusEntry' });

export const statusDetailSchema = statusEntrySchema
  .extend({
    upstreams: z.array(
      z.object({
        id: z.number().int().optional().describe('with the token only'),
        name: z.string(),
        url: z.string().optional().describe('with the token only'),
        state: z.enum(['up', 'down', 'unknown']),
        lastCheck,
        uptime,
      }),
    ),
  })
  .meta({ id: 'StatusDetail' });

export const alertSchema = z
  .object({
    id: z.number().int(),
    siteId: z.number().int(),
    incidentId: nullable(z.number().int()),
    kind: z.string().describe('opened, cause_changed, reminder, resolved, ...'),
    recipients: z.array(z.string()),
    state: z.enum(['pending', 'sent', 'cancelled']),
    createdAt: ms('written to the outbox'),
    dueAt: ms('not sent before'),
    attempts: z.number().int(),
    lastError: nullable(z.string()),
    lastAttemptAt: nullable(ms('last attempt')),
    sentAt: nullable(ms('sent')),
    messageId: nullable(z.string()),
    cancelReason: nullable(z.string()),
    subject: z.string(),
  })
  .meta({ id: 'Alert' });

/** A JSON response object for describeRoute, from a zod schema. */
export const json = (description: string, schema: z.ZodType) => ({
  description,
  content: { 'application/json': { schema: resolver(schema) } },
});

const ERRORS: Record<number, string> = {
  400: 'bad input: validation.failed names the field (details lists each one), or validation.malformed_json',
  401: 'auth.unauthorized: missing or wrong bearer token',
  404: 'not found (e.g. sites.not_found, incidents.not_found)',
  413: 'request.too_large: the body is over 1 MiB',
  415: 'request.unsupported_media_type: the body is not sent as Content-Type: application/json',
  500: 'internal: "internal error (request id ...)"',
};

/** Error responses with the API's one error shape, by status. */
export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), json(ERRORS[status] ?? 'error', errorSchema)]));
