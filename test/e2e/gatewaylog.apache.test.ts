/**
 * End to end: Apache httpd (mod_proxy_http, `ErrorLog` a temp file) in
 * front of an upstream; Gatewatch follows the file and the incident's causes cite its
 * AH codes: upstream stopped (AH00957), slow (`timeout=1`, the upstream takes 2 s:
 * AH01102), broken HTTP (AH01106). Needs apache2 (Debian: apt-get install -y apache2).
 */
import { afterAll, describe, it } from 'vitest';
import { startLogLab, threeFaults, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads Apache's error log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error', { timeout: 240_000 }, async () => {
    lab = await startLogLab('apache');
    const l = lab;
    await threeFaults(l, {
      stopped: /\d+x "\(111\)Connection refused: AH00957: http: attempt to connect to 127\.0\.0\.1:\d+ .*" \(upstream app-1/,
      slow: /"\(70007\)The timeout specified has expired: AH01102: error reading status line from remote server 127\.0\.0\.1:\d+"/,
      broken: /"AH01106: bad HTTP\/1\.1 header returned by \/ \(GET\)"/,
    });
  });
});
