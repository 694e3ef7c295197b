import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { closeDatabase } from '../../src/db/client.js';
import { buildService, type Service, type ServiceOverrides } from '../../src/service.js';
import { silentLogger, type Logger } from '../../src/shared/logger.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface TestService {
  svc: Service;
  dir: string;
  /** Calls the app in-process (no socket); JSON body in and out. */
  call(method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** A fully wired service on its own temp database (real migrations); nothing started. */
export function createTestService(env: Record<string, string> = {}, overrides: ServiceOverrides = {}, logger: Logger = silentLogger): TestService {
  const dir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const config = loadConfig({ DATABASE_PATH: join(dir, 'gw.db'), API_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', ...env });
  let svc: Service;
  try {
    svc = buildService(config, logger, overrides);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    svc,
    dir,
    async call(method, path, body, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const token = opts.token === undefined ? TEST_TOKEN : opts.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined = opts.raw;
      if (body !== undefined) payload = JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] ??= 'application/json';
      const res = await svc.app.request(path, { method, headers, body: payload });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* keep text */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await svc.scheduler.stop();
      svc.storeHeld();
      await svc.sender.stop();
      await svc.webhooks.stop();
      svc.housekeeping.stop();
      svc.gatewayLogs.stop();
      svc.status.stop();
      svc.stopStorage();
      closeDatabase(svc.db);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
