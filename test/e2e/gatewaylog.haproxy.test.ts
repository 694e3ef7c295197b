/**
 * End to end: HAProxy (`option httplog`, `log stdout format raw`, its stdout a temp file) in
 * front of an upstream; Gatewatch follows the file and the incident's causes cite its
 * termination states: upstream stopped (SC), slow (`timeout server 1s`, the upstream takes 2 s:
 * sH), broken HTTP (PH). Needs HAProxy (Debian: apt-get install -y haproxy).
 */
import { afterAll, describe, it } from 'vitest';
import { scenario, startLogLab, type LogLab } from './gatewaylog.lab.js';

let lab: LogLab | undefined;
afterAll(async () => {
  await lab?.close();
});

describe("e2e: Gatewatch reads HAProxy's log and cites it", () => {
  it('stopped -> upstream_down, slow -> overload, broken -> app_error', { timeout: 240_000 }, async () => {
    lab = await startLogLab('haproxy');
    const l = lab;
    await l.baseline(5);
    await scenario(l, 'upstream stopped', {
      breakIt: () => l.upstream.stop(),
      repair: () => l.upstream.start(),
      cause: 'upstream_down',
      kind: 'refused',
      cites: /\d+x "be\/app-1 status 503, termination state SC--" \(upstream app-1\)/,
    });
    await l.baseline(8);
    await scenario(l, 'upstream slow', {
      breakIt: () => l.upstream.set({ kind: 'healthy', delayMs: 2000 }),
      repair: () => l.upstream.set({ kind: 'healthy' }),
      cause: 'overload',
      kind: 'header_timeout',
      cites: /"be\/app-1 status 504, termination state sH--"/,
    });
    await l.baseline(8);
    await scenario(l, 'broken HTTP', {
      breakIt: () => l.upstream.set({ kind: 'broken' }),
      repair: () => l.upstream.set({ kind: 'healthy' }),
      cause: 'app_error',
      kind: 'invalid_header',
      cites: /"be\/app-1 status 502, termination state PH--"/,
    });
  });
});
