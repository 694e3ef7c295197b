import { afterEach, describe, expect, it } from 'vitest';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

describe('GET /docs', () => {
  it('is open, and renders every route of the document with its fields, errors and a curl example', async () => {
    t = createTestService();
    const res = await t.svc.app.request('http://gw.test:3000/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    const doc = (await t.call('GET', '/openapi.json', undefined, { token: null })).body;

    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of Object.keys(item)) {
        expect(html, `${method} ${path}`).toContain(`${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code>`);
      }
    }
    // The site body's fields with types, defaults and limits; the query parameters; the errors.
    const create = html.slice(html.indexOf('<code>/api/sites</code>'));
    expect(create).toMatch(/<code>intervalSeconds<\/code><\/td><td>integer<\/td><td>no<\/td><td><code>60<\/code><\/td><td>1 to 86400<\/td>/);
    expect(create).toMatch(/<code>upstreams\[\]\.name<\/code><\/td><td>string<\/td><td>yes<\/td>/);
    expect(html).toMatch(/<code>limit \(query\)<\/code><\/td><td>integer<\/td><td>no<\/td><td><code>100<\/code><\/td><td>1 to 1000<\/td>/);
    expect(html).toContain('validation.failed');
    expect(html).toContain('curl -s -X POST &#39;http://gw.test:3000/api/sites&#39; -H &quot;Authorization: Bearer $TOKEN&quot;');
    expect(html).toContain('curl -s &#39;http://gw.test:3000/api/status&#39;</pre>');
  });

  it('loads nothing: no script, no other host, and a policy that allows only its own inline style', async () => {
    t = createTestService();
    const res = await t.svc.app.request('http://gw.test:3000/docs');
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("style-src 'unsafe-inline'");
    expect(csp).not.toMatch(/script-src|https?:/);

    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    const refs = [...html.matchAll(/\b(?:href|src|action)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(ref, ref).toMatch(/^(#|\/(?!\/))/);
    // Absolute URLs appear only as text of the examples: this host, or the example site in a body.
    for (const [url] of html.matchAll(/https?:\/\/[^\s"'<&]+/g)) expect(url).toMatch(/^http:\/\/gw\.test:3000\/|^https:\/\/shop\.example\.com\//);

    // The JSON API keeps its strict policy.
    const api = await t.call('GET', '/api/sites');
    expect(api.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  });
});
