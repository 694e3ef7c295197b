/**
 * End to end: Apache httpd (mod_proxy_http, `ErrorLog` a temp file) in
 * front of an upstream; Gatewatch follows the file and the incident's causes cite its
 * AH codes: upstream stopped (AH00957), slow (`timeout=1`, the upstream takes 2 s:
 * AH01102), broken HTTP (AH01106). Needs apache2 (Debian: apt-get install -y apache2).
 */
import { afterAll, describe, it } from 'vitest';
import { scenario, startLogLab, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads Apache's error log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error', { timeout: 240_000 }, async () => {
    lab = await startLogLab('apache');
    const l = lab;
    await l.baseline(5);
    await scenario(l, 'upstream stopped', {
      breakIt: () => l.upstream.stop(),
      repair: () => l.upstream.start(),
      cause: 'upstream_down',
      kind: 'refused',
      cites: /\d+x "\(111\)Connection refused: AH00957: http: attempt to connect to 127\.0\.0\.1:\d+ .*" \(upstream app-1/,
    });
    await l.baseline(8);
    await scenario(l, 'upstream slow', {
      breakIt: () => l.upstream.set({ kind: 'healthy', delayMs: 2000 }),
      repair: () => l.upstream.set({ kind: 'healthy' }),
      cause: 'overload',
      kind: 'header_timeout',
      cites: /"\(70007\)The timeout specified has expired: AH01102: error reading status line from remote server 127\.0\.0\.1:\d+"/,
    });
    await l.baseline(8);
    await scenario(l, 'broken HTTP', {
      breakIt: () => l.upstream.set({ kind: 'broken' }),
      repair: () => l.upstream.set({ kind: 'healthy' }),
      cause: 'app_error',
      kind: 'invalid_header',
      cites: /"AH01106: bad HTTP\/1\.1 header returned by \/ \(GET\)"/,
    });
  });
});
