import { afterEach, describe, expect, it } from 'vitest';
import { createProbePool, type ProbePool } from '../src/probes/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { okTarget } from './support/http-servers.js';
import { createSelfSignedCert, startTlsServer, type TlsServer } from './support/tls.js';

let pool: ProbePool | undefined;
let server: TlsServer | undefined;
afterEach(async () => {
  await pool?.close();
  await server?.close();
  pool = server = undefined;
});

describe('certificates through the probe pool', () => {
  it('a probe answered by a worker thread carries the leaf certificate back to the main thread', async () => {
    const cert = await createSelfSignedCert(['pool.test']);
    server = await startTlsServer(cert);
    pool = createProbePool({ threads: 1, options: { extraCa: cert.cert }, logger: silentLogger });
    const result = await pool(okTarget(server.url));
    expect(result.outcome).toBe('ok');
    expect(pool.stats()).toMatchObject({ answered: 1, ranLocally: 0 });
    // createSelfSignedCert: valid for a year from yesterday; X.509 keeps whole seconds.
    expect(result.certExpiresAt! % 1000).toBe(0);
    expect(Math.abs(result.certExpiresAt! - (Date.now() + 365 * 86_400_000))).toBeLessThan(2 * 86_400_000);
    expect(result.certIssuer).toBe('pool.test');
  });

  it('a plain http probe carries no certificate', async () => {
    const { startHealthyServer } = await import('./support/http-servers.js');
    const plain = await startHealthyServer();
    pool = createProbePool({ threads: 1, options: {}, logger: silentLogger });
    const result = await pool(okTarget(plain.url));
    await plain.close();
    expect(result.outcome).toBe('ok');
    expect(result.certExpiresAt).toBeNull();
    expect(result.certIssuer).toBeNull();
  });
});
