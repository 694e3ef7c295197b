import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configSchema } from '../config.js';
import { diagnose } from '../diagnosis/diagnose.js';
import type { DiagnosisResult, DiagnosisSite, TimelineCheck } from '../diagnosis/diagnosis.types.js';
import { formatMs } from '../diagnosis/format.js';
import { createProbeFromOptions } from '../probes/probe.pool.js';
import type { HttpProbe } from '../probes/probes.types.js';
import { siteCreateSchema } from '../sites/sites.schemas.js';
import type { CliIo } from './io.js';

export const diagnoseUsage = `usage: gatewatch diagnose URL [--upstream NAME=URL ...] [--rounds N] [--interval S] [--timeout MS] [--json]

Probes URL (the site, usually through its gateway) and each upstream directly, now: no server,
no database. Each round probes every target at the same moment, on fresh connections, as the
service does. Then it prints each round's checks (target, outcome, status, timings, addresses)
and what Gatewatch would conclude: the site's state and the probable causes, ranked, with their
evidence and advice.

options:
  --upstream NAME=URL  an origin behind the gateway, probed directly (repeat for each; at most 20)
  --rounds N           rounds to run, 1 to 100 (default 3)
  --interval S         seconds between rounds, 0 to 3600 (default 2)
  --timeout MS         time-out of each probe in ms, 100 to 120000 (default 10000)
  --json               print one JSON document instead of text
  -h, --help           this help

Names are resolved through DNS_SERVERS when set; ALLOW_TARGETS and DENY_TARGETS apply as in
the service. A status from 200 to 299 is a success.

exit status:
  0  every check succeeded (the site is fine; its state may still be degraded by slowness)
  1  a failure was seen: a check of the site or of an upstream failed
  2  bad usage`;

const ROUND_GAP_DEFAULT_S = 2;

interface Options {
  url: string;
  upstreams: { name: string; url: string }[];
  rounds: number;
  intervalSeconds: number;
  timeoutMs: number;
  json: boolean;
}

class UsageError extends Error {}

const intIn = (flag: string, min: number, max: number, fallback: number) => (raw: string | undefined) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
};

function parseOptions(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        upstream: { type: 'string', multiple: true },
        rounds: { type: 'string' },
        interval: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'the URL to probe is missing' : `one URL only (got ${positionals.join(' ')})`);

  const upstreams = (values.upstream ?? []).map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`--upstream must be NAME=URL (got ${JSON.stringify(spec)})`);
    return { name: spec.slice(0, eq), url: spec.slice(eq + 1) };
  });
  const timeoutMs = intIn('--timeout', 100, 120_000, 10_000)(values.timeout);
  // The same rules as a site created through the API: URLs, names, at most 20 unique upstreams.
  const checked = siteCreateSchema.safeParse({ name: 'diagnose', url: positionals[0], upstreams, timeoutMs });
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = issue.path[0] === 'url' ? 'URL' : issue.path[0] === 'upstreams' ? `--upstream${issue.path.length > 1 ? ` ${upstreams[Number(issue.path[1])]?.name ?? ''}` : ''}`.trim() : String(issue.path.join('.'));
    throw new UsageError(`${field}: ${issue.message}`);
  }
  return {
    url: positionals[0],
    upstreams,
    rounds: intIn('--rounds', 1, 100, 3)(values.rounds),
    intervalSeconds: intIn('--interval', 0, 3600, ROUND_GAP_DEFAULT_S)(values.interval),
    timeoutMs,
    json: values.json ?? false,
  };
}

/** DNS_SERVERS, ALLOW_TARGETS, DENY_TARGETS as the service reads them. */
const probeSettings = configSchema.pick({ DNS_SERVERS: true, ALLOW_TARGETS: true, DENY_TARGETS: true });

export interface RoundCheck extends TimelineCheck {
  name: string;
  url: string;
}

export interface DiagnoseReport {
  url: string;
  upstreams: { name: string; url: string }[];
  rounds: { at: number; checks: RoundCheck[] }[];
  /** Whether a check of the site or of an upstream failed. */
  failed: boolean;
  state: DiagnosisResult['state'];
  /** What an incident would say: the failure that opened it, failed checks, ranked causes, timeline. */
  incident: Pick<NonNullable<DiagnosisResult['incident']>, 'kind' | 'kinds' | 'failedChecks' | 'causes' | 'timeline'> | null;
}

/**
 * Runs the rounds and diagnoses the timeline in memory, with the service's probe and its pure
 * diagnosis. An incident opens at the first failed check of the site (threshold 1) and stays open
 * through the run, so that a failure seen in any round gets its ranked causes.
 */
export async function runDiagnose(options: Omit<Options, 'json'>, probe: HttpProbe, now: () => number = Date.now): Promise<DiagnoseReport> {
  const site: DiagnosisSite = {
    id: 0,
    name: new URL(options.url).hostname,
    url: options.url,
    failureThreshold: 1,
    recoveryThreshold: options.rounds + 1,
    upstreams: options.upstreams.map((u, i) => ({ id: String(i + 1), name: u.name, url: u.url })),
  };
  const targets = [{ id: 'site', name: 'site', url: options.url }, ...site.upstreams];
  const rounds: DiagnoseReport['rounds'] = [];
  for (let round = 0; round < options.rounds; round++) {
    if (round > 0 && options.intervalSeconds > 0) await new Promise((r) => setTimeout(r, options.intervalSeconds * 1000));
    const at = now();
    const checks = await Promise.all(
      targets.map(async (t) => ({
        ...(await probe({ url: t.url, timeoutMs: options.timeoutMs, expectedStatus: [200, 299] })),
        target: t.id,
        name: t.name,
        url: t.url,
      })),
    );
    rounds.push({ at, checks });
  }
  const checks = rounds.flatMap((r) => r.checks);
  const result = diagnose({ site, checks, open: null, now: now() });
  const incident = result.incident
    ? { kind: result.incident.kind, kinds: result.incident.kinds, failedChecks: result.incident.failedChecks, causes: result.incident.causes, timeline: result.incident.timeline }
    : null;
  return { url: options.url, upstreams: options.upstreams, rounds, failed: checks.some((c) => c.outcome !== 'ok'), state: result.state, incident };
}

const time = (at: number) => `${new Date(at).toISOString().slice(11, 23)}Z`;
const ms = (v: number | null) => (v === null ? '-' : formatMs(v));

function describeCheck(c: RoundCheck): string[] {
  const status = c.statusCode === null ? '' : ` ${c.statusCode}`;
  const gateway = c.gateway ? ` (answered by ${c.gateway})` : '';
  const lines = [`  ${c.name.padEnd(12)} ${c.outcome}${status}${gateway}  ${c.url}`];
  lines.push(`  ${''.padEnd(12)} dns ${ms(c.dnsMs)}, connect ${ms(c.connectMs)}, tls ${ms(c.tlsMs)}, ttfb ${ms(c.ttfbMs)}, total ${ms(c.totalMs)}`);
  const used = c.address ? `connected to ${c.address}` : 'no connection';
  lines.push(`  ${''.padEnd(12)} addresses ${c.addresses.length ? c.addresses.join(', ') : 'none'}; ${used}`);
  if (c.errorMessage) lines.push(`  ${''.padEnd(12)} error: ${c.errorMessage}`);
  return lines;
}

/** The report as text: rounds with their checks, then the verdict and the ranked causes. */
export function formatReport(report: DiagnoseReport): string {
  const out: string[] = [`gatewatch diagnose ${report.url}: ${report.rounds.length} ${report.rounds.length === 1 ? 'round' : 'rounds'}`, ''];
  report.rounds.forEach((round, i) => {
    out.push(`round ${i + 1} at ${time(round.at)}`);
    for (const check of round.checks) out.push(...describeCheck(check));
    out.push('');
  });
  out.push(`state: ${report.state}${report.failed ? ' (a failure was seen)' : ''}`);
  const incident = report.incident;
  if (!incident) {
    out.push(report.failed ? 'the site answered as expected; an upstream failed (see its checks above)' : 'every check succeeded');
    return out.join('\n') + '\n';
  }
  out.push(`failure: ${incident.kinds.join(', ')} in ${incident.failedChecks} of ${report.rounds.length} checks of the site`, '');
  out.push('probable causes, most likely first:');
  incident.causes.forEach((cause, i) => {
    out.push(`${i + 1}. ${cause.code} (confidence ${cause.confidence.toFixed(2)}): ${cause.summary}`);
    if (cause.evidence.length) out.push('   evidence:', ...cause.evidence.map((e) => `   - ${e}`));
    if (cause.advice.length) out.push('   what to do:', ...cause.advice.map((a) => `   - ${a}`));
  });
  return out.join('\n') + '\n';
}

/** `gatewatch diagnose ...`: 0 fine, 1 a failure was seen, 2 bad usage. */
export async function diagnoseCommand(argv: string[], io: CliIo): Promise<number> {
  let options: Options | 'help';
  let probe: HttpProbe;
  try {
    options = parseOptions(argv);
    if (options === 'help') {
      io.out(diagnoseUsage + '\n');
      return 0;
    }
    const settings = probeSettings.safeParse(Object.fromEntries(Object.entries(io.env).filter(([k, v]) => k in probeSettings.shape && v)));
    if (!settings.success) throw new UsageError(settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    probe = createProbeFromOptions({ dnsServers: settings.data.DNS_SERVERS, allowTargets: settings.data.ALLOW_TARGETS, denyTargets: settings.data.DENY_TARGETS });
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof z.ZodError)) throw error;
    io.err(`gatewatch diagnose: ${error.message}\n\n${diagnoseUsage}\n`);
    return 2;
  }
  const report = await runDiagnose(options, probe);
  io.out(options.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.failed ? 1 : 0;
}
