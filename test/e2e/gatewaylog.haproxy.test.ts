/**
 * End to end: HAProxy (`option httplog`, `log stdout format raw`, its stdout a temp file) in
 * front of an upstream; Gatewatch follows the file and the incident's causes cite its
 * termination states: upstream stopped (SC), slow (`timeout server 1s`, the upstream takes 2 s:
 * sH), broken HTTP (PH). Needs HAProxy (Debian: apt-get install -y haproxy).
 */
import { afterAll, describe, it } from 'vitest';
import { startLogLab, threeFaults, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads HAProxy's log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error', { timeout: 240_000 }, async () => {
    lab = await startLogLab('haproxy');
    const l = lab;
    await threeFaults(l, {
      stopped: /\d+x "be\/app-1 status 503, termination state SC--" \(upstream app-1\)/,
      slow: /"be\/app-1 status 504, termination state sH--"/,
      broken: /"be\/app-1 status 502, termination state PH--"/,
    });
  });
});
