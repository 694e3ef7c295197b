/**
 * A real SMTP server on loopback for alert tests (smtp-server), with a tiny MIME reader.
 *
 *   const smtp = await startSmtpServer();                  // plain, no STARTTLS, auth optional
 *   const smtp = await startSmtpServer({ down: true });    // port reserved but refusing; smtp.up() later
 *   const smtp = await startSmtpServer({ tls: cert });     // smtps:// (TLS from the first byte)
 *   const smtp = await startSmtpServer({ starttls: cert }); // smtp:// offering STARTTLS
 *   const smtp = await startSmtpServer({ auth: { user: 'u', pass: 'p' } });
 *   smtp.rejectRecipient('bad@example.com');                // 550 for that RCPT TO
 *   const release = smtp.holdData();                        // DATA answered only after release()
 *   smtp.messages[0].subject / .text / .html / .header('bcc') / .envelopeTo
 */
import net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { TestCert } from './tls.js';

export interface ReceivedMessage {
  envelopeFrom: string;
  envelopeTo: string[];
  /** The authenticated user, when the client logged in. */
  user: string | undefined;
  /** Whether the session was encrypted. */
  secure: boolean;
  raw: string;
  /** Unfolded, decoded headers in order (names lower-cased). */
  headers: [string, string][];
  header(name: string): string | undefined;
  subject: string;
  text: string;
  html: string;
}

export interface TestSmtpServer {
  port: number;
  /** smtp:// or smtps:// URL of the server (without credentials). */
  url: string;
  messages: ReceivedMessage[];
  /** Connections the server accepted (while up). */
  connections: number;
  isUp(): boolean;
  up(): Promise<void>;
  /** Stops listening: the port refuses connections until up(). */
  down(): Promise<void>;
  rejectRecipient(address: string): void;
  acceptRecipient(address: string): void;
  /** Holds every DATA reply until the returned function is called. */
  holdData(): () => void;
  /** Resolves when a message's DATA arrived (before any hold is released). */
  dataArrived(count: number): Promise<void>;
  close(): Promise<void>;
}

export interface SmtpServerOptions {
  down?: boolean;
  tls?: TestCert;
  /** Offer STARTTLS on a plain smtp:// port with this certificate. */
  starttls?: TestCert;
  auth?: { user: string; pass: string };
  host?: string;
}

const freePort = (host: string) =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const host = options.host ?? '127.0.0.1';
  const port = await freePort(host);
  const rejected = new Set<string>();
  const messages: ReceivedMessage[] = [];
  const arrivals: (() => void)[] = [];
  let arrived = 0;
  let hold: Promise<void> | null = null;
  let server: SMTPServer | null = null;
  let connections = 0;

  const cert = options.tls ?? options.starttls;
  const config: SMTPServerOptions = {
    secure: Boolean(options.tls),
    ...(cert ? { key: cert.key, cert: cert.cert } : {}),
    authOptional: !options.auth,
    allowInsecureAuth: true,
    disabledCommands: cert ? [] : ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    onConnect(_session, callback) {
      connections++;
      callback();
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      }
    },
    onRcptTo(address, _session, callback) {
      if (rejected.has(address.address.toLowerCase())) {
        callback(Object.assign(new Error(`mailbox ${address.address} unavailable`), { responseCode: 550 }));
      } else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const parsed = parseMessage(raw);
        messages.push({
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
          raw,
          ...parsed,
        });
        arrived++;
        arrivals.splice(0).forEach((wake) => wake());
        const reply = () => callback(null, `queued as test-${messages.length}`);
        if (hold) void hold.then(reply);
        else reply();
      });
    },
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = new SMTPServer(config);
      s.on('error', () => {});
      s.server.once('error', reject);
      s.listen(port, host, () => {
        server = s;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = null;
      if (!s) return resolve();
      s.close(() => resolve());
    });

  if (!options.down) await listen();

  return {
    port,
    url: `${options.tls ? 'smtps' : 'smtp'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    messages,
    get connections() {
      return connections;
    },
    isUp: () => server !== null,
    up: listen,
    down: stop,
    rejectRecipient: (address) => void rejected.add(address.toLowerCase()),
    acceptRecipient: (address) => void rejected.delete(address.toLowerCase()),
    holdData() {
      let release!: () => void;
      hold = new Promise<void>((resolve) => (release = resolve));
      return () => {
        hold = null;
        release();
      };
    },
    dataArrived: (count) =>
      new Promise<void>((resolve) => {
        const check = () => (arrived >= count ? resolve() : arrivals.push(check));
        check();
      }),
    close: stop,
  };
}

// ---- a minimal MIME reader: enough for what nodemailer writes ------------------------------

const splitHead = (raw: string) => {
  const at = raw.indexOf('\r\n\r\n');
  return at < 0 ? { head: raw, body: '' } : { head: raw.slice(0, at), body: raw.slice(at + 4) };
};

function parseHeaders(head: string): [string, string][] {
  return head
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim())] as [string, string];
    });
}

const ENCODED_WORD = /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/;

/** RFC 2047 encoded words; adjacent ones are joined (their bytes may split a character). */
export function decodeWords(value: string): string {
  const tokens = value.split(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)/);
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    out += Buffer.from(bytes).toString('utf8');
    bytes = [];
  };
  tokens.forEach((token, i) => {
    const m = ENCODED_WORD.exec(token);
    if (m) {
      const data = m[2].toUpperCase() === 'B' ? Buffer.from(m[3], 'base64') : qpBytes(m[3].replace(/_/g, ' '));
      bytes.push(...data);
      return;
    }
    // Whitespace between two encoded words is not part of the text.
    if (/^\s*$/.test(token) && i > 0 && i < tokens.length - 1) return;
    flush();
    out += token;
  });
  flush();
  return out;
}

function qpBytes(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i], 'utf8'));
  }
  return Buffer.from(bytes);
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return qpBytes(body.replace(/=\r\n/g, '')).toString('utf8');
    default:
      return body;
  }
}

interface Part {
  type: string;
  content: string;
}

function parts(headers: [string, string][], body: string): Part[] {
  const get = (name: string) => headers.find(([n]) => n === name)?.[1];
  const type = get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    return body
      .split(`--${boundary}`)
      .slice(1)
      .filter((chunk) => !chunk.startsWith('--'))
      .flatMap((chunk) => {
        const { head, body: inner } = splitHead(chunk.replace(/^\r\n/, ''));
        return parts(parseHeaders(head), inner.replace(/\r\n$/, ''));
      });
  }
  return [{ type: type.split(';')[0].trim().toLowerCase(), content: decodeBody(body, get('content-transfer-encoding')) }];
}

export function parseMessage(raw: string): Pick<ReceivedMessage, 'headers' | 'header' | 'subject' | 'text' | 'html'> {
  const { head, body } = splitHead(raw);
  const headers = parseHeaders(head);
  const all = parts(headers, body);
  const header = (name: string) => headers.find(([n]) => n === name.toLowerCase())?.[1];
  return {
    headers,
    header,
    subject: header('subject') ?? '',
    text: all.find((p) => p.type === 'text/plain')?.content ?? '',
    html: all.find((p) => p.type === 'text/html')?.content ?? '',
  };
}
