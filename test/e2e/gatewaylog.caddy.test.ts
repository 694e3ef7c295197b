/**
 * End to end: Caddy (reverse_proxy, its JSON log a temp file) in
 * front of an upstream; Gatewatch follows the file and the incident's causes cite its
 * http.log.error entries: upstream stopped (connection refused), slow
 * (response_header_timeout 1s, the upstream takes 2 s), broken HTTP (malformed MIME header).
 * Needs Caddy (Debian: apt-get install -y caddy).
 */
import { afterAll, describe, it } from 'vitest';
import { startLogLab, threeFaults, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads Caddy's JSON log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error', { timeout: 240_000 }, async () => {
    lab = await startLogLab('caddy');
    const l = lab;
    await threeFaults(l, {
      stopped: /\d+x "dial tcp 127\.0\.0\.1:\d+: connect: connection refused" \(upstream app-1/,
      slow: /"net\/http: timeout awaiting response headers"/,
      broken: /malformed MIME header/,
    });
  });
});
