import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import { CAUSE_CODES } from '../src/diagnosis/diagnosis.types.js';
import { siteCreateSchema } from '../src/sites/sites.schemas.js';
import { REPO_ROOT } from './support/proc.js';
import { createTestService, type TestService } from './support/service.js';

let t: TestService | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const docs = () => readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);

describe('the documentation in the repository', () => {
  it('mentions no folder outside the repository, and every relative link points at a file that exists', () => {
    for (const file of ['README.md', ...docs()]) {
      const text = read(file);
      expect(text, file).not.toMatch(/DESIGN\.md|\.\.\/shared|shared folder/i);
      for (const [, target] of text.matchAll(/\]\((?!https?:|#)([^)#\s]+)/g)) {
        expect(existsSync(join(REPO_ROOT, dirname(file), target)), `${file} -> ${target}`).toBe(true);
      }
    }
    for (const file of ['api.md', 'configuration.md', 'causes.md', 'alerts.md', 'diagnosis.md', 'cli.md']) {
      expect(read('README.md')).toContain(`(docs/${file})`);
    }
  });

  it('api.md has a curl example for every route of the app, and names every field of the site body', async () => {
    t = createTestService();
    const doc = (await t.call('GET', '/openapi.json', undefined, { token: null })).body;
    const api = read('docs/api.md');
    const curls = api.split('\n').filter((line) => /^curl /.test(line) || /^(GATEWATCH_URL=\S+ )?\S*curl /.test(line));
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of Object.keys(item)) {
        const url = path.replace(/\{id\}/g, '1');
        const wanted = new RegExp(`curl [^\\n]*${method === 'get' ? '' : `-X ${method.toUpperCase()} `}[^\\n]*\\$API${url.replace(/[/.]/g, '\\$&')}(?![\\w/-])`);
        expect(curls.some((line) => wanted.test(line)), `${method.toUpperCase()} ${path}`).toBe(true);
      }
    }
    for (const path of ['/api/sites/1/uptime', '/api/sites/1/log-lines', '/metrics', '/app/']) expect(api).toMatch(new RegExp(`curl .*\\$API${path}`));
    for (const field of [...Object.keys(siteCreateSchema.shape), 'webhooks', 'gatewayLog', 'public']) expect(api).toContain(`| \`${field}\` |`);
  });

  it('configuration.md lists every variable the configuration reads; causes.md every cause code', () => {
    const configuration = read('docs/configuration.md');
    for (const key of [...Object.keys(configSchema.shape), 'PUBLIC_URL', 'METRICS_PUBLIC', 'CERT_WARN_DAYS', 'RETENTION_HOURLY_DAYS', 'RETENTION_DAILY_DAYS']) {
      expect(configuration, key).toContain(`| \`${key}\` |`);
    }
    const causes = read('docs/causes.md');
    for (const code of [...CAUSE_CODES, 'gateway_down']) expect(causes, code).toContain(`## \`${code}\``);
  });
});
