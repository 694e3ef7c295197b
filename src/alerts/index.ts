export { createAlertsOutbox, CANCEL_REASONS, type AlertsOutbox, type AlertsOutboxOptions, type EnqueueExtra } from './alerts.outbox.js';
export { createAlertSender, type AlertSender, type AlertSenderOptions, type SendResult } from './alerts.sender.js';
export { createMailer, type Mailer, type MailerOptions, type MailerTls } from './alerts.mailer.js';
export { renderAlertEmail, renderSubject, type RenderedEmail } from './alerts.render.js';
export { alertsRoutes, alertsQuery, type AlertsRoutesDeps } from './alerts.routes.js';
export { createAlertsRepository, type AlertsRepository } from './alerts.repository.js';
export type { AlertSiteInfo, AlertPayload, AlertMessage } from './alerts.types.js';
export type { AlertKind, AlertState, AlertRow } from './alerts.table.js';
