/**
 * Signing in to the console: a session per sign-in, kept in memory (a restart signs everyone
 * out), a CSRF token per session that every form carries, and a limit on failed sign-ins per
 * client address. The cookie is HttpOnly and SameSite=Strict, and Secure when the request came
 * over HTTPS (directly or, behind a proxy, X-Forwarded-Proto: https).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Clock } from '../../shared/clock.js';

export const SESSION_COOKIE = 'gw_session';
/** Carries the sign-in form's own CSRF token (there is no session yet to hold it). */
export const SIGNIN_COOKIE = 'gw_signin';

export interface Session {
  id: string;
  csrf: string;
  expiresAt: number;
}

export interface SessionOptions {
  clock: Clock;
  /** How long a session lasts without use. Default 12 h. */
  idleMs?: number;
  /** Failed sign-ins allowed per client address per window. Default 5 per minute. */
  maxFailures?: number;
  failureWindowMs?: number;
}

const token = () => randomBytes(24).toString('base64url');

/** Compares two strings in constant time (for a given length). */
export const sameToken = (a: string | undefined, b: string | undefined) => {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const isHttps = (c: Context) =>
  new URL(c.req.url).protocol === 'https:' || (c.req.header('x-forwarded-proto') ?? '').split(',')[0].trim().toLowerCase() === 'https';

/** The client's address as the socket shows it ('local' for in-process requests). */
export const clientAddress = (c: Context) => {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'local';
  }
};

export function createSessions(opts: SessionOptions) {
  const idleMs = opts.idleMs ?? 12 * 3_600_000;
  const maxFailures = opts.maxFailures ?? 5;
  const windowMs = opts.failureWindowMs ?? 60_000;
  const sessions = new Map<string, Session>();
  const failures = new Map<string, { count: number; since: number }>();

  const sweep = (now: number) => {
    for (const [id, s] of sessions) if (s.expiresAt <= now) sessions.delete(id);
    for (const [key, f] of failures) if (now - f.since >= windowMs) failures.delete(key);
  };

  const cookieOptions = (c: Context) => ({ httpOnly: true, sameSite: 'Strict' as const, secure: isHttps(c), path: '/' });

  return {
    /** The session of this request, if its cookie names a live one (its idle time restarts). */
    current(c: Context): Session | undefined {
      const id = getCookie(c, SESSION_COOKIE);
      if (!id) return undefined;
      const s = sessions.get(id);
      const now = opts.clock.now();
      if (!s || s.expiresAt <= now) {
        if (s) sessions.delete(id);
        return undefined;
      }
      s.expiresAt = now + idleMs;
      return s;
    },

    /** Starts a session and sets its cookie. */
    start(c: Context): Session {
      const now = opts.clock.now();
      sweep(now);
      const s: Session = { id: token(), csrf: token(), expiresAt: now + idleMs };
      sessions.set(s.id, s);
      setCookie(c, SESSION_COOKIE, s.id, cookieOptions(c));
      deleteCookie(c, SIGNIN_COOKIE, { path: '/' });
      return s;
    },

    /** Ends the session of this request and clears its cookie. */
    end(c: Context): void {
      const id = getCookie(c, SESSION_COOKIE);
      if (id) sessions.delete(id);
      deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c) });
    },

    /** The sign-in form's CSRF token: the one in its cookie, or a new one (cookie set). */
    signInToken(c: Context): string {
      const have = getCookie(c, SIGNIN_COOKIE);
      if (have && /^[\w-]{32}$/.test(have)) return have;
      const fresh = token();
      setCookie(c, SIGNIN_COOKIE, fresh, cookieOptions(c));
      return fresh;
    },

    signInTokenMatches(c: Context, presented: string | undefined): boolean {
      return sameToken(getCookie(c, SIGNIN_COOKIE), presented);
    },

    /** Seconds until this client may try again, or 0 when it may now. */
    retryAfter(key: string): number {
      const f = failures.get(key);
      const now = opts.clock.now();
      if (!f || now - f.since >= windowMs || f.count < maxFailures) return 0;
      return Math.ceil((f.since + windowMs - now) / 1000);
    },

    failed(key: string): void {
      const now = opts.clock.now();
      const f = failures.get(key);
      if (!f || now - f.since >= windowMs) failures.set(key, { count: 1, since: now });
      else f.count++;
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
