import type { TimelineCheck } from '../diagnosis.types.js';
import type { TargetView } from '../context.js';
import type { Detector } from './detector.types.js';
import { labelOf, lastMessage, plural, roundsWhereUpstream, tally } from './helpers.js';

const isTls = (c: TimelineCheck): boolean => c.outcome === 'tls_error';

/** TLS handshakes or certificate checks towards an upstream (or the site) fail. */
export const tlsError: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let reason: string | null = null;

  for (const target of [ctx.site, ...ctx.upstreams]) {
    const t = tally(target.window, isTls);
    if (!t.first) continue;
    hops.push(target);
    onset = Math.min(onset, t.first.startedAt);
    const rounds = target.key === 'site' ? ctx.failing.filter((r) => isTls(r.site)) : roundsWhereUpstream(ctx, target, isTls);
    rounds.forEach((r) => explains.add(r.at));
    const message =
      lastMessage(target.window.filter((c) => c.startedAt >= t.first!.startedAt && isTls(c)))?.replace(/^TLS:\s*/, '') ?? null;
    reason ??= message;
    evidence.push(
      `${target.label} (${target.endpoint}): TLS failed in ${t.hits} of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}${message ? `: ${message}` : ''}`,
    );
  }
  if (hops.length === 0) return null;

  const upstreamHops = hops.filter((h) => h.key !== 'site');
  const first = hops[0];
  const advice = [
    `Inspect the certificate ${first.endpoint} presents (\`openssl s_client -connect ${first.endpoint} -servername ${first.host}\`): expiry date, full chain, and the names it covers; renew or fix it.`,
  ];
  if (upstreamHops.length) {
    advice.push(
      `Check the gateway's TLS settings towards the upstream (nginx: proxy_ssl_server_name, proxy_ssl_name, proxy_ssl_trusted_certificate, proxy_ssl_protocols) against what ${upstreamHops[0].name} offers; if it speaks plain HTTP, proxy to http:// instead.`,
    );
  } else {
    advice.push(`Check the certificate and TLS settings of the server that answers for ${ctx.site.host}.`);
  }
  const who = upstreamHops.length ? labelOf(upstreamHops) : ctx.site.label;
  return {
    code: 'tls_error',
    strength: 0.85,
    explains,
    onset,
    hops: hops.map((h) => h.key),
    summary: `TLS to ${who} fails${reason ? `: ${reason}` : ''}${upstreamHops.length ? `, so ${ctx.symptom}` : ''}`,
    evidence,
    advice,
  };
};
