import type { TimelineCheck } from '../diagnosis.types.js';
import { formatMs, formatList } from '../format.js';
import { median } from '../stats.js';
import type { Detector } from './detector.types.js';
import { isUnreachable, plural, tally } from './helpers.js';

/** The site's own address refused the connection, or could not be reached at all. */
const siteDown = (c: TimelineCheck): boolean => c.outcome === 'conn_refused' || isUnreachable(c);

/** A connect to the site's own address that never completed (packets dropped, or the host gone). */
const siteDropped = (c: TimelineCheck): boolean => c.outcome === 'conn_timeout' && !isUnreachable(c);

/**
 * The gateway itself (or the host it runs on) is down: nothing accepts connections at the site's
 * own address, whatever its upstreams do. Upstreams that answer fine in the same rounds make it
 * certain the fault is in front of them.
 */
export const gatewayDown: Detector = (ctx) => {
  const streak = ctx.site.window.filter((c) => c.startedAt >= ctx.firstFailureAt);
  const refused = tally(streak, siteDown);
  const dropped = tally(streak, siteDropped);
  if (!refused.first && !dropped.first) return null;

  const rounds = ctx.failing.filter((r) => siteDown(r.site) || siteDropped(r.site));
  const first = refused.first ?? dropped.first!;
  const onset = Math.min(refused.first?.startedAt ?? Infinity, dropped.first?.startedAt ?? Infinity);
  const where = `${first.address ?? ctx.site.host}:${ctx.site.port}`;
  const evidence: string[] = [];
  if (refused.first) {
    evidence.push(
      `${ctx.site.label} (${where}) refused or could not be reached in ${refused.hits} of ${refused.total} ${plural(refused.total, 'check')} since ${ctx.at(refused.first.startedAt)}`,
    );
  }
  if (dropped.first) {
    evidence.push(
      `${ctx.site.label} (${where}): the TCP connect did not complete in ${dropped.hits} of ${dropped.total} ${plural(dropped.total, 'check')} since ${ctx.at(dropped.first.startedAt)}`,
    );
  }

  // Upstreams answering in the same rounds: the path behind the gateway is fine.
  const healthy: string[] = [];
  for (const upstream of ctx.upstreams) {
    const answers = rounds.map((r) => r.upstreams.get(upstream.key)).filter((c): c is TimelineCheck => c?.outcome === 'ok');
    if (answers.length === 0) continue;
    healthy.push(upstream.name);
    const ttfb = median(answers.map((c) => c.ttfbMs).filter((ms): ms is number => ms !== null));
    evidence.push(
      `${upstream.label} (${upstream.endpoint}) answered ${answers[answers.length - 1].statusCode ?? 'fine'}${Number.isNaN(ttfb) ? '' : ` in ${formatMs(ttfb)} (median)`} in ${answers.length} of those ${rounds.length} ${plural(rounds.length, 'round')}: the upstreams are up`,
    );
  }
  const lastGood = ctx.site.checks.filter((c) => c.outcome === 'ok' && c.startedAt < onset).at(-1);
  if (lastGood) evidence.push(`${ctx.site.label} last answered fine at ${ctx.at(lastGood.startedAt)}`);

  const noGateway = ctx.upstreams.length === 0;
  const what = noGateway ? 'the web server' : 'the gateway';
  const allHealthy = ctx.upstreams.length > 0 && healthy.length === ctx.upstreams.length;
  const how = refused.first ? 'refuses connections' : 'does not accept connections (the connect times out)';
  const summary = noGateway
    ? `the server of ${ctx.site.label} (${ctx.site.endpoint}) ${how}: it or its host is down`
    : `${what} of ${ctx.site.label} (${ctx.site.endpoint}) ${how}: it or its host is down${healthy.length ? `, while ${formatList(healthy)} ${healthy.length === 1 ? 'answers' : 'answer'} fine` : ''}`;
  const advice = [
    `Check that ${what} on ${ctx.site.host} is running and listening on port ${ctx.site.port} (on the host: \`ss -ltnp\`, \`systemctl status nginx\` or \`haproxy\`); start it.`,
    `Before starting it again, test its configuration (\`nginx -t\`, \`haproxy -c -f /etc/haproxy/haproxy.cfg\`): a reload with a bad configuration is a common reason it stopped.`,
    `Its own log and the kernel log say why it stopped (a crash, an OOM kill, a failed reload${refused.first ? '' : ', or the host itself down'}).`,
  ];
  if (dropped.first && !refused.first) {
    advice.push(`A connect that hangs rather than being refused means the host is down or a firewall in front of it drops packets: check the host, then the firewall rules for port ${ctx.site.port}.`);
  }
  return {
    code: 'gateway_down',
    // Refused at the site's own address with healthy upstreams is as sure as it gets; a dropped
    // connect could also be a firewall in front of the gateway.
    strength: refused.first ? (allHealthy || noGateway ? 0.95 : 0.85) : allHealthy ? 0.7 : 0.55,
    explains: new Set(rounds.map((r) => r.at)),
    onset,
    hops: ['site'],
    summary,
    evidence,
    advice,
  };
};
