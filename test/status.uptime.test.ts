import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type TestServer } from './support/http-servers.js';
import { createTestService, TEST_TOKEN, type TestService } from './support/service.js';

let t: TestService | undefined;
let target: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  await target?.close();
  t = target = undefined;
});

/** The raw JSON text of an answer (to see how numbers are written, not only what they parse to). */
async function rawText(path: string, token: string | null) {
  const res = await t!.svc.app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  return res.text();
}

/** Every `"uptime":{...}` object as written in the text. */
const uptimeObjects = (text: string) => [...text.matchAll(/"uptime":(\{[^}]*\})/g)].map((m) => m[1]);

describe('uptime: one number format everywhere', () => {
  it('percent rounded to 3 decimals, whole values without a fraction, the same in the list and the one, public and with the token', async () => {
    // Healthy for the first two rounds of each site, then failing on the third (2 of 3 = 66.667 %).
    let flakyFails = false;
    target = await listen(
      http.createServer((req, res) => {
        res.writeHead(req.url!.endsWith('/flaky') && flakyFails ? 500 : 200).end('ok');
      }),
    );
    t = createTestService({ ALERT_TO: 'ops@example.com' });
    const steady = (await t.call('POST', '/api/sites', { name: 'steady', url: `${target.url}/steady`, paused: true })).body;
    const flaky = (await t.call('POST', '/api/sites', { name: 'flaky', url: `${target.url}/flaky`, paused: true })).body;
    for (let i = 0; i < 3; i++) {
      flakyFails = i === 2;
      expect((await t.call('POST', `/api/sites/${steady.id}/check`)).status).toBe(200);
      expect((await t.call('POST', `/api/sites/${flaky.id}/check`)).status).toBe(200);
    }

    const expected = {
      [steady.id]: '{"24h":100,"7d":100,"30d":100}',
      [flaky.id]: '{"24h":66.667,"7d":66.667,"30d":66.667}',
    };
    for (const token of [null, TEST_TOKEN]) {
      // The list is rendered by SQLite, one site by JSON.stringify: both must read the same.
      const list = await rawText('/api/status', token);
      expect(uptimeObjects(list), list).toEqual([expected[steady.id], expected[flaky.id]]);
      for (const id of [steady.id, flaky.id]) {
        const one = await rawText(`/api/status/${id}`, token);
        expect(uptimeObjects(one)[0], one).toBe(expected[id]);
      }
    }
    // A site not checked yet: null, not 0.
    const fresh = (await t.call('POST', '/api/sites', { name: 'fresh', url: `${target.url}/fresh`, paused: true })).body;
    expect(uptimeObjects(await rawText(`/api/status/${fresh.id}`, null))[0]).toBe('{"24h":null,"7d":null,"30d":null}');
    expect(uptimeObjects(await rawText('/api/status', null))[2]).toBe('{"24h":null,"7d":null,"30d":null}');
  });
});
