/**
 * TLS for tests: a self-signed certificate and an HTTPS server using it.
 *
 *   const cert = await createSelfSignedCert(['app.test']);   // also localhost, 127.0.0.1, ::1
 *   const server = await startTlsServer(cert);                // 200 "secure" at https://127.0.0.1:PORT/
 *   // clients that do not trust cert.cert fail with DEPTH_ZERO_SELF_SIGNED_CERT
 */
import http from 'node:http';
import https from 'node:https';
import { generate } from 'selfsigned';
import { listen, type ServerOptions, type TestServer } from './http-servers.js';

export interface TestCert {
  /** PEM certificate; pass it as a trusted CA to accept the server. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** A self-signed EC certificate for `names` plus localhost, 127.0.0.1 and ::1, valid from yesterday for a year. */
export async function createSelfSignedCert(names: string[] = []): Promise<TestCert> {
  const dnsNames = [...new Set([...names, 'localhost'])];
  const notBeforeDate = new Date(Date.now() - 24 * 3600_000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600_000);
  const pems = await generate([{ name: 'commonName', value: dnsNames[0] }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dnsNames.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
          { type: 7 as const, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export interface TlsServer extends TestServer {
  /** SNI names the server was asked for, in order (empty string when the client sent none). */
  serverNames: string[];
}

/** An HTTPS server with `cert`; `handler` defaults to 200 "secure". */
export async function startTlsServer(
  cert: TestCert,
  handler: http.RequestListener = (_req, res) => res.end('secure'),
  options: ServerOptions = {},
): Promise<TlsServer> {
  const serverNames: string[] = [];
  const server = https.createServer({ cert: cert.cert, key: cert.key }, handler);
  server.on('secureConnection', (socket) => serverNames.push((socket as { servername?: string | false }).servername || ''));
  server.on('tlsClientError', () => {});
  const started = await listen(server, options.host, 'https', options.port);
  return { ...started, serverNames };
}
