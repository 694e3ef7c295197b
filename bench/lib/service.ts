/**
 * The real service, started in this process the way `startService` starts it (scheduler, alert
 * sender, housekeeping, HTTP server), but keeping hold of the parts the bench reads: the
 * scheduler's stats and the database. Real probes, real resolver (through DNS_SERVERS), real
 * recorder, probes on the main thread or worker threads as PROBE_THREADS says; only the database
 * sits in a temp folder.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { closeDatabase } from '../../src/db/client.js';
import { buildService, type Service } from '../../src/service.js';
import { createLogger } from '../../src/shared/logger.js';

export const BENCH_TOKEN = 'bench-token-0123456789abcdef';

export interface BenchService {
  svc: Service;
  api: string;
  stop(): Promise<void>;
}

export async function startBenchService(env: Record<string, string>): Promise<BenchService> {
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', API_TOKEN: BENCH_TOKEN, LOG_LEVEL: 'warn', ...env });
  const svc = buildService(config, createLogger(config.LOG_LEVEL));
  svc.scheduler.start();
  svc.sender.start();
  svc.housekeeping.start();
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    svc,
    api: `http://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeAllConnections' in server) server.closeAllConnections();
      await svc.scheduler.stop();
      await svc.probes.close();
      svc.housekeeping.stop();
      await svc.sender.stop();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
}

export { closeDatabase };
