/**
 * A logger that keeps what it is told, for tests that assert on log lines.
 *
 *   const { logger, entries } = recordingLogger();
 *   createTestService({}, {}, logger);
 *   expect(entries.some((e) => e.msg === 'incident opened')).toBe(true);
 */
import type { Logger } from '../../src/shared/logger.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (msg: string, fields: Record<string, unknown> = {}) => void entries.push({ level, msg, fields });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}
