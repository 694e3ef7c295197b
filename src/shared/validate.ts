import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
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

/** zValidator with the one error shape of this API (AppError 400 validation.failed). */
export const validate = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const { message, details } = describeIssues(result.error.issues, target);
      throw validationFailed(`invalid ${target === 'json' ? 'body' : target}: ${message}`, details);
    }
  });
