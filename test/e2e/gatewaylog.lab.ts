/**
 * The lab for the gateway-log scenarios: one real gateway (nginx, HAProxy, Apache or Caddy)
 * writing its error log to a temp file, an upstream the test switches, and Gatewatch (scheduler
 * and log follower running) watching the site through the gateway, the upstream directly, and
 * the gateway's log.
 *
 *   const lab = await startLogLab('haproxy');
 *   await lab.baseline();
 *   await lab.upstream.stop();
 *   const { detail } = await lab.incidentCitingLog();   // the open incident, once its causes cite the log
 *   await lab.upstream.start(); await lab.resolved(detail.id);
 *   await lab.close();
 *
 * `withoutLog(detail)` ranks the causes again from the same recorded checks without the log: what
 * Gatewatch would have said had the site no gatewayLog.
 */
import { basename, join } from 'node:path';
import { expect } from 'vitest';
import { rankCauses } from '../../src/diagnosis/causes.js';
import type { TimelineCheck } from '../../src/diagnosis/diagnosis.types.js';
import type { GatewayLogFormat } from '../../src/gatewaylog/gatewaylog.types.js';
import { startGateway } from '../support/gateways.js';
import { startNginx, type Nginx } from '../support/nginx.js';
import { createTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { formatChecks, startSwitchableUpstream, type CheckView, type SwitchableUpstream } from './lab.js';

export const PRODUCT_NAMES: Record<GatewayLogFormat, string> = { nginx: 'nginx', haproxy: 'HAProxy', apache: 'Apache', caddy: 'Caddy' };

export interface LogLab {
  product: GatewayLogFormat;
  upstream: SwitchableUpstream;
  /** Set for nginx (reload to another port). */
  nginx: Nginx | null;
  t: TestService;
  site: any;
  logFile: string;
  /** "nginx error.log": how evidence cites the file. */
  cite: string;
  /** `n` good rounds (site and upstream) from now on, and the site up. */
  baseline(n?: number): Promise<void>;
  /** The open incident's detail once one of its causes cites the gateway's log. */
  incidentCitingLog(): Promise<any>;
  /** Waits until the incident is resolved and the site up. */
  resolved(incidentId: number): Promise<void>;
  /** The top cause ranked from the same checks without the log. */
  withoutLog(detail: any): Promise<{ code: string; confidence: number; summary: string }>;
  logLines(): Promise<any[]>;
  report(): Promise<string>;
  close(): Promise<void>;
}

export async function startLogLab(product: GatewayLogFormat): Promise<LogLab> {
  const started: (() => Promise<void>)[] = [];
  try {
    const upstream = await startSwitchableUpstream('127.0.0.1');
    started.push(() => upstream.close());
    let nginx: Nginx | null = null;
    let url: string;
    let logFile: string;
    let gatewayLog: () => string;
    if (product === 'nginx') {
      const gw = await startNginx({ upstreamHost: '127.0.0.1', upstreamPort: upstream.port, connectTimeoutSeconds: 1, readTimeoutSeconds: 1 });
      nginx = gw;
      started.push(() => gw.stop());
      url = gw.url;
      logFile = join(gw.dir, 'error.log');
      gatewayLog = () => gw.errorLog();
    } else {
      const gw = await startGateway(product, { upstreamPort: upstream.port, timeoutSeconds: 1 });
      started.push(() => gw.stop());
      url = gw.url;
      logFile = gw.logFile;
      gatewayLog = () => gw.log();
    }
    const t = createTestService();
    started.push(() => t.close());
    t.svc.scheduler.start();
    t.svc.gatewayLogs.start();
    const created = await t.call('POST', '/api/sites', {
      name: 'shop',
      url,
      upstreams: [{ name: 'app-1', url: `${upstream.url.replace(/\/$/, '')}/health` }],
      intervalSeconds: 1,
      timeoutMs: 3000,
      failureThreshold: 3,
      recoveryThreshold: 2,
      gatewayLog: { path: logFile, format: product },
    });
    if (created.status !== 201) throw new Error(`could not add the site: ${JSON.stringify(created.body)}`);
    const site = created.body;
    const cite = `${PRODUCT_NAMES[product]} ${basename(logFile)}:`;

    const checks = async (): Promise<CheckView[]> =>
      ((await t.call('GET', `/api/sites/${site.id}/checks?limit=1000`)).body.checks as CheckView[]).slice().reverse();
    const logLines = async () => (await t.call('GET', `/api/sites/${site.id}/log-lines?limit=1000`)).body.lines as any[];
    const report = async () => {
      const incidents = await t.call('GET', `/api/incidents?siteId=${site.id}`);
      return [
        `checks (oldest first, last 40):\n${formatChecks((await checks()).slice(-40))}`,
        `incidents: ${JSON.stringify(incidents.body.incidents?.map((i: any) => ({ id: i.id, state: i.state, causes: i.causes.map((c: any) => `${c.code} ${c.confidence}: ${c.summary} | ${c.evidence[0]}`) })), null, 2)}`,
        `log lines kept: ${JSON.stringify((await logLines()).slice(0, 8).map((l) => `${l.kind} ${l.relation} ${l.message}`), null, 2)}`,
        `${product} log (last lines):\n${gatewayLog().split('\n').filter((l) => !/handled request|\[notice\]|\[info\]/.test(l)).slice(-15).join('\n')}`,
      ].join('\n\n');
    };
    const wait = async <T>(condition: () => Promise<T | null | undefined | false>, message: string, timeoutMs = 40_000): Promise<T> => {
      try {
        return (await waitFor(condition, { timeoutMs, intervalMs: 200, message })) as T;
      } catch (error) {
        throw new Error(`${(error as Error).message}\n\n${await report()}`);
      }
    };

    return {
      product,
      upstream,
      nginx,
      t,
      site,
      logFile,
      cite,
      logLines,
      report,
      async baseline(n = 5) {
        const since = Date.now();
        await wait(async () => {
          const recent = (await checks()).filter((c) => c.startedAt > since);
          return recent.filter((c) => c.target === 'site' && c.outcome === 'ok').length >= n &&
            recent.filter((c) => c.target !== 'site' && c.outcome === 'ok').length >= n &&
            (await t.call('GET', `/api/sites/${site.id}`)).body.state === 'up'
            ? true
            : null;
        }, `${n} good rounds and the site up`);
      },
      incidentCitingLog() {
        return wait(async () => {
          const open = (await t.call('GET', `/api/incidents?siteId=${site.id}&state=open`)).body.incidents[0];
          if (!open) return null;
          const detail = (await t.call('GET', `/api/incidents/${open.id}`)).body;
          return detail.causes.some((c: any) => c.evidence.some((e: string) => e.startsWith(cite))) ? detail : null;
        }, `an open incident whose causes cite "${cite}"`);
      },
      async resolved(incidentId) {
        await wait(async () => {
          const incident = (await t.call('GET', `/api/incidents/${incidentId}`)).body;
          return incident.state === 'resolved' && (await t.call('GET', `/api/sites/${site.id}`)).body.state === 'up';
        }, `incident ${incidentId} resolved`);
      },
      async withoutLog(detail) {
        const all = await checks();
        const timeline: TimelineCheck[] = all.map((c: any) => ({
          target: c.target,
          startedAt: c.startedAt,
          outcome: c.outcome,
          statusCode: c.statusCode,
          errorMessage: c.errorMessage,
          addresses: c.addresses,
          address: c.address,
          dnsMs: c.dnsMs ?? null,
          connectMs: c.connectMs,
          tlsMs: c.tlsMs ?? null,
          ttfbMs: c.ttfbMs,
          totalMs: c.totalMs,
          gateway: c.gateway,
        }));
        const causes = rankCauses({
          site: {
            id: site.id,
            name: site.name,
            url: site.url,
            failureThreshold: site.failureThreshold,
            recoveryThreshold: site.recoveryThreshold,
            upstreams: site.upstreams.map((u: any) => ({ id: String(u.id), name: u.name, url: u.url })),
          },
          checks: timeline.filter((c) => c.startedAt >= detail.firstFailureAt - 3_600_000),
          firstFailureAt: detail.firstFailureAt,
          now: Date.now(),
        });
        const top = causes[0];
        expect(top, 'causes without the log').toBeDefined();
        return { code: top.code, confidence: top.confidence, summary: top.summary };
      },
      async close() {
        for (const stop of started.reverse()) await stop().catch(() => {});
      },
    };
  } catch (error) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw error;
  }
}

/**
 * One fault: break, wait for the incident citing the log, check its top cause and the line cited,
 * repair, wait for it to resolve. Prints the top cause with and without the log.
 */
export async function scenario(
  lab: LogLab,
  name: string,
  opts: { breakIt: () => Promise<void> | void; repair: () => Promise<void> | void; cause: string; cites: RegExp; kind: string },
) {
  await opts.breakIt();
  const detail = await lab.incidentCitingLog();
  const report = await lab.report();
  const top = detail.causes[0];
  expect(top.code, `${lab.product} ${name}: top cause\n${report}`).toBe(opts.cause);
  const cited = top.evidence.filter((e: string) => e.startsWith(lab.cite));
  expect(cited.length, `${lab.product} ${name}: the top cause cites the log\n${report}`).toBeGreaterThan(0);
  expect(cited.join('\n'), report).toMatch(opts.cites);
  expect(cited[0]).toMatch(/: \d+x "/);
  const kept = await lab.logLines();
  expect(kept.some((l) => l.kind === opts.kind), `${lab.product} ${name}: a ${opts.kind} line kept\n${report}`).toBe(true);
  // Kept with the incident: retention keeps them as long as it.
  expect(kept.some((l) => l.kind === opts.kind && l.incidentId === detail.id), `${lab.product} ${name}: lines attached to the incident`).toBe(true);
  const without = await lab.withoutLog(detail);
  // For the report: what the log changed.
  console.log(
    `[gatewaylog] ${lab.product} / ${name}: with log ${top.code} ${top.confidence}; without ${without.code} ${without.confidence}; cited: ${cited[0]}`,
  );
  await opts.repair();
  await lab.resolved(detail.id);
  return { detail, without };
}

/**
 * The three faults every gateway is tried with, each after a healthy stretch: the upstream
 * stopped (-> upstream_down), slow past the gateway's time-out (-> overload), broken HTTP
 * (-> app_error); `cites` is what the top cause must quote of the gateway's own lines for each.
 */
export async function threeFaults(lab: LogLab, cites: { stopped: RegExp; slow: RegExp; broken: RegExp }) {
  await lab.baseline(5);
  await scenario(lab, 'upstream stopped', {
    breakIt: () => lab.upstream.stop(),
    repair: () => lab.upstream.start(),
    cause: 'upstream_down',
    kind: 'refused',
    cites: cites.stopped,
  });
  await lab.baseline(8);
  await scenario(lab, 'upstream slow', {
    breakIt: () => lab.upstream.set({ kind: 'healthy', delayMs: 2000 }),
    repair: () => lab.upstream.set({ kind: 'healthy' }),
    cause: 'overload',
    kind: 'header_timeout',
    cites: cites.slow,
  });
  await lab.baseline(8);
  await scenario(lab, 'broken HTTP', {
    breakIt: () => lab.upstream.set({ kind: 'broken' }),
    repair: () => lab.upstream.set({ kind: 'healthy' }),
    cause: 'app_error',
    kind: 'invalid_header',
    cites: cites.broken,
  });
}
