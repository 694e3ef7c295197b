import type { Cause, IncidentEvent } from '../diagnosis/diagnosis.types.js';
import type { GatewayProduct, Outcome } from '../probes/probes.types.js';
import type { MaintenanceWindow, SiteWebhook } from '../sites/sites.table.js';
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
  /** Each alert is also delivered to these (webhooks.sender.ts). */
  webhooks?: SiteWebhook[];
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

/**
 * cert_expiring: a target's certificate expires within CERT_WARN_DAYS. Stored in the outbox's
 * payload column (whose type is AlertPayload: read it back through `certPayloadOf`).
 */
export interface CertAlertPayload {
  site: { id: number; name: string; url: string };
  certificate: {
    /** 'site' or the upstream's id, as in checks; with the target's name and URL. */
    target: string;
    targetName: string;
    url: string;
    expiresAt: number;
    issuer: string | null;
  };
  /** When the alert was written. */
  at: number;
  /** A weekly reminder about the same certificate. */
  reminder: boolean;
}

/** An alert as the renderer sees it. */
export interface AlertMessage {
  id: number;
  kind: AlertKind;
  payload: AlertPayload;
}
