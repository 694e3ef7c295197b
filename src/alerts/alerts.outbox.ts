import { inMaintenance } from '../sites/sites.maintenance.js';
import type { Db } from '../db/client.js';
import { gatewayName } from '../diagnosis/format.js';
import type { Cause } from '../diagnosis/diagnosis.types.js';
import { createIncidentsRepository } from '../incidents/incidents.repository.js';
import type { IncidentRow } from '../incidents/incidents.table.js';
import type { GatewayProduct } from '../probes/probes.types.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { SiteWebhook } from '../sites/sites.table.js';
import { createAlertsRepository, type NewAlert } from './alerts.repository.js';
import type { AlertKind, AlertRow } from './alerts.table.js';
import type { AlertPayload, AlertSiteInfo } from './alerts.types.js';

export interface AlertsOutboxOptions {
  /** ALERT_TO: who hears about sites without their own alertEmails. */
  alertTo: string[];
  /** ALERT_GROUP_SECONDS: how long an alert waits for others to share its email (0 = at once). */
  groupSeconds: number;
  /** REMINDER_MINUTES: 0 turns reminders off. */
  reminderMinutes: number;
  clock: Clock;
  /** Every cancelled alert gets a log line (a `no recipients` one a warning). */
  logger?: Logger;
  /** Writes the webhook deliveries of an alert (webhooks.repository.ts), in the alert's transaction. */
  webhooks?: { addFor(alert: AlertRow, webhooks: SiteWebhook[]): void };
}

export interface EnqueueExtra {
  /** The gateway product that answered the failing checks; read from the causes' evidence when not given. */
  gateway?: GatewayProduct | null;
}

/** Cancel reasons, as /api/alerts shows them. */
export const CANCEL_REASONS = {
  noRecipients: 'no recipients',
  maintenance: 'maintenance',
  resolvedInWindow: 'resolved within the grouping window',
  foldedIntoResolved: 'folded into the resolved alert',
  foldedIntoOpened: 'folded into the pending opened alert',
  supersededByCause: 'superseded by a newer cause change',
  alreadyResolved: 'incident already resolved',
  foldedIntoClosed: 'folded into the closing notice',
} as const;

/** How many incident events an email shows. */
const TIMELINE_EVENTS = 8;


/** Trimmed, without duplicates (case-insensitive), in the order given. */
function normalizeRecipients(list: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of list) {
    const address = raw.trim();
    const key = address.toLowerCase();
    if (address && !seen.has(key)) {
      seen.add(key);
      out.push(address);
    }
  }
  return out;
}

const PRODUCTS: GatewayProduct[] = ['nginx', 'haproxy', 'envoy', 'cloudflare', 'aws_elb', 'apache'];
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ANSWERED_BY = new RegExp(`\\b(${PRODUCTS.map((p) => escapeRegExp(gatewayName(p))).join('|')}) answer(?:s|ed)\\b`);

/** Diagnosis words its evidence as "<product> answers 502 ...": the best-ranked mention wins. */
function gatewayFromCauses(causes: Cause[]): GatewayProduct | null {
  for (const cause of causes) {
    for (const line of [cause.summary, ...cause.evidence]) {
      const m = ANSWERED_BY.exec(line);
      if (m) return PRODUCTS.find((p) => gatewayName(p) === m[1]) ?? null;
    }
  }
  return null;
}

/**
 * The alert outbox: decides what to tell whom and when, and writes it to the alerts table in the
 * caller's transaction. Sending is the sender's job (alerts.sender.ts).
 */
export function createAlertsOutbox(db: Db, opts: AlertsOutboxOptions) {
  const repo = createAlertsRepository(db);
  const incidents = createIncidentsRepository(db);
  const groupMs = opts.groupSeconds * 1000;
  const reminderMs = opts.reminderMinutes * 60_000;

  const snapshot = (site: AlertSiteInfo, incident: IncidentRow, now: number, extra: EnqueueExtra): AlertPayload => ({
    site: { id: site.id, name: site.name, url: site.url },
    incident: {
      id: incident.id,
      kind: incident.kind,
      kinds: incident.kinds,
      openedAt: incident.openedAt,
      firstFailureAt: incident.firstFailureAt,
      resolvedAt: incident.resolvedAt,
      failedChecks: incident.failedChecks,
      causes: incident.causes,
      timeline: incident.timeline.slice(-TIMELINE_EVENTS),
    },
    gateway: extra.gateway !== undefined ? extra.gateway : gatewayFromCauses(incident.causes),
    at: now,
  });

  /** A pending alert the sender has not picked up: its due time is still ahead (in-flight rows are past due). */
  const waiting = (row: AlertRow, now: number) => now < row.dueAt;

  const enqueue = (site: AlertSiteInfo, incident: IncidentRow, kind: AlertKind, extra: EnqueueExtra = {}): void => {
    const now = opts.clock.now();
    const recipients = normalizeRecipients(site.alertEmails.length ? site.alertEmails : opts.alertTo);
    const payload = snapshot(site, incident, now, extra);
    const row: NewAlert = {
      siteId: site.id,
      incidentId: incident.id,
      kind,
      recipients,
      payload,
      state: 'pending',
      createdAt: now,
      dueAt: now + groupMs,
    };
    const logCancelled = (reason: string, alertIds?: number[]) => {
      const fields = { siteId: site.id, site: site.name, incidentId: incident.id, kind, reason, ...(alertIds ? { alertIds } : {}) };
      if (reason === CANCEL_REASONS.noRecipients) opts.logger?.warn('alert cancelled: nobody to send it to (no alertEmails, no ALERT_TO)', fields);
      else opts.logger?.info('alert cancelled', fields);
    };
    const writeCancelled = (reason: string) => {
      const written = repo.insert({ ...row, state: 'cancelled', cancelReason: reason });
      logCancelled(reason);
      return written;
    };
    /** Cancels alerts still waiting (older news of this incident), with a log line. */
    const cancelPending = (rows: AlertRow[], reason: string) => {
      if (rows.length === 0) return;
      repo.cancel(rows.map((p) => p.id), reason);
      for (const r of rows) opts.logger?.info('alert cancelled', { siteId: site.id, site: site.name, incidentId: incident.id, kind: r.kind, reason, alertIds: [r.id] });
    };
    const resolved = incident.state === 'resolved' || incident.resolvedAt !== null;
    const eventAt = kind === 'opened' ? incident.openedAt : kind === 'resolved' ? (incident.resolvedAt ?? now) : now;

    db.transaction(() => {
      const pending = repo.pendingOf(incident.id);

      // Nothing is said about what happens inside a maintenance window: not the opening of a
      // silenced incident, not anything after it, and not a recovery that lands in a window
      // (which also drops whatever news of that incident still waits).
      if (incident.silenced || inMaintenance(site.maintenance, eventAt)) {
        if (kind === 'resolved' || kind === 'closed') cancelPending(pending, CANCEL_REASONS.maintenance);
        writeCancelled(CANCEL_REASONS.maintenance);
        return;
      }

      if (kind === 'resolved' || kind === 'closed') {
        const opened = pending.find((p) => p.kind === 'opened');
        if (opened && opened.attempts === 0 && waiting(opened, now)) {
          // Opened and resolved (or its site deleted) inside one grouping window: the owners need not hear of it at all.
          cancelPending(pending, CANCEL_REASONS.resolvedInWindow);
          writeCancelled(CANCEL_REASONS.resolvedInWindow);
          return;
        }
        // Older news that could not go out yet (SMTP down, or not configured) is told by the
        // resolved email, which carries the opening time, the final causes and the timeline.
        cancelPending(pending, kind === 'closed' ? CANCEL_REASONS.foldedIntoClosed : CANCEL_REASONS.foldedIntoResolved);
      } else if (resolved) {
        writeCancelled(CANCEL_REASONS.alreadyResolved);
        return;
      } else if (kind === 'cause_changed') {
        const opened = pending.find((p) => p.kind === 'opened' && waiting(p, now));
        if (opened) {
          // The opening email has not left yet: let it carry the new causes instead.
          repo.updatePayload(opened.id, { ...opened.payload, incident: payload.incident, gateway: payload.gateway });
          writeCancelled(CANCEL_REASONS.foldedIntoOpened);
          return;
        }
        const stale = pending.filter((p) => (p.kind === 'cause_changed' || p.kind === 'reminder') && waiting(p, now));
        cancelPending(stale, CANCEL_REASONS.supersededByCause);
        const told = repo.lastNotCancelled(incident.id, ['opened', 'cause_changed', 'reminder']);
        payload.previousCause = told?.payload.incident.causes[0]?.summary ?? null;
      }

      // Webhooks hear of what the owners would: the alert as written (also with no email recipients).
      const written = recipients.length === 0 ? writeCancelled(CANCEL_REASONS.noRecipients) : repo.insert(row);
      if (site.webhooks?.length) opts.webhooks?.addFor(written, site.webhooks);
    });
  };

  return {
    /**
     * Writes the alert for one incident change. Synchronous: call it inside the transaction that
     * writes the incident row, right after that write, once per change.
     */
    enqueue,

    /**
     * Enqueues a 'reminder' for every open, non-silenced incident whose owners last heard of it
     * (last opened / cause_changed / reminder email sent) at least `reminderMinutes` ago and that
     * has no such email still waiting. Returns how many were enqueued. Call it every minute.
     */
    enqueueReminders(sites: (id: number) => AlertSiteInfo | undefined): number {
      if (reminderMs <= 0) return 0;
      const now = opts.clock.now();
      return db.transaction(() => {
        const open = incidents.allOpen().filter((i) => !i.silenced);
        const contacts = repo.contactSummary(open.map((i) => i.id));
        let count = 0;
        for (const incident of open) {
          const contact = contacts.get(incident.id);
          if (contact && contact.pending > 0) continue;
          const lastAt = Math.max(contact?.lastAt ?? 0, incident.openedAt);
          if (now - lastAt < reminderMs) continue;
          const site = sites(incident.siteId);
          // Reminders inside a window (or for a paused site) are not written at all: one per
          // minute would only be noise.
          if (!site || site.paused || inMaintenance(site.maintenance, now)) continue;
          enqueue(site, incident, 'reminder');
          count++;
        }
        return count;
      });
    },
  };
}

export type AlertsOutbox = ReturnType<typeof createAlertsOutbox>;
