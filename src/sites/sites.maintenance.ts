/** What a site's maintenance windows mean at a given time: the status API and the pages read it from here. */
import type { MaintenanceWindow } from './sites.table.js';

/** The maintenance a site is in at `at`: when it began and when it ends (windows that touch or overlap count as one). */
export interface MaintenanceNow {
  from: number;
  until: number;
  /** The operator's words; only the token's answers and the console show them. */
  reason?: string;
}

/** Whether a window covers `at` (alerts and incidents opened then are silenced). */
export const inMaintenance = (windows: readonly MaintenanceWindow[], at: number) => windows.some((w) => w.from <= at && at < w.to);

/** The window that covers `at`, stretched over the windows that follow on from it without a gap; null when none covers it. */
export function maintenanceAt(windows: readonly MaintenanceWindow[], at: number): MaintenanceNow | null {
  const current = windows.filter((w) => w.from <= at && at < w.to);
  if (current.length === 0) return null;
  const from = Math.min(...current.map((w) => w.from));
  let until = Math.max(...current.map((w) => w.to));
  const first = current.find((w) => w.reason !== undefined);
  for (let grew = true; grew; ) {
    grew = false;
    for (const w of windows) {
      if (w.from <= until && w.to > until) {
        until = w.to;
        grew = true;
      }
    }
  }
  return first?.reason !== undefined ? { from, until, reason: first.reason } : { from, until };
}

/** Whether any window overlaps [from, to) (a day of the public page's bars). */
export const maintenanceDuring = (windows: readonly MaintenanceWindow[], from: number, to: number) => windows.some((w) => w.from < to && w.to > from);
