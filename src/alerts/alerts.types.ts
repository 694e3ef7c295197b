import type { Cause, IncidentEvent } from '../diagnosis/diagnosis.types.js';
import type { GatewayProduct, Outcome } from '../probes/probes.types.js';
import type { MaintenanceWindow } from '../sites/sites.table.js';
import type { AlertKind } from './alerts.table.js';

/** What the outbox needs of a site (a `SiteView` fits). */
export interface AlertSiteInfo {
  id: number;
  name: string;
  url: string;
  /** Empty means the configured ALERT_TO. */
  alertEmails: string[];
  maintenance: MaintenanceWindow[];
  /** A paused site gets no reminders. */
  paused?: boolean;
}

/**
 * Everything an email needs, captured when the alert was written: the sender renders from this
 * alone, so a later change to the site or incident (or their deletion) cannot alter or block it.
 */
export interface AlertPayload {
  site: { id: number; name: string; url: string };
  incident: {
    id: number;
    kind: Outcome;
    kinds: Outcome[];
    openedAt: number;
    firstFailureAt: number;
    resolvedAt: number | null;
    failedChecks: number;
    /** Ranked, best first. */
    causes: Cause[];
    /** The last few events, oldest first. */
    timeline: IncidentEvent[];
  };
  /** Which gateway product produced the error answers, when recognised. */
  gateway: GatewayProduct | null;
  /** When the alert was written (the moment its news refers to). */
  at: number;
  /** cause_changed only: the top cause the owners were told about before. */
  previousCause?: string | null;
}

/** An alert as the renderer sees it. */
export interface AlertMessage {
  id: number;
  kind: AlertKind;
  payload: AlertPayload;
}
