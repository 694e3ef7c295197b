/*
 * GET /docs: the API reference, rendered on the server from the OpenAPI document. One HTML page,
 * its style inline, no script and nothing from another host: it reads without JavaScript and
 * works offline. Plain functions of the document; every text from it is escaped.
 */

type Schema = Record<string, any>;
type Doc = Record<string, any>;

const esc = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** Follows a local $ref (#/components/...) to what it names. */
const deref = (doc: Doc, schema: Schema | undefined): Schema | undefined => {
  let s = schema;
  for (let hops = 0; s && typeof s.$ref === 'string' && hops < 10; hops++) {
    const path = s.$ref.replace(/^#\//, '').split('/');
    s = path.reduce<any>((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return s;
};

const refName = (schema: Schema | undefined) => (typeof schema?.$ref === 'string' ? schema.$ref.split('/').pop() : undefined);

/** A short type: integer, string, array of string, [integer, integer], "open" | "resolved", ... */
function typeOf(doc: Doc, schema: Schema | undefined): string {
  if (!schema) return 'any';
  const named = refName(schema);
  const s = deref(doc, schema) ?? {};
  if (named && s.type === 'object') return named;
  if (Array.isArray(s.enum)) return s.enum.map((v: unknown) => JSON.stringify(v)).join(' | ');
  if ('const' in s) return JSON.stringify(s.const);
  const union = s.anyOf ?? s.oneOf;
  if (Array.isArray(union)) return union.map((m: Schema) => (deref(doc, m)?.type === 'null' ? 'null' : typeOf(doc, m))).join(' or ');
  if (Array.isArray(s.prefixItems)) return `[${s.prefixItems.map((m: Schema) => typeOf(doc, m)).join(', ')}]`;
  const types: string[] = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const base = types.filter((t) => t !== 'null');
  let text = base.length === 0 ? (s.properties ? 'object' : 'any') : base.join(' | ');
  if (base.includes('array')) text = `array of ${typeOf(doc, s.items)}`;
  if (s.format) text += ` (${s.format})`;
  return types.includes('null') ? `${text} or null` : text;
}

const SAFE_RANGE = 9_007_199_254_740_991;

/** Limits in words: 1..100, at most 2048 characters, pattern, ... */
function limitsOf(doc: Doc, schema: Schema | undefined): string {
  const s = deref(doc, schema) ?? {};
  const out: string[] = [];
  const min = s.minimum ?? s.exclusiveMinimum;
  const max = s.maximum ?? s.exclusiveMaximum;
  const bounded = (v: unknown) => typeof v === 'number' && Math.abs(v) < SAFE_RANGE;
  if (bounded(min) && bounded(max)) out.push(`${min} to ${max}`);
  else if (bounded(min)) out.push(`at least ${min}`);
  else if (bounded(max)) out.push(`at most ${max}`);
  if (s.minLength !== undefined && s.minLength > 0) out.push(s.minLength === 1 ? 'not empty' : `at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.maxItems !== undefined && !Array.isArray(s.prefixItems)) out.push(`at most ${s.maxItems} items`);
  if (s.pattern && s.pattern.length <= 40) out.push(`pattern ${s.pattern}`);
  const union = s.anyOf ?? s.oneOf;
  if (Array.isArray(union)) for (const m of union) out.push(limitsOf(doc, m));
  return out.filter(Boolean).join('; ');
}

interface Field {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  limits: string;
  description?: string;
}

/** The fields of an object schema, nested objects and arrays of objects flattened (upstreams[].name). */
function fieldsOf(doc: Doc, schema: Schema | undefined, prefix = '', depth = 0): Field[] {
  const s = deref(doc, schema);
  if (!s || !s.properties || depth > 3) return [];
  const required = new Set<string>(s.required ?? []);
  const out: Field[] = [];
  for (const [key, raw] of Object.entries<Schema>(s.properties)) {
    const p = deref(doc, raw) ?? {};
    const name = prefix + key;
    out.push({ name, type: typeOf(doc, raw), required: required.has(key), default: p.default, limits: limitsOf(doc, raw), description: p.description ?? raw.description });
    if (refName(raw)) continue; // named schemas are listed once, in their own section
    const nested = deref(doc, p.type === 'array' ? p.items : p);
    if (nested?.properties) out.push(...fieldsOf(doc, nested, p.type === 'array' ? `${name}[].` : `${name}.`, depth + 1));
  }
  return out;
}

function fieldsTable(fields: Field[], withRequired: boolean): string {
  if (fields.length === 0) return '<p class="muted">no fields</p>';
  const rows = fields
    .map(
      (f) => `<tr><td><code>${esc(f.name)}</code></td><td>${esc(f.type)}</td>${withRequired ? `<td>${f.required ? 'yes' : 'no'}</td>` : ''}<td>${
        f.default === undefined ? '' : `<code>${esc(JSON.stringify(f.default))}</code>`
      }</td><td>${esc(f.limits)}</td><td>${esc(f.description ?? '')}</td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th>field</th><th>type</th>${withRequired ? '<th>required</th>' : ''}<th>default</th><th>limits</th><th>about</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** A small example value for a schema, for the curl examples. */
function example(doc: Doc, schema: Schema | undefined, key = '', depth = 0): unknown {
  const s = deref(doc, schema) ?? {};
  if (s.default !== undefined && depth > 0) return s.default;
  if (Array.isArray(s.enum)) return s.enum[0];
  const union = s.anyOf ?? s.oneOf;
  if (Array.isArray(union)) return example(doc, union[0], key, depth);
  if (s.type === 'object' || s.properties) {
    const required: string[] = s.required ?? [];
    const keys = required.length > 0 ? required : Object.keys(s.properties ?? {}).filter((k) => deref(doc, s.properties[k])?.type === 'boolean').slice(0, 1);
    return Object.fromEntries(keys.map((k) => [k, example(doc, s.properties[k], k, depth + 1)]));
  }
  if (s.type === 'array') return [];
  if (s.type === 'integer' || s.type === 'number') return s.minimum ?? 1;
  if (s.type === 'boolean') return key === 'paused';
  if (key === 'url') return 'https://shop.example.com/';
  if (key === 'name') return 'shop';
  return 'text';
}

function curlFor(doc: Doc, origin: string, method: string, path: string, op: Doc): string {
  const url = origin + path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'id' ? '1' : `<${name}>`));
  const parts = ['curl -s'];
  if (method !== 'get') parts.push(`-X ${method.toUpperCase()}`);
  parts.push(`'${url}'`);
  const open = Array.isArray(op.security) && (op.security.length === 0 || op.security.some((r: object) => Object.keys(r).length === 0));
  if (!open) parts.push('-H "Authorization: Bearer $TOKEN"');
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) parts.push(`-H 'Content-Type: application/json' -d '${JSON.stringify(example(doc, body))}'`);
  return parts.join(' ');
}

const anchor = (method: string, path: string) => `${method}-${path.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '')}`;

function renderOperation(doc: Doc, origin: string, method: string, path: string, op: Doc): string {
  const params: Schema[] = (op.parameters ?? []).map((p: Schema) => deref(doc, p) ?? p);
  const paramRows: Field[] = params.map((p) => ({
    name: `${p.name} (${p.in})`,
    type: typeOf(doc, p.schema),
    required: Boolean(p.required),
    default: deref(doc, p.schema)?.default,
    limits: limitsOf(doc, p.schema),
    description: p.description,
  }));
  const body = op.requestBody?.content?.['application/json']?.schema;
  const responses = Object.entries<Doc>(op.responses ?? {});
  const ok = responses.filter(([status]) => /^[23]/.test(status));
  const failures = responses.filter(([status]) => !/^[23]/.test(status));
  const security = Array.isArray(op.security) ? op.security : doc.security;
  const auth =
    !security || security.length === 0
      ? 'open (no token)'
      : security.some((r: object) => Object.keys(r).length === 0)
        ? 'token optional (adds private fields)'
        : 'needs <code>Authorization: Bearer &lt;token&gt;</code>';

  const responseHtml = ok
    .map(([status, r]) => {
      const [type, media] = Object.entries<Doc>(r.content ?? {})[0] ?? [];
      const schema = media?.schema;
      return `<h4>${esc(status)} ${esc(r.description ?? '')}${type ? ` <span class="muted">${esc(type)}</span>` : ''}</h4>${
        schema && deref(doc, schema)?.properties ? fieldsTable(fieldsOf(doc, schema), false) : ''
      }`;
    })
    .join('');
  const errorHtml = failures.length
    ? `<table><thead><tr><th>status</th><th>when</th></tr></thead><tbody>${failures
        .map(([status, r]) => `<tr><td>${esc(status)}</td><td>${esc(r.description ?? '')}</td></tr>`)
        .join('')}</tbody></table>`
    : '';

  return `<section class="op" id="${anchor(method, path)}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
<p><strong>${esc(op.summary ?? '')}</strong>. ${esc(op.description ?? '')}</p>
<p class="muted">${auth}</p>
${paramRows.length ? `<h4>Parameters</h4>${fieldsTable(paramRows, true)}` : ''}
${body ? `<h4>Body <span class="muted">application/json</span></h4>${fieldsTable(fieldsOf(doc, body), true)}` : ''}
<h4>Example</h4><pre>${esc(curlFor(doc, origin, method, path, op))}</pre>
<h4>Responses</h4>${responseHtml}
${errorHtml ? `<h4>Errors</h4>${errorHtml}` : ''}
</section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem 1.5rem;color:#1b1f24;background:#fff}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f4f5f7;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}th,td{border:1px solid #d8dce1;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f5f7}.muted{color:#57606a}.op{border-top:2px solid #d8dce1;margin-top:1.5rem}
.method{display:inline-block;min-width:4.5rem;font-weight:700}.get{color:#0a6b2d}.post{color:#0550ae}.patch{color:#8a4600}.delete{color:#b1121a}
nav li{list-style:none}nav ul{padding-left:1rem}a{color:#0550ae}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}pre,th{background:#161b22}th,td{border-color:#30363d}.muted{color:#8b949e}a{color:#58a6ff}}`;

/** The whole page: an index, then each route grouped by tag, then the named schemas. */
export function renderDocsPage(document: unknown, origin: string): string {
  const doc = document as Doc;
  const ops: { tag: string; method: string; path: string; op: Doc }[] = [];
  for (const [path, item] of Object.entries<Doc>(doc.paths ?? {})) {
    for (const method of METHODS) if (item[method]) ops.push({ tag: item[method].tags?.[0] ?? 'other', method, path, op: item[method] });
  }
  const tags: { name: string; description?: string }[] = [...(doc.tags ?? [])];
  for (const { tag } of ops) if (!tags.some((t) => t.name === tag)) tags.push({ name: tag });

  const nav = tags
    .map(
      (t) =>
        `<li><a href="#tag-${esc(t.name)}">${esc(t.name)}</a><ul>${ops
          .filter((o) => o.tag === t.name)
          .map((o) => `<li><a href="#${anchor(o.method, o.path)}">${o.method.toUpperCase()} ${esc(o.path)}</a></li>`)
          .join('')}</ul></li>`,
    )
    .join('');
  const sections = tags
    .map((t) => {
      const list = ops.filter((o) => o.tag === t.name);
      if (list.length === 0) return '';
      return `<h2 id="tag-${esc(t.name)}">${esc(t.name)}</h2>${t.description ? `<p>${esc(t.description)}</p>` : ''}${list
        .map((o) => renderOperation(doc, origin, o.method, o.path, o.op))
        .join('\n')}`;
    })
    .join('\n');
  const schemas = Object.entries<Schema>(doc.components?.schemas ?? {})
    .map(([name, s]) => `<h3 id="schema-${esc(name)}">${esc(name)}</h3>${fieldsTable(fieldsOf(doc, s), false)}`)
    .join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(doc.info?.title ?? 'API')} ${esc(doc.info?.version ?? '')}: reference</title><style>${STYLE}</style></head>
<body><header><h1>${esc(doc.info?.title ?? 'API')} <span class="muted">${esc(doc.info?.version ?? '')}</span></h1>
<pre>${esc(doc.info?.description ?? '')}</pre>
<p>The same reference as a document: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${esc(doc.openapi)}). In the examples, <code>TOKEN</code> holds the API token.</p></header>
<nav aria-label="routes"><ul>${nav}</ul></nav>
<main>${sections}
<h2 id="schemas">Schemas</h2>${schemas}</main>
</body></html>`;
}
