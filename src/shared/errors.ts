import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An error with a stable code that the API shows as is. */
export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string | number) =>
  new AppError(404, `${what}.not_found`, `${what.replace(/s$/, '')} ${id} was not found`);

export const validationFailed = (message: string, details?: unknown) =>
  new AppError(400, 'validation.failed', message, details);

/** A start-up failure the operator can act on: main prints its message as one line and exits non-zero. */
export class StartupError extends Error {}

/** `EACCES: permission denied, open '/x'` and the like, without a stack: the part an operator reads. */
export const describeSystemError = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException | undefined;
  return String(e?.message ?? error).split('\n')[0];
};
