import type { TimelineCheck } from '../diagnosis.types.js';
import type { TargetView } from '../context.js';
import type { Detector } from './detector.types.js';
import { formatList } from '../format.js';
import { answeredStatus, brokeHttp, failureKind, labelOf, lastMessage, namesOf, plural, roundsWhereUpstream, tally } from './helpers.js';

/** An upstream that answers with a server error or breaks HTTP (read by failure kind and status). */
const upstreamFails = (c: TimelineCheck): boolean =>
  failureKind(c) === 'invalid_response' || answeredStatus(c, 500, 599);

/**
 * The site's own answer passes an application error through: broken HTTP, or a 5xx that is not
 * the gateway's own (its 502 and 504, and the 503 a recognised gateway gives when no upstream
 * takes the request, as HAProxy does).
 */
const siteFails = (c: TimelineCheck): boolean =>
  brokeHttp(c) ||
  (answeredStatus(c, 500, 599) && c.statusCode !== 502 && c.statusCode !== 504 && !(c.statusCode === 503 && c.gateway !== null));

/** "HTTP 503", or "broken HTTP" for an answer that broke before it carried a server error. */
const answerOf = (c: TimelineCheck): string =>
  c.statusCode !== null && c.statusCode >= 500 ? `HTTP ${c.statusCode}` : 'broken HTTP';

/** "HTTP 500 x4, HTTP 503 x1, broken HTTP x2" */
function breakdown(checks: TimelineCheck[]): string {
  const count = new Map<string, number>();
  for (const c of checks) {
    const what = answerOf(c);
    count.set(what, (count.get(what) ?? 0) + 1);
  }
  return [...count].map(([what, n]) => (count.size === 1 ? what : `${what} x${n}`)).join(', ');
}

/** The application behind the gateway fails: 5xx answers, or HTTP it cannot parse. */
export const appError: Detector = (ctx) => {
  const explains = new Set<number>();
  const evidence: string[] = [];
  const hops: TargetView[] = [];
  let onset = Number.POSITIVE_INFINITY;
  let broken = false;
  let chained = false;
  const answers = new Set<string>();

  const hopsAndTests: [TargetView, (c: TimelineCheck) => boolean][] = [
    ...ctx.upstreams.map((u): [TargetView, (c: TimelineCheck) => boolean] => [u, upstreamFails]),
    [ctx.site, siteFails],
  ];
  for (const [target, fails] of hopsAndTests) {
    const t = tally(target.window, fails);
    if (!t.first) continue;
    const rounds = target.key === 'site' ? ctx.failing.filter((r) => fails(r.site)) : roundsWhereUpstream(ctx, target, fails);
    if (target.key === 'site' && rounds.length === 0) continue;
    hops.push(target);
    rounds.forEach((r) => explains.add(r.at));
    onset = Math.min(onset, t.first.startedAt);
    const failed = target.window.filter((c) => c.startedAt >= t.first!.startedAt && fails(c));
    broken ||= failed.some((c) => answerOf(c) === 'broken HTTP');
    failed.forEach((c) => answers.add(answerOf(c)));
    const message = lastMessage(failed);
    evidence.push(
      `${target.label} answered ${breakdown(failed)} in ${t.hits} of ${t.total} ${plural(t.total, 'check')} since ${ctx.at(t.first.startedAt)}${message ? ` (last: ${message})` : ''}`,
    );
    if (target.key !== 'site' && failed.some((c) => failureKind(c) === 'bad_gateway')) {
      chained = true;
      evidence.push(`${target.label} itself answers 502: the failure is one hop further back, behind it`);
    }
  }
  if (hops.length === 0) return null;

  const upstreamHops = hops.filter((h) => h.key !== 'site');
  const names = upstreamHops.length ? namesOf(upstreamHops) : `the application behind ${ctx.site.name}`;
  const who = upstreamHops.length ? labelOf(upstreamHops) : ctx.site.label;
  const [only] = answers;
  const s = upstreamHops.length > 1 ? '' : 's';
  const what =
    answers.size > 1
      ? `fail${s} with ${formatList([...answers])}`
      : only === 'broken HTTP'
        ? `send${s} broken HTTP`
        : `answer${s} ${only}`;
  const advice = [
    `Read the application log of ${names} around ${ctx.at(onset)} for the error behind these answers; if a deploy went out shortly before, roll it back.`,
    upstreamHops.length
      ? `Reproduce it without the gateway: \`curl -sv\` the upstream's own URL (${ctx.siteDef.upstreams.find((u) => u.id === upstreamHops[0].key)!.url}).`
      : `Reproduce it with \`curl -sv ${ctx.siteDef.url}\` and match the time with the application's log.`,
  ];
  if (broken) {
    advice.push(
      'Broken or empty answers usually mean the process dies mid-request (crash, OOM kill) or the two sides disagree on the protocol (plain HTTP sent to a TLS port, HTTP/2 against HTTP/1.1).',
    );
  }
  if (chained) advice.push(`Follow the chain: find what ${names} proxies to and check that hop the same way.`);
  advice.push('Test the fix in staging before it goes out again.');
  return {
    code: 'app_error',
    strength: upstreamHops.length ? 0.8 : 0.65,
    explains,
    onset,
    hops: hops.map((h) => h.key),
    summary: `${who} ${what}${upstreamHops.length ? `, so ${ctx.symptom}` : ''}`,
    evidence,
    advice,
  };
};
