/** The operator's console: plain functions of data, rendered to HTML. */
import type { Child } from 'hono/jsx';
import type { CheckView } from '../../checks/checks.repository.js';
import type { SiteView } from '../../sites/sites.repository.js';
import type { SiteWarning } from '../../sites/sites.warnings.js';
import type { StatusEntry } from '../pages.deps.js';
import type { IncidentDetail, IncidentListItem } from '../pages.repository.js';
import { LatencyChart, Layout, MaintenanceBadge, StateBadge, UptimeFigures, page, type LatencyPoint } from '../pages.components.js';
import { EVENT_WORDS, causeWords, duration, kindTitle, ms, utc, utcSeconds, utcTime } from '../pages.words.js';
import type { FieldError, SiteFormValues } from './site-form.js';
import { GATEWAY_LOG_FORMATS } from '../../gatewaylog/gatewaylog.types.js';

const Csrf = (p: { token: string }) => <input type="hidden" name="_csrf" value={p.token} />;

const ConsoleNav = (p: { csrf: string }) => (
  <ul>
    <li>
      <a href="/app">Sites</a>
    </li>
    <li>
      <a href="/app/sites/new">Add a site</a>
    </li>
    <li>
      <a href="/">Public page</a>
    </li>
    <li>
      <form method="post" action="/app/sign-out">
        <Csrf token={p.csrf} />
        <button type="submit" class="link">
          Sign out
        </button>
      </form>
    </li>
  </ul>
);

const ConsoleLayout = (p: { title: string; csrf: string; children?: Child }) => (
  <Layout title={`${p.title} · Gatewatch console`} home="/app" section="console" nav={<ConsoleNav csrf={p.csrf} />}>
    {p.children}
  </Layout>
);

/** A box of labelled lines: the form's errors, or what the API warns about a site. */
const Listed = (p: { cls: string; role: string; title: string; items: { label: Child; message: string }[] }) =>
  p.items.length === 0 ? null : (
    <div class={p.cls} role={p.role}>
      <h2>{p.title}</h2>
      <ul>
        {p.items.map((x) => (
          <li>
            {x.label}: {x.message}
          </li>
        ))}
      </ul>
    </div>
  );

const Errors = (p: { errors: FieldError[] }) => (
  <Listed
    cls="errors"
    role="alert"
    title={`Please correct ${p.errors.length === 1 ? 'this' : 'these'}:`}
    items={p.errors.map((e) => ({ label: <strong>{e.field}</strong>, message: e.message }))}
  />
);

export function signInPage(opts: { csrf: string; next: string; error?: string; status?: string }): string {
  return page(
    <Layout title="Sign in · Gatewatch" nav={<ul><li><a href="/">Status</a></li></ul>}>
      <h1>Sign in</h1>
      <p class="muted">Sign in with the API token of this Gatewatch (API_TOKEN, or the file named in the log at first start).</p>
      {opts.status ? <p class="notice">{opts.status}</p> : null}
      {opts.error ? (
        <div class="errors" role="alert">
          <h2>Not signed in</h2>
          <p>{opts.error}</p>
        </div>
      ) : null}
      <form class="stack card" method="post" action="/app/sign-in">
        <Csrf token={opts.csrf} />
        <input type="hidden" name="next" value={opts.next} />
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required />
        <div class="actions">
          <button type="submit">Sign in</button>
        </div>
      </form>
    </Layout>,
  );
}

export function messagePage(opts: { title: string; message: string; back?: string }): string {
  return page(
    <Layout title={`${opts.title} · Gatewatch`}>
      <h1>{opts.title}</h1>
      <p>{opts.message}</p>
      <p>
        <a href={opts.back ?? '/'}>Go back</a>
      </p>
    </Layout>,
  );
}

export function sitesPage(opts: { csrf: string; entries: StatusEntry[]; notice?: string }): string {
  return page(
    <ConsoleLayout title="Sites" csrf={opts.csrf}>
      <h1>Sites</h1>
      {opts.notice ? (
        <p class="notice" role="status">
          {opts.notice}
        </p>
      ) : null}
      <p class="actions">
        <a class="button" href="/app/sites/new">
          Add a site
        </a>
      </p>
      {opts.entries.length === 0 ? (
        <p>No sites yet. Add the first one.</p>
      ) : (
        <table>
          <caption class="sr">Every site with its state, response time and uptime</caption>
          <thead>
            <tr>
              <th scope="col">Site</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Last response</th>
              <th scope="col" class="num">p95, 24 h</th>
              <th scope="col" class="num">Uptime 24 h</th>
              <th scope="col">Open incident</th>
            </tr>
          </thead>
          <tbody>
            {opts.entries.map((e) => (
              <tr>
                <th scope="row">
                  <a href={`/app/sites/${e.id}`}>{e.name}</a>
                  <div class="small muted mono">{e.url}</div>
                </th>
                <td>
                  <StateBadge state={e.state} />
                  {e.maintenance ? (
                    <div>
                      <MaintenanceBadge maintenance={e.maintenance} />
                    </div>
                  ) : null}
                </td>
                <td class="num">{ms(e.latencyMs.last)}</td>
                <td class="num">{ms(e.latencyMs.p95_24h)}</td>
                <td class="num">{e.uptime['24h'] === null ? '–' : `${e.uptime['24h']} %`}</td>
                <td>
                  {e.incident ? (
                    <a href={`/app/incidents/${e.incident.id}`}>
                      {kindTitle(e.incident.kind)}: {causeWords(e.incident.topCause?.code)}
                    </a>
                  ) : (
                    'none'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </ConsoleLayout>,
  );
}

const firstError = (errors: FieldError[], id: string) => errors.find((e) => e.field === id || e.field.startsWith(`${id}.`));

/** The first error of a field, below it (the input points at it with aria-describedby). */
const FieldErrorText = (p: { id: string; error: FieldError | undefined }) =>
  p.error ? (
    <p id={`${p.id}-error`} class="small" role="alert">
      <strong>{p.error.field}</strong>: {p.error.message}
    </p>
  ) : null;

const Field = (p: { id: keyof SiteFormValues; label: string; hint?: string; value: string; type?: string; errors: FieldError[]; required?: boolean }) => {
  const error = firstError(p.errors, p.id);
  return (
    <div>
      <label for={p.id}>
        {p.label} {p.hint ? <span class="hint">{p.hint}</span> : null}
      </label>
      <input
        id={p.id}
        name={p.id}
        type={p.type ?? 'text'}
        value={p.value}
        required={p.required}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${p.id}-error` : undefined}
      />
      <FieldErrorText id={p.id} error={error} />
    </div>
  );
};

/** A textarea of one item per line, with the first error of its field (e.g. `webhooks.1.url`). */
const Lines = (p: { id: keyof SiteFormValues; label: string; hint: string; value: string; errors: FieldError[] }) => {
  const error = firstError(p.errors, p.id);
  return (
    <div>
      <label for={p.id}>
        {p.label} <span class="hint">{p.hint}</span>
      </label>
      <textarea id={p.id} name={p.id} aria-invalid={error ? 'true' : undefined} aria-describedby={error ? `${p.id}-error` : undefined}>
        {p.value}
      </textarea>
      <FieldErrorText id={p.id} error={error} />
    </div>
  );
};

export function siteFormPage(opts: { csrf: string; site?: SiteView; values: SiteFormValues; errors: FieldError[] }): string {
  const v = opts.values;
  const e = opts.errors;
  const editing = opts.site !== undefined;
  return page(
    <ConsoleLayout title={editing ? `Edit ${opts.site!.name}` : 'Add a site'} csrf={opts.csrf}>
      <p class="small">
        <a href={editing ? `/app/sites/${opts.site!.id}` : '/app'}>← Back</a>
      </p>
      <h1>{editing ? `Edit ${opts.site!.name}` : 'Add a site'}</h1>
      <Errors errors={e} />
      <form class="stack card" method="post" action={editing ? `/app/sites/${opts.site!.id}` : '/app/sites'}>
        <Csrf token={opts.csrf} />
        <Field id="name" label="Name" value={v.name} errors={e} required />
        <Field id="url" label="URL" hint="(the public address users reach, usually through the gateway)" type="url" value={v.url} errors={e} required />
        <Lines
          id="upstreams"
          label="Upstreams"
          hint="(optional; one per line: a name, a space, its URL, e.g. app-1 http://10.0.0.5:8080/health)"
          value={v.upstreams}
          errors={e}
        />
        <div class="grid2">
          <Field id="intervalSeconds" label="Check every" hint="(seconds, 1 to 86400)" type="number" value={v.intervalSeconds} errors={e} />
          <Field id="timeoutMs" label="Time-out" hint="(ms, 100 to 120000)" type="number" value={v.timeoutMs} errors={e} />
          <Field id="failureThreshold" label="Open an incident after" hint="(failed checks in a row)" type="number" value={v.failureThreshold} errors={e} />
          <Field id="recoveryThreshold" label="Resolve it after" hint="(good checks in a row)" type="number" value={v.recoveryThreshold} errors={e} />
        </div>
        <Field id="expectedStatus" label="Expected status" hint="(a range, e.g. 200-299)" value={v.expectedStatus} errors={e} />
        <Lines id="alertEmails" label="Alert emails" hint="(optional; one per line or comma-separated; empty: ALERT_TO)" value={v.alertEmails} errors={e} />
        <Lines id="webhooks" label="Webhooks" hint="(optional; one per line: a URL, a space, json or slack, e.g. https://hooks.example.com/gw json)" value={v.webhooks} errors={e} />
        <label for="webhookSecret">
          Webhook secret{' '}
          <span class="hint">
            (optional; signs the JSON bodies of the webhooks added now; the webhooks already here keep theirs; never shown again)
          </span>
        </label>
        <input id="webhookSecret" name="webhookSecret" type="password" value="" autocomplete="off" />
        <fieldset>
          <legend>Gateway error log <span class="hint">(optional; the gateway's log on this host, read for causes)</span></legend>
          <div class="grid2">
            <Field id="gatewayLogPath" label="Path" hint="(absolute, e.g. /var/log/nginx/error.log)" value={v.gatewayLogPath} errors={e} />
            <div>
              <label for="gatewayLogFormat">Format</label>
              <select id="gatewayLogFormat" name="gatewayLogFormat">
                <option value="" selected={v.gatewayLogFormat === ''}>
                  none
                </option>
                {GATEWAY_LOG_FORMATS.map((f) => (
                  <option value={f} selected={v.gatewayLogFormat === f}>
                    {f}
                  </option>
                ))}
              </select>
            </div>
          </div>
        </fieldset>
        <Lines
          id="maintenance"
          label="Maintenance windows"
          hint="(optional; one per line: from, to (UTC, ISO 8601), then a reason, e.g. 2026-12-24T22:00:00Z 2026-12-25T02:00:00Z database upgrade)"
          value={v.maintenance}
          errors={e}
        />
        <label class="check">
          <input type="checkbox" name="public" checked={v.public} /> Show on the public status page
        </label>
        <div class="actions">
          <button type="submit">{editing ? 'Save changes' : 'Add site'}</button>
        </div>
      </form>
    </ConsoleLayout>,
  );
}

const PHASES = [
  { key: 'dns', label: 'DNS', color: '#7c3aed' },
  { key: 'connect', label: 'Connect', color: '#0891b2' },
  { key: 'tls', label: 'TLS', color: '#ca8a04' },
  { key: 'ttfb', label: 'Waiting (TTFB)', color: '#2563eb' },
  { key: 'download', label: 'Download', color: '#16a34a' },
] as const;

/** Cumulative timings (dns <= connect <= tls <= ttfb <= total) as the length of each phase. */
const phasesOf = (c: CheckView) => {
  let prev = 0;
  const steps = [c.dnsMs, c.connectMs, c.tlsMs, c.ttfbMs, c.totalMs];
  return steps.map((at) => {
    if (at === null || at === undefined) return 0;
    const d = Math.max(0, at - prev);
    prev = Math.max(prev, at);
    return d;
  });
};

/** Phase timings of a target's latest checks, one stacked bar each, newest at the top. */
export const PhaseChart = (p: { checks: CheckView[]; title: string }) => {
  const width = 560;
  const row = 14;
  const left = 70;
  const max = Math.max(1, ...p.checks.map((c) => c.totalMs ?? c.ttfbMs ?? 0));
  const height = p.checks.length * row + 4;
  const label = `${p.title}: time spent in DNS, connect, TLS, waiting and download for the last ${p.checks.length} checks (longest ${ms(max)}); the table below lists the numbers`;
  return (
    <figure>
      <svg class="chart" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <title>{label}</title>
        {p.checks.map((c, i) => {
          let x = left;
          const y = i * row + 2;
          return (
            <g>
              <text x="0" y={y + 10}>
                {utcTime(c.startedAt).slice(0, 8)}
              </text>
              {phasesOf(c).map((d, k) => {
                const w = (d / max) * (width - left - 120);
                const rect = w > 0 ? <rect x={x.toFixed(1)} y={y} width={Math.max(1, w).toFixed(1)} height={row - 4} fill={PHASES[k].color} /> : null;
                x += w;
                return rect;
              })}
              {c.outcome !== 'ok' ? (
                <text x={(x + 4).toFixed(1)} y={y + 10}>
                  ✕ {c.outcome}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul class="legend">
          {PHASES.map((ph) => (
            <li>
              <svg width="10" height="14" aria-hidden="true">
                <rect width="10" height="14" fill={ph.color} />
              </svg>{' '}
              {ph.label}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
};

const ChecksTable = (p: { checks: CheckView[]; caption: string }) => (
  <table>
    <caption class="sr">{p.caption}</caption>
    <thead>
      <tr>
        <th scope="col">Time</th>
        <th scope="col">Outcome</th>
        <th scope="col" class="num">Status</th>
        <th scope="col" class="num">DNS</th>
        <th scope="col" class="num">Connect</th>
        <th scope="col" class="num">TLS</th>
        <th scope="col" class="num">TTFB</th>
        <th scope="col" class="num">Total</th>
        <th scope="col">Address, error</th>
      </tr>
    </thead>
    <tbody>
      {p.checks.map((c) => (
        <tr>
          <td>{utcTime(c.startedAt)}</td>
          <td>{c.outcome === 'ok' ? '✓ ok' : `✕ ${c.outcome}`}</td>
          <td class="num">{c.statusCode ?? '–'}</td>
          <td class="num">{ms(c.dnsMs)}</td>
          <td class="num">{ms(c.connectMs)}</td>
          <td class="num">{ms(c.tlsMs)}</td>
          <td class="num">{ms(c.ttfbMs)}</td>
          <td class="num">{ms(c.totalMs)}</td>
          <td class="small mono">
            {c.address ?? ''}
            {c.gateway ? ` (${c.gateway})` : ''} {c.errorMessage ?? ''}
          </td>
        </tr>
      ))}
    </tbody>
  </table>
);

export interface TargetChecks {
  id: string;
  name: string;
  url: string;
  checks: CheckView[];
}

const ActionButton = (p: { csrf: string; action: string; label: string; cls?: string }) => (
  <form method="post" action={p.action}>
    <Csrf token={p.csrf} />
    <button type="submit" class={p.cls}>
      {p.label}
    </button>
  </form>
);

export const IncidentRows = (p: { incidents: IncidentListItem[]; now: number }) => (
  <table>
    <caption class="sr">Incidents, newest first</caption>
    <thead>
      <tr>
        <th scope="col">Incident</th>
        <th scope="col">State</th>
        <th scope="col">Started</th>
        <th scope="col">Duration</th>
        <th scope="col">Top cause</th>
      </tr>
    </thead>
    <tbody>
      {p.incidents.map((i) => (
        <tr>
          <td>
            <a href={`/app/incidents/${i.id}`}>
              #{i.id} {kindTitle(i.kind)}
            </a>
          </td>
          <td>{i.state === 'open' ? 'Open' : 'Resolved'}</td>
          <td>{utc(i.firstFailureAt)}</td>
          <td>{duration((i.resolvedAt ?? p.now) - i.firstFailureAt)}</td>
          <td>{i.topCause ?? '–'}</td>
        </tr>
      ))}
    </tbody>
  </table>
);

export function sitePage(opts: {
  csrf: string;
  site: SiteView;
  entry: StatusEntry | undefined;
  targets: TargetChecks[];
  incidents: IncidentListItem[];
  latency: LatencyPoint[];
  now: number;
  notice?: string;
  /** What the API's answers warn about this site (nobody to email, another site watching the same). */
  warnings: SiteWarning[];
}): string {
  const s = opts.site;
  const e = opts.entry;
  return page(
    <ConsoleLayout title={s.name} csrf={opts.csrf}>
      <p class="small">
        <a href="/app">← All sites</a>
      </p>
      <div class="site-head">
        <h1>{s.name}</h1>
        <span>
          <StateBadge state={s.state} /> <MaintenanceBadge maintenance={e?.maintenance} />
        </span>
      </div>
      <p class="mono small">{s.url}</p>
      {e?.maintenance ? (
        <p class="banner maint">
          In a maintenance window from {utc(e.maintenance.from)} until {utc(e.maintenance.until)}
          {e.maintenance.reason ? `: ${e.maintenance.reason}` : ''}. Incidents opened now are recorded, not alerted.
        </p>
      ) : null}
      {opts.notice ? (
        <p class="notice" role="status">
          {opts.notice}
        </p>
      ) : null}
      <Listed cls="warnings" role="note" title="Worth knowing" items={opts.warnings.map((w) => ({ label: <code>{w.code}</code>, message: w.message }))} />
      <div class="actions">
        <ActionButton csrf={opts.csrf} action={`/app/sites/${s.id}/check`} label="Check now" />
        {s.paused ? (
          <ActionButton csrf={opts.csrf} action={`/app/sites/${s.id}/resume`} label="Resume" cls="secondary" />
        ) : (
          <ActionButton csrf={opts.csrf} action={`/app/sites/${s.id}/pause`} label="Pause" cls="secondary" />
        )}
        <a class="button secondary" href={`/app/sites/${s.id}/edit`}>
          Edit
        </a>
      </div>
      {e?.incident ? (
        <p class="errors">
          <a href={`/app/incidents/${e.incident.id}`}>
            Open incident: {kindTitle(e.incident.kind)} since {utc(e.incident.openedAt)}
          </a>
          {e.incident.topCause?.summary ? ` · ${e.incident.topCause.summary}` : ''}
        </p>
      ) : null}
      <section class="card" aria-labelledby="fig-h">
        <h2 id="fig-h">Uptime and response time</h2>
        <UptimeFigures uptime={e?.uptime ?? { '24h': null, '7d': null, '30d': null }} />
        <p class="small muted">
          Response time: last {ms(e?.latencyMs.last)}, median over 24 h {ms(e?.latencyMs.p50_24h)}, 95th percentile {ms(e?.latencyMs.p95_24h)} ·
          checked every {s.intervalSeconds} s · incident after {s.failureThreshold} failures, resolved after {s.recoveryThreshold} good checks ·{' '}
          {s.public ? 'shown on the public page' : 'not on the public page'}
        </p>
        <LatencyChart points={opts.latency} title={`${s.name}: response time per hour, last 24 hours`} width={560} height={80} />
      </section>

      <section aria-labelledby="up-h">
        <h2 id="up-h">Upstreams</h2>
        {s.upstreams.length === 0 ? (
          <p>No upstreams. Add them (Edit) to see which hop fails when the gateway answers 502.</p>
        ) : (
          <ul>
            {s.upstreams.map((u) => {
              const last = opts.targets.find((t) => t.id === String(u.id))?.checks[0];
              return (
                <li>
                  <strong>{u.name}</strong> <span class="mono small">{u.url}</span>:{' '}
                  {last ? (last.outcome === 'ok' ? `✓ up (${ms(last.ttfbMs)})` : `✕ ${last.outcome}`) : 'no check yet'}
                </li>
              );
            })}
          </ul>
        )}
      </section>

      <section aria-labelledby="checks-h">
        <h2 id="checks-h">Latest checks</h2>
        {opts.targets.map((t) => (
          <section class="card" aria-label={`Checks of ${t.name}`}>
            <h3>
              {t.name} <span class="mono small muted">{t.url}</span>
            </h3>
            {t.checks.length === 0 ? (
              <p>No checks yet.</p>
            ) : (
              <>
                <PhaseChart checks={t.checks} title={`Checks of ${t.name}`} />
                <details>
                  <summary>The numbers</summary>
                  <ChecksTable checks={t.checks} caption={`Latest checks of ${t.name}`} />
                </details>
              </>
            )}
          </section>
        ))}
      </section>

      <section aria-labelledby="inc-h">
        <h2 id="inc-h">Incidents</h2>
        {opts.incidents.length === 0 ? <p>No incidents.</p> : <IncidentRows incidents={opts.incidents} now={opts.now} />}
      </section>

      <section aria-labelledby="danger-h">
        <h2 id="danger-h">Delete</h2>
        <form method="post" action={`/app/sites/${s.id}/delete`} class="card">
          <Csrf token={opts.csrf} />
          <label class="check">
            <input type="checkbox" name="confirm" value="yes" required /> Yes, delete {s.name} with all its checks and incidents
          </label>
          <div class="actions">
            <button type="submit" class="danger">
              Delete site
            </button>
          </div>
        </form>
      </section>
    </ConsoleLayout>,
  );
}

export function consoleIncidentPage(opts: { csrf: string; incident: IncidentDetail; now: number }): string {
  const i = opts.incident;
  const end = i.resolvedAt ?? opts.now;
  return page(
    <ConsoleLayout title={`Incident ${i.id}`} csrf={opts.csrf}>
      <p class="small">
        <a href={`/app/sites/${i.siteId}`}>← {i.siteName}</a>
      </p>
      <h1>
        Incident #{i.id}: {i.siteName}, {kindTitle(i.kind)}
      </h1>
      <dl class="facts card">
        <dt>State</dt>
        <dd>{i.state === 'open' ? `Open for ${duration(end - i.firstFailureAt)}` : `Resolved after ${duration(end - i.firstFailureAt)}`}</dd>
        <dt>First failure</dt>
        <dd>{utc(i.firstFailureAt)}</dd>
        <dt>Opened</dt>
        <dd>{utc(i.openedAt)}</dd>
        <dt>Resolved</dt>
        <dd>{i.resolvedAt ? utc(i.resolvedAt) : 'not yet'}</dd>
        <dt>Failed checks</dt>
        <dd>{i.failedChecks}</dd>
        <dt>Public page</dt>
        <dd>{i.sitePublic ? <a href={`/incidents/${i.id}`}>what visitors see</a> : 'the site is not public'}</dd>
      </dl>
      <section aria-labelledby="causes-h">
        <h2 id="causes-h">Probable causes, most likely first</h2>
        {i.causes.length === 0 ? <p>No cause found yet.</p> : null}
        {i.causes.map((c, n) => (
          <section class="card" aria-label={`Cause ${n + 1}: ${c.code}`}>
            <h3>
              {n + 1}. {c.summary}
            </h3>
            <p class="small muted">
              <code>{c.code}</code> · confidence {Math.round(c.confidence * 100)} % · {causeWords(c.code)}
            </p>
            <h4>Evidence</h4>
            <ul class="mono">
              {c.evidence.map((line) => (
                <li>{line}</li>
              ))}
            </ul>
            <h4>What to do</h4>
            <ol>
              {c.advice.map((line) => (
                <li>{line}</li>
              ))}
            </ol>
          </section>
        ))}
      </section>
      <section aria-labelledby="tl-h">
        <h2 id="tl-h">Timeline</h2>
        <ol class="timeline">
          {i.timeline.map((ev) => (
            <li>
              <strong>{utcSeconds(ev.at)}</strong> · {EVENT_WORDS[ev.type] ?? ev.type}
              <div class="small muted">{ev.message}</div>
            </li>
          ))}
        </ol>
      </section>
    </ConsoleLayout>,
  );
}
