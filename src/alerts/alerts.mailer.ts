import nodemailer from 'nodemailer';
import type { ConnectionOptions } from 'node:tls';

/** TLS settings on top of SMTP_URL (tests pass their own CA; `?tls.rejectUnauthorized=false` in the URL works too). */
export type MailerTls = Pick<ConnectionOptions, 'rejectUnauthorized' | 'ca' | 'servername' | 'minVersion'>;

export interface MailerOptions {
  /** smtp://[user:pass@]host[:port] (plain, upgraded with STARTTLS when the server offers it) or smtps:// (TLS from the start). */
  smtpUrl: string;
  tls?: MailerTls;
  /** Bounds on one delivery, so that a stalled server cannot hold the send loop (ms). */
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export interface OutgoingEmail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  /** The Date header. */
  date: Date;
}

export interface Delivery {
  messageId: string;
  accepted: string[];
  rejected: string[];
  /** The server's reply to each rejected recipient. */
  rejectedReplies: string[];
  response: string;
}

export interface Mailer {
  /** Resolves once the server accepted the message (for at least one recipient); nodemailer never retries. */
  send(email: OutgoingEmail): Promise<Delivery>;
  close(): void;
}

const LINE_BREAK = /[\r\n]/;

/** Refuses any header value with a line break: defence in depth behind the renderer's sanitising. */
export function assertHeaderSafe(email: OutgoingEmail): void {
  const values: [string, string][] = [
    ['from', email.from],
    ['subject', email.subject],
    ['message-id', email.messageId],
    ...email.to.map((to): [string, string] => ['to', to]),
    ...Object.entries(email.headers).flatMap(([k, v]): [string, string][] => [
      ['header name', k],
      [k, v],
    ]),
  ];
  for (const [name, value] of values) {
    if (LINE_BREAK.test(value)) throw new Error(`refusing to send an email whose ${name} contains a line break`);
  }
}

/** A short, one-line description of a nodemailer error for the outbox: code, SMTP reply code and text. */
export function describeMailError(err: unknown): string {
  const e = (err ?? {}) as { code?: string; responseCode?: number; response?: string; message?: string; rejected?: unknown };
  const rejected = Array.isArray(e.rejected) && e.rejected.length ? `(rejected: ${e.rejected.join(', ')})` : undefined;
  const parts = [e.code, e.responseCode, e.response ?? e.message, rejected].filter((x) => x !== undefined && x !== '');
  return parts.join(' ').replace(/\s+/g, ' ').slice(0, 500) || 'unknown error';
}

export function createMailer(options: MailerOptions): Mailer {
  const transport = nodemailer.createTransport({
    url: options.smtpUrl,
    ...(options.tls ? { tls: options.tls } : {}),
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    greetingTimeout: options.connectionTimeoutMs ?? 10_000,
    socketTimeout: options.socketTimeoutMs ?? 30_000,
  });
  return {
    async send(email) {
      assertHeaderSafe(email);
      const info = await transport.sendMail({
        from: email.from,
        to: email.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        headers: email.headers,
        date: email.date,
        // Our content is text we wrote; never let it pull files or URLs in.
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const list = (v: unknown) => (Array.isArray(v) ? v.map((a) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a))) : []);
      const rejectedReplies = (info.rejectedErrors ?? []).map((e) => describeMailError(e));
      return {
        messageId: info.messageId,
        accepted: list(info.accepted),
        rejected: list(info.rejected),
        rejectedReplies,
        response: info.response,
      };
    },
    close() {
      transport.close();
    },
  };
}
