/**
 * End to end: nginx writes its error_log to a temp file, Gatewatch follows it, and the incident's
 * causes cite its lines: upstream stopped, slow (proxy_read_timeout 1 s, the upstream takes 2 s),
 * broken HTTP (a header line without a colon), and nginx pointed at a port that is none of the
 * site's upstreams. Needs nginx (Debian: apt-get install -y nginx).
 */
import { afterAll, describe, it } from 'vitest';
import { getRefusingPort } from '../support/http-servers.js';
import { scenario, startLogLab, threeFaults, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads nginx's error log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error, wrong port -> gateway_misconfig', { timeout: 300_000 }, async () => {
    lab = await startLogLab('nginx');
    const l = lab;
    await threeFaults(l, {
      stopped: /\d+x "connect\(\) failed \(111: Connection refused\) while connecting to upstream" \(upstream app-1/,
      slow: /upstream timed out \(110: Connection timed out\) while reading response header from upstream/,
      broken: /upstream sent invalid header/,
    });
    await l.baseline(8);
    const wrongPort = (await getRefusingPort()).port;
    await scenario(l, 'nginx sent to a wrong port', {
      breakIt: () => l.nginx!.reload({ upstreamPort: wrongPort }),
      repair: () => l.nginx!.reload({ upstreamPort: l.upstream.port }),
      cause: 'gateway_misconfig',
      kind: 'refused',
      cites: new RegExp(`127\\.0\\.0\\.1:${wrongPort}, none of the site's upstreams`),
    });
  });
});
