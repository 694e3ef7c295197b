/**
 * The nginx test harness itself (test/support/nginx.ts): starts from its own prefix directory,
 * re-resolves the upstream name through the test's DNS server, reloads, says why it cannot start,
 * and leaves no process behind. Needs nginx installed (CI: `apt-get install -y nginx`); fails
 * without it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer } from '../support/dns-server.js';
import { closeAll, startHttpServer, type TestServer } from '../support/http-servers.js';
import { startNginx, type Nginx } from '../support/nginx.js';
import { waitFor } from '../support/wait.js';

let nginx: Nginx | undefined;
const others: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await nginx?.stop();
  nginx = undefined;
  await closeAll(others);
});

/** Answers every request with its own name. */
const named = (name: string, host = '127.0.0.1', port = 0) => startHttpServer((_req, res) => res.end(name), { host, port });

/** Two named servers on one port, one on 127.0.0.1 and one on 127.0.0.2 (as a moved record needs). */
async function pairOnOnePort(): Promise<[TestServer, TestServer]> {
  for (let attempt = 0; ; attempt++) {
    const one = await named('one');
    try {
      return [one, await named('two', '127.0.0.2', one.port)];
    } catch (error) {
      await one.close();
      if (attempt >= 10) throw error;
    }
  }
}

/** GET on a fresh connection, as Gatewatch's probes do (a pooled one could reach a retired worker). */
const get = (url: string) =>
  new Promise<{ status: number; text: string; server: string }>((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, server: String(res.headers.server ?? '') }));
      })
      .on('error', reject);
  });

/** Whether a process with this pid exists (and is not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('test/support/nginx.ts', () => {
  it('proxies to the upstream name, follows a DNS change, reloads, and stops without leftovers', async () => {
    const dns = await startDnsServer();
    const [one, two] = await pairOnOnePort();
    others.push(dns, one, two);
    dns.setA('app.e2e.test', ['127.0.0.1']);

    nginx = await startNginx({ upstreamHost: 'app.e2e.test', upstreamPort: one.port, resolverPort: dns.port });
    expect(nginx.url).toBe(`http://127.0.0.1:${nginx.port}/`);
    expect(await get(nginx.url)).toMatchObject({ status: 200, text: 'one' });
    expect(dns.queries).toContainEqual(expect.objectContaining({ name: 'app.e2e.test', type: 'A' }));

    // The record moves: nginx follows once its cached answer expires (valid=1s).
    dns.setA('app.e2e.test', ['127.0.0.2']);
    await waitFor(async () => (await get(nginx!.url)).text === 'two', { timeoutMs: 10_000, message: 'nginx to follow the record' });

    // Reloaded onto another port: served by the new configuration once reload() resolves.
    const other = await named('other');
    others.push(other);
    await nginx.reload({ upstreamHost: '127.0.0.1', upstreamPort: other.port });
    expect(nginx.options.upstreamPort).toBe(other.port);
    expect(await get(nginx.url)).toMatchObject({ status: 200, text: 'other' });

    // Nothing listening there any more: nginx's own 502, and the reason in its error log.
    await other.close();
    const refused = await get(nginx.url);
    expect(refused.status).toBe(502);
    expect(refused.server).toMatch(/^nginx/);
    expect(nginx.errorLog()).toMatch(/Connection refused\) while connecting to upstream/);

    const { pid, dir } = nginx;
    const workers = childrenOf(pid);
    expect(workers.length).toBeGreaterThanOrEqual(1);
    await nginx.stop();
    await nginx.stop(); // idempotent
    nginx = undefined;
    expect(alive(pid)).toBe(false);
    for (const worker of workers) expect(alive(worker)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("fails with nginx's own words when it cannot start", async () => {
    await expect(startNginx({ upstreamHost: '127.0.0.1', upstreamPort: 0 })).rejects.toThrow(
      /nginx did not start[\s\S]*invalid port in upstream "127\.0\.0\.1:0"/,
    );
  });
});
