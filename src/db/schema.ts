/** Every table, for drizzle's relational queries and for tests. */
export * from '../sites/sites.table.js';
export * from '../checks/checks.table.js';
export * from '../checks/rollups.table.js';
export * from '../incidents/incidents.table.js';
export * from '../alerts/alerts.table.js';
export * from './settings.table.js';
export * from '../status/status.table.js';
