import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import { resolver, uniqueSymbol } from 'hono-openapi';
import type { z } from 'zod';
import { AppError, validationFailed } from './errors.js';

/** What Hono's validator reads as JSON: `application/json` or `application/<something>+json`, with parameters. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** A 415 naming the header, for a body the route would otherwise read as no fields at all. */
export function unsupportedMediaType(contentType: string | undefined): AppError {
  const got = contentType ? `Content-Type: ${contentType.slice(0, 100)}` : 'no Content-Type header';
  return new AppError(415, 'request.unsupported_media_type', `the body must be sent with Content-Type: application/json (got ${got})`);
}

/** Formats zod issues as "field: problem" lines, so that every 400 names the field (the body itself as `body`). */
export function describeIssues(issues: readonly z.core.$ZodIssue[], target: string): { message: string; details: unknown } {
  const whole = target === 'json' ? 'body' : target;
  const details = issues.map((issue) => ({
    field: issue.path.length ? issue.path.join('.') : whole,
    message: issue.message,
  }));
  const message = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  return { message, details };
}

/**
 * zValidator with the one error shape of this API (AppError 400 validation.failed), tagged with
 * hono-openapi's metadata (what its own `validator` attaches) so that the OpenAPI document
 * describes the request from this very schema: parameters for param/query, the body for json.
 * Validation itself stays zValidator's.
 */
export const validate = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  Object.assign(
    zValidator(target, schema, (result, c) => {
      if (target === 'json') {
        const contentType = c.req.header('content-type');
        if (!JSON_MEDIA_TYPE.test(contentType?.split(';')[0].trim() ?? '')) throw unsupportedMediaType(contentType);
      }
      if (!result.success) {
        const { message, details } = describeIssues(result.error.issues, target);
        throw validationFailed(`invalid ${target === 'json' ? 'body' : target}: ${message}`, details);
      }
    }),
    { [uniqueSymbol]: { target, ...resolver(schema) } },
  );
