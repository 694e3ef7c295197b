import type { SiteView } from './sites.repository.js';

/** Something about an accepted site that its owner should know: the site works, but not as they may think. */
export interface SiteWarning {
  code: 'alerts.no_recipients' | 'sites.duplicate';
  message: string;
}

export interface SiteWarningsInput {
  site: SiteView;
  /** ALERT_TO: who hears about sites without their own alertEmails. */
  alertTo: readonly string[];
  /** Other sites with the same URL and upstream URLs. */
  duplicates: readonly { id: number; name: string }[];
}

/** The warnings a creation (or change) answer carries, in a stable order. */
export function siteWarnings({ site, alertTo, duplicates }: SiteWarningsInput): SiteWarning[] {
  const out: SiteWarning[] = [];
  if (site.alertEmails.length === 0 && alertTo.length === 0) {
    out.push({
      code: 'alerts.no_recipients',
      message: 'the site has no alertEmails and ALERT_TO is not set: its incidents will be recorded, but nobody will be emailed',
    });
  }
  if (duplicates.length > 0) {
    const list = duplicates.slice(0, 5).map((d) => `${d.id} (${d.name})`).join(', ');
    out.push({
      code: 'sites.duplicate',
      message: `site${duplicates.length === 1 ? '' : 's'} ${list}${duplicates.length > 5 ? ` and ${duplicates.length - 5} more` : ''} already watch${duplicates.length === 1 ? 'es' : ''} the same URL and upstreams`,
    });
  }
  return out;
}
