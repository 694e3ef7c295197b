import type { Cause, CauseCode, DiagnosisSite, TimelineCheck } from './diagnosis.types.js';
import { buildContext, type DiagnosisContext } from './context.js';
import { detectors, explainUnknown, type Finding } from './detectors/index.js';
import { clamp01, round2 } from './stats.js';
import { weighGatewayLog } from './gateway-log.js';
import type { GatewayLogInput } from '../gatewaylog/gatewaylog.types.js';

/**
 * When two causes start at the same moment, the one earlier here is more likely the root: a DNS
 * change makes an upstream refuse, overload makes connects time out, and so on.
 */
const ROOT_ORDER: CauseCode[] = [
  'blocked',
  'dns_change',
  'dns_failure',
  'overload',
  'tls_error',
  'firewall',
  'gateway_down',
  'app_error',
  'upstream_down',
  'gateway_misconfig',
  'unknown',
];
/** A cause that only repeats what an earlier one explains keeps this share of its confidence. */
const CONSEQUENCE_FACTOR = 0.75;
/** The previous top cause stays on top unless another beats it by more than this. */
const HYSTERESIS = 0.05;

export interface RankCausesInput {
  site: DiagnosisSite;
  /** The site's and its upstreams' checks: the hour before the streak and everything since. */
  checks: TimelineCheck[];
  /** startedAt of the streak's first failed site check. */
  firstFailureAt: number;
  now: number;
  /** The causes ranked last time, if any, so that the top one does not flap on a near tie. */
  previous?: Cause[];
  /** The gateway's error log lines kept for the site (see weighGatewayLog). */
  gatewayLog?: GatewayLogInput;
}

const rootRank = (code: CauseCode): number => ROOT_ORDER.indexOf(code);

/** Says which of a finding's upstreams were failing all along, and so do not count. */
function chronicNotes(ctx: DiagnosisContext, finding: Finding): string[] {
  return ctx.upstreams
    .filter((u) => finding.hops.includes(u.key) && ctx.chronic.has(u.key))
    .map((u) => `${u.label} already ${ctx.chronic.get(u.key)}, while the site was fine: not counted as the cause`);
}

/**
 * a came before b: in an earlier round, or in the same round about the same hop with a cause that
 * usually leads to b's (a DNS change makes that upstream refuse; overload makes its connects fail).
 */
function precedes(a: Finding, b: Finding): boolean {
  if (a.onset !== b.onset) return a.onset < b.onset;
  return rootRank(a.code) < rootRank(b.code) && a.hops.some((hop) => b.hops.includes(hop));
}

/** b is likely a consequence of a: a came first, is about as strong, and explains all b explains. */
function consequenceOf(b: Finding, a: Finding): boolean {
  return (
    b.explains.size > 0 &&
    a.strength + 0.1 >= b.strength - 1e-9 &&
    precedes(a, b) &&
    [...b.explains].every((at) => a.explains.has(at))
  );
}

/**
 * The probable causes of the streak that started at `firstFailureAt`, best first.
 *
 * Each detector looks at the streak (from its lead-in, the last few rounds or minutes before the
 * first failure, up to `now`) against the hour before it. Confidence = the detector's strength x
 * how many failing site checks it explains; a cause that came later and only explains what an
 * earlier one already does (its likely consequence) is lowered. `unknown` appears when the rest
 * explain less than half. Pure: the same input always gives the same list.
 */
export function rankCauses(input: RankCausesInput): Cause[] {
  const ctx = buildContext(input);
  const detected = Object.values(detectors)
    .map((detect) => detect(ctx))
    .filter((f): f is Finding => f !== null);
  const findings = weighGatewayLog(ctx, detected)
    // Checks of one round start a few ms apart; "earlier" means an earlier round.
    .map((f) => ({ ...f, onset: ctx.roundAt(f.onset), evidence: [...f.evidence, ...chronicNotes(ctx, f)] }));
  const unknown = explainUnknown(ctx, findings);
  if (unknown) findings.push(unknown);

  const total = ctx.failing.length;
  const ranked = findings
    .map((f) => {
      const coverage = total ? f.explains.size / total : 0;
      const consequence = findings.some((a) => a !== f && consequenceOf(f, a));
      const score = f.strength * (0.2 + 0.8 * coverage) * (consequence ? CONSEQUENCE_FACTOR : 1);
      return { f, confidence: round2(clamp01(score)) };
    })
    .sort(
      (a, b) =>
        b.confidence - a.confidence || a.f.onset - b.f.onset || rootRank(a.f.code) - rootRank(b.f.code),
    );

  const previousTop = input.previous?.[0]?.code;
  const keep = ranked.findIndex((r) => r.f.code === previousTop);
  if (keep > 0 && ranked[keep].confidence >= ranked[0].confidence - HYSTERESIS) {
    ranked.unshift(...ranked.splice(keep, 1));
  }

  return ranked.map(({ f, confidence }) => ({
    code: f.code,
    confidence,
    summary: f.summary,
    evidence: f.evidence,
    advice: f.advice,
  }));
}
