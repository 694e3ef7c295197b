/**
 * What the pages read per hour and per day: `uptimeSeries` and `recentSeries` of the rollups
 * repository (day and hour rollups), passed in by service.ts so that the pages never touch a table
 * themselves.
 */
import type { RollupsRepository, UptimeBucket } from '../checks/rollups.repository.js';

export type { UptimeBucket };
export type UptimeSeries = RollupsRepository['uptimeSeries'];
export type RecentSeries = RollupsRepository['recentSeries'];
