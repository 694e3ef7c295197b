import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import { resolver, uniqueSymbol } from 'hono-openapi';
import type { z } from 'zod';
import { validationFailed } from './errors.js';

/** Formats zod issues as "field: problem" lines, so that every 400 names the field. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], target: string): { message: string; details: unknown } {
  const details = issues.map((issue) => ({
    field: issue.path.length ? issue.path.join('.') : target,
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
    zValidator(target, schema, (result) => {
      if (!result.success) {
        const { message, details } = describeIssues(result.error.issues, target);
        throw validationFailed(`invalid ${target === 'json' ? 'body' : target}: ${message}`, details);
      }
    }),
    { [uniqueSymbol]: { target, ...resolver(schema) } },
  );
