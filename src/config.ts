import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCidrList } from './probes/target-policy.js';

const bool = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), `${name} must be true or false`)
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^:\s,]+)(:\d{1,5})?$/;

const emailList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.email()));

const cidrs = z.string().transform((v, ctx) => {
  try {
    return parseCidrList(v);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const configSchema = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_PATH: z.string().min(1).default('./data/gatewatch.db'),
  API_TOKEN: z.string().min(16, 'API_TOKEN must be at least 16 characters').optional(),
  SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\//.test(v) && URL.canParse(v), 'SMTP_URL must be an smtp:// or smtps:// URL')
    .optional(),
  ALERT_FROM: z.email('ALERT_FROM must be an email address').default('gatewatch@localhost'),
  ALERT_TO: emailList.optional(),
  DNS_SERVERS: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .refine((list) => list.every((s) => hostPort.test(s)), 'DNS_SERVERS must be comma-separated host[:port]')
    .optional(),
  STATUS_PUBLIC: bool('STATUS_PUBLIC').default(true),
  REMINDER_MINUTES: int(0, 10_080).default(60),
  ALERT_GROUP_SECONDS: int(0, 3600).default(30),
  RETENTION_RAW_HOURS: int(1, 24 * 365).default(48),
  ALLOW_TARGETS: cidrs.optional(),
  DENY_TARGETS: cidrs.optional(),
  /** Where users reach Gatewatch (absolute http(s) URL): alerts and webhooks link to the incident's page. */
  PUBLIC_URL: z
    .string()
    .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), 'PUBLIC_URL must be an absolute http:// or https:// URL')
    .optional(),
  /** GET /metrics without the API token. */
  METRICS_PUBLIC: bool('METRICS_PUBLIC').default(false),
  /** A cert_expiring alert when a target's certificate expires within this many days. */
  CERT_WARN_DAYS: int(1, 365).default(14),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Upper bound on probes in flight at once, across all sites. */
  MAX_CONCURRENT_PROBES: int(1, 10_000).default(2048),
  /** Worker threads for probes: `auto` (the main thread, workers only for the excess of a high rate), 0 (none), 1-16 (all probes). */
  PROBE_THREADS: z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => v === 'auto' || (/^\d{1,2}$/.test(v) && Number(v) <= 16), 'PROBE_THREADS must be auto or an integer from 0 to 16')
    .transform((v): 'auto' | number => (v === 'auto' ? 'auto' : Number(v)))
    .default('auto'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

/** Reads `KEY=value` lines of a .env file; values already in the environment win. */
export function readDotEnv(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    let value = m[2];
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    out[m[1]] = value;
  }
  return out;
}

/** Parses the configuration once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape)
      .map((key) => [key, env[key] === '' ? undefined : env[key]])
      .filter(([, v]) => v !== undefined),
  );
  const parsed = configSchema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/** For entry points: the configuration, or a message naming the bad variable and exit code 2. */
export function loadConfigOrExit(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gatewatch: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
