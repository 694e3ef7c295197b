/**
 * The optional live refresh of the status page: a small served script (the pages' CSP allows
 * scripts from this host only) that asks for the page again every 30 s with If-None-Match while
 * the tab is visible, and puts a changed page's <main> in place without a reload. What the reader
 * did is kept across the swap: a <details> they opened stays open (matched by its id), and focus
 * goes back to the same element (its id, or its tag, link and rank inside the nearest element with
 * an id). Nothing needs it: without JavaScript the page is complete, and a reload shows the same.
 */
import { createHash } from 'node:crypto';

export const LIVE_SCRIPT = `(() => {
  const every = 30000;
  const focusable = 'a[href],summary,button,input,select,textarea';
  let tag = null;
  let shown = null;
  const alike = (el, like) => el.tagName === like.tagName && el.getAttribute('href') === like.getAttribute('href');
  const placeOf = (el, main) => {
    if (!el || !main.contains(el) || el === main) return null;
    if (el.id) return { id: el.id };
    const scope = el.parentElement.closest('[id]') || main;
    const peers = [...scope.querySelectorAll(focusable)].filter((x) => alike(x, el));
    return { scope: scope.id, el, rank: peers.indexOf(el) };
  };
  const find = (place, main) => {
    if (place.id) return main.querySelector('#' + CSS.escape(place.id));
    const scope = (place.scope && main.querySelector('#' + CSS.escape(place.scope))) || main;
    return [...scope.querySelectorAll(focusable)].filter((x) => alike(x, place.el))[place.rank] || null;
  };
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(location.href, { headers: tag ? { 'If-None-Match': tag } : {}, cache: 'no-store', credentials: 'same-origin' });
      if (res.status !== 200) return;
      tag = res.headers.get('ETag');
      const next = new DOMParser().parseFromString(await res.text(), 'text/html');
      const main = document.querySelector('main');
      const fresh = next.querySelector('main');
      if (!main || !fresh) return;
      shown ??= main.innerHTML;
      if (fresh.innerHTML === shown) return;
      shown = fresh.innerHTML;
      const open = [...main.querySelectorAll('details[open][id]')].map((d) => d.id);
      const place = placeOf(document.activeElement, main);
      const swapped = document.importNode(fresh, true);
      for (const id of open) {
        const details = swapped.querySelector('details#' + CSS.escape(id));
        if (details) details.open = true;
      }
      main.replaceWith(swapped);
      const again = place && find(place, swapped);
      if (again) again.focus({ preventScroll: true });
    } catch {}
  };
  setInterval(refresh, every);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
})();
`;

/** A script URL that changes with its content, so that it can be kept for a year. */
export const LIVE_SCRIPT_PATH = `/assets/gatewatch-live.${createHash('sha1').update(LIVE_SCRIPT).digest('hex').slice(0, 10)}.js`;
