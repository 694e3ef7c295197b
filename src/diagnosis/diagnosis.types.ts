import type { Outcome, ProbeResult } from '../probes/probes.types.js';
import type { GatewayLogInput } from '../gatewaylog/gatewaylog.types.js';

export const CAUSE_CODES = [
  'upstream_down',
  'overload',
  'dns_change',
  'dns_failure',
  'firewall',
  'app_error',
  'gateway_misconfig',
  'gateway_down',
  'tls_error',
  /** The target policy refused the resolved address: a configuration error, with how to allow it. */
  'blocked',
  'unknown',
] as const;
export type CauseCode = (typeof CAUSE_CODES)[number];

export interface Cause {
  code: CauseCode;
  /** 0..1 */
  confidence: number;
  /** One line, in plain words, naming the hop where it can (e.g. "upstream app-1 refuses connections"). */
  summary: string;
  /** Lines with times (ISO, UTC) and numbers. */
  evidence: string[];
  /** The owner's next steps. */
  advice: string[];
}

/** One recorded check as diagnosis sees it: what the probe found, and which target it probed. */
export interface TimelineCheck extends ProbeResult {
  /** 'site' for the site's url, else the upstream's id (as a string). */
  target: string;
}

export interface DiagnosisSite {
  id: number;
  name: string;
  url: string;
  failureThreshold: number;
  recoveryThreshold: number;
  upstreams: { id: string; name: string; url: string }[];
}

export type IncidentEventType =
  | 'first_failure'
  | 'opened'
  | 'kind_changed'
  | 'cause_changed'
  | 'recovering'
  | 'resolved';

export interface IncidentEvent {
  at: number;
  type: IncidentEventType;
  message: string;
}

/** The part of an open incident that diagnosis reads and returns. */
export interface IncidentState {
  kind: Outcome;
  /** Every failure kind seen while open, in order of first appearance. */
  kinds: Outcome[];
  openedAt: number;
  /** startedAt of the first failed check of the streak that opened it. */
  firstFailureAt: number;
  failedChecks: number;
  /** Good checks in a row since the last failure (for recovery). */
  goodStreak: number;
  causes: Cause[];
  timeline: IncidentEvent[];
  /**
   * When the check that completed recovery ran. A returned state with `resolvedAt != null` is
   * closed: store it as resolved and pass `open: null` from then on.
   */
  resolvedAt: number | null;
  /**
   * startedAt of the newest site check counted. Diagnosis sets it; storing it is optional. It is
   * only read when the checks passed no longer reach back to `firstFailureAt` (counts are otherwise
   * recomputed from the checks), so that a short window never counts a check twice.
   */
  lastCheckAt?: number;
}

export interface DiagnosisInput {
  site: DiagnosisSite;
  /**
   * Checks of the site and its upstreams, oldest first: at least the baseline window before the
   * current streak and everything since (the caller loads e.g. the last hour, or since the
   * incident's first failure minus one hour).
   */
  checks: TimelineCheck[];
  /** The site's open incident, if any. */
  open: IncidentState | null;
  now: number;
  /** What the gateway's own error log said (src/gatewaylog), when the site has one: cited and weighed by the causes. */
  gatewayLog?: GatewayLogInput;
}

export type SiteState = 'up' | 'degraded' | 'down' | 'unknown';

export interface DiagnosisResult {
  /** The incident after these checks: the same one updated, a new one, or null when none is open. */
  incident: IncidentState | null;
  /** What changed, for the alerts: at most one of opened / resolved, plus cause_changed. */
  changes: ('opened' | 'kind_changed' | 'cause_changed' | 'resolved')[];
  state: SiteState;
}
