import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { listen, type TestServer } from './http-servers.js';

export interface ReceivedHook {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  /** Whether X-Gatewatch-Signature matched the body under the receiver's secret (null: no secret given). */
  signatureValid: boolean | null;
}

export interface WebhookReceiver extends TestServer {
  received: ReceivedHook[];
  /** Received requests, one per Idempotency-Key (what a receiver that dedups would act on). */
  distinct(): ReceivedHook[];
}

/** A real HTTP receiver on loopback that records every POST and verifies its HMAC-SHA256 signature. */
export async function startWebhookReceiver(
  opts: { secret?: string; port?: number; answer?: (hook: ReceivedHook, res: http.ServerResponse) => void } = {},
): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let signatureValid: boolean | null = null;
      if (opts.secret !== undefined) {
        const expected = Buffer.from(`sha256=${createHmac('sha256', opts.secret).update(body).digest('hex')}`);
        const got = Buffer.from(String(req.headers['x-gatewatch-signature'] ?? ''));
        signatureValid = got.length === expected.length && timingSafeEqual(got, expected);
      }
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* recorded as text */
      }
      const hook = { headers: req.headers, body, json, signatureValid };
      received.push(hook);
      if (opts.answer) opts.answer(hook, res);
      else res.end('ok');
    });
  });
  const started = await listen(server, '127.0.0.1', 'http', opts.port ?? 0);
  return {
    ...started,
    received,
    distinct() {
      const seen = new Map<string, ReceivedHook>();
      for (const h of received) {
        const key = String(h.headers['idempotency-key']);
        if (!seen.has(key)) seen.set(key, h);
      }
      return [...seen.values()];
    },
  };
}
