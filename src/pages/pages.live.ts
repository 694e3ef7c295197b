/**
 * The optional live refresh of the status page: a small served script (the pages' CSP allows
 * scripts from this host only) that asks for the page again every 30 s with If-None-Match while
 * the tab is visible, and puts a changed page's <main> in place without a reload. Nothing needs
 * it: without JavaScript the page is complete, and a reload shows the same.
 */
import { createHash } from 'node:crypto';

export const LIVE_SCRIPT = `(() => {
  const every = 30000;
  let tag = null;
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(location.href, { headers: tag ? { 'If-None-Match': tag } : {}, cache: 'no-store', credentials: 'same-origin' });
      if (res.status !== 200) return;
      tag = res.headers.get('ETag');
      const next = new DOMParser().parseFromString(await res.text(), 'text/html');
      const main = document.querySelector('main');
      const fresh = next.querySelector('main');
      if (main && fresh && main.innerHTML !== fresh.innerHTML) main.replaceWith(document.importNode(fresh, true));
    } catch {}
  };
  setInterval(refresh, every);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
})();
`;

/** A script URL that changes with its content, so that it can be kept for a year. */
export const LIVE_SCRIPT_PATH = `/assets/gatewatch-live.${createHash('sha1').update(LIVE_SCRIPT).digest('hex').slice(0, 10)}.js`;
