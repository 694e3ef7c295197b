/**
 * Hardening: authentication. Tries every way a caller could slip past the bearer check, proves
 * the comparison never throws on odd input, that a generated token never lands in the database
 * or the log, and that `gatewatch token rotate` takes effect on a running service.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTokenStore, issueToken } from '../../src/auth/token.js';
import { loadConfig } from '../../src/config.js';
import { closeDatabase, openDatabase } from '../../src/db/client.js';
import { startService } from '../../src/service.js';
import { createLogger } from '../../src/shared/logger.js';
import { cleanEnv, killAll, REPO_ROOT, spawnService, spawnTracked } from '../support/proc.js';
import { createTestService, TEST_TOKEN, type TestService } from '../support/service.js';

const TOKEN_RE = /gw_[A-Za-z0-9_-]{32}/;
const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Every /api route that needs the token, with a body where the route takes one. */
const PROTECTED: [string, string, unknown?][] = [
  ['GET', '/api/sites'],
  ['POST', '/api/sites', { name: 'x', url: 'http://127.0.0.1:9/' }],
  ['GET', '/api/sites/1'],
  ['PATCH', '/api/sites/1', { paused: true }],
  ['DELETE', '/api/sites/1'],
  ['POST', '/api/sites/1/check'],
  ['GET', '/api/sites/1/checks?limit=5'],
  ['GET', '/api/incidents'],
  ['GET', '/api/incidents?state=open'],
  ['GET', '/api/incidents/1'],
  ['GET', '/api/alerts'],
  // Writes to the public status routes and unknown /api paths are not public either.
  ['POST', '/api/status'],
  ['DELETE', '/api/status/1'],
  ['PATCH', '/api/status/1', {}],
  ['GET', '/api/unknown-route'],
];

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Ways of presenting credentials that must never authenticate. */
const BAD_CREDENTIALS: [string, { headers?: Record<string, string>; query?: string }][] = [
  ['no Authorization header', {}],
  ['an empty Authorization header', { headers: { authorization: '' } }],
  ['"Bearer" and nothing else', { headers: { authorization: 'Bearer' } }],
  ['"Bearer " and blanks', { headers: { authorization: 'Bearer    ' } }],
  ['a wrong token', { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } }],
  ['a wrong token, lowercase scheme', { headers: { authorization: 'bearer wrong-token-0123456789abcdef' } }],
  ['a wrong token after extra spaces', { headers: { authorization: 'Bearer    wrong-token-0123456789abcdef' } }],
  ['a prefix of the real token', { headers: { authorization: `Bearer ${TEST_TOKEN.slice(0, -1)}` } }],
  ['the first character of the real token', { headers: { authorization: `Bearer ${TEST_TOKEN[0]}` } }],
  ['the real token plus a character', { headers: { authorization: `Bearer ${TEST_TOKEN}x` } }],
  ['the real token in another case', { headers: { authorization: `Bearer ${TEST_TOKEN.toUpperCase()}` } }],
  ['the real token in quotes', { headers: { authorization: `Bearer "${TEST_TOKEN}"` } }],
  ['the real token split by a space', { headers: { authorization: `Bearer ${TEST_TOKEN.slice(0, 8)} ${TEST_TOKEN.slice(8)}` } }],
  ['the real token followed by another word', { headers: { authorization: `Bearer ${TEST_TOKEN} extra` } }],
  ['a wrong and the real token in one header', { headers: { authorization: `Bearer nope, Bearer ${TEST_TOKEN}` } }],
  ['the real token without a scheme', { headers: { authorization: TEST_TOKEN } }],
  ['the real token with the scheme glued on', { headers: { authorization: `Bearer${TEST_TOKEN}` } }],
  ['the real token as Basic password', { headers: { authorization: basic('admin', TEST_TOKEN) } }],
  ['the real token as Basic user', { headers: { authorization: basic(TEST_TOKEN, '') } }],
  ['the real token raw after Basic', { headers: { authorization: `Basic ${TEST_TOKEN}` } }],
  ['the real token after Token', { headers: { authorization: `Token ${TEST_TOKEN}` } }],
  ['the real token in X-Api-Key', { headers: { 'x-api-key': TEST_TOKEN } }],
  ['the real token in a cookie', { headers: { cookie: `token=${TEST_TOKEN}; access_token=${TEST_TOKEN}` } }],
  ['the real token in ?token=', { query: `token=${TEST_TOKEN}` }],
  ['the real token in ?access_token=', { query: `access_token=${TEST_TOKEN}` }],
  ['a 10 kB token', { headers: { authorization: `Bearer ${'a'.repeat(10_000)}` } }],
  ['a 1 MB token', { headers: { authorization: `Bearer ${'b'.repeat(1_000_000)}` } }],
  ['a 1 MB token that starts with the real one', { headers: { authorization: `Bearer ${TEST_TOKEN}${'c'.repeat(1_000_000)}` } }],
  ['a token of non-ASCII (Latin-1) bytes', { headers: { authorization: 'Bearer \u00e9\u00e8\u00ff\u00fe\u00e0\u00e7\u00f1\u00fc\u00f6\u00e4\u00df\u00e5\u00e6\u00f8\u00ea\u00ee' } }],
];

describe('every protected /api route refuses bad credentials with a 401', () => {
  let t: TestService;
  beforeEach(() => {
    t = createTestService();
  });
  afterEach(async () => {
    await t.close();
  });

  for (const [label, cred] of BAD_CREDENTIALS) {
    it(`refuses ${label}`, async () => {
      for (const [method, path, body] of PROTECTED) {
        const url = cred.query ? `${path}${path.includes('?') ? '&' : '?'}${cred.query}` : path;
        const res = await t.call(method, url, body, { token: null, headers: cred.headers });
        expect(res.status, `${method} ${url}`).toBe(401);
        expect(res.body.error.code).toBe('auth.unauthorized');
        expect(typeof res.body.error.message).toBe('string');
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        // The answer never echoes what was presented.
        expect(JSON.stringify(res.body)).not.toContain(TEST_TOKEN);
      }
      // Nothing was written on the way.
      const n = t.svc.db.$client.prepare('SELECT COUNT(*) AS n FROM sites').get() as { n: number };
      expect(n.n).toBe(0);
    });
  }

  it('accepts the real token on every protected route (so the 401s above are about the credentials)', async () => {
    for (const [method, path, body] of PROTECTED) {
      const res = await t.call(method, path, body);
      expect(res.status, `${method} ${path}`).not.toBe(401);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
    }
  });

  // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1: `Bearer 1*SP b64token`.
  // Accepting these with the *right* token is standard behaviour, not a bypass: the secret is the token.
  it('follows RFC 7235/6750 for the right token: case-insensitive scheme, one or more spaces', async () => {
    for (const authorization of [`bearer ${TEST_TOKEN}`, `BEARER ${TEST_TOKEN}`, `Bearer   ${TEST_TOKEN}`]) {
      const res = await t.call('GET', '/api/sites', undefined, { token: null, headers: { authorization } });
      expect(res.status, authorization).toBe(200);
    }
  });

  it('keeps GET /api/status and /api/status/:id public, and private with STATUS_PUBLIC=false', async () => {
    const created = await t.call('POST', '/api/sites', { name: 'pub', url: 'http://127.0.0.1:9/', paused: true });
    for (const path of ['/api/status', `/api/status/${created.body.id}`]) {
      const res = await t.call('GET', path, undefined, { token: null });
      expect(res.status, path).toBe(200);
      // A wrong token on a public route is the same as none: the public view, never an error.
      const wrong = await t.call('GET', path, undefined, { token: 'wrong-token-0123456789abcdef' });
      expect(wrong.status, path).toBe(200);
      expect(wrong.body.url ?? wrong.body.sites?.[0]?.url).toBeUndefined();
    }
    const priv = createTestService({ STATUS_PUBLIC: 'false' });
    try {
      for (const path of ['/api/status', '/api/status/1']) {
        expect((await priv.call('GET', path, undefined, { token: null })).status, path).toBe(401);
        expect((await priv.call('GET', path, undefined, { token: 'wrong-token-0123456789abcdef' })).status, path).toBe(401);
      }
      expect((await priv.call('GET', '/api/status')).status).toBe(200);
    } finally {
      await priv.close();
    }
  });

  it('does not let odd paths reach a protected handler without the token', async () => {
    const created = await t.call('POST', '/api/sites', { name: 'odd', url: 'http://127.0.0.1:9/', paused: true });
    expect(created.status).toBe(201);
    for (const path of [
      '/api/status/../sites',
      '/api/status/%2e%2e/sites',
      '/api/status/..%2fsites',
      '/api/status/1/../../sites',
      '/api/./sites',
      '/api//sites',
      '//api/sites',
      '/API/sites',
      '/api/sites/',
      '/api/sites%2f1',
      '/api/Sites',
      '/api/sites;x',
      '/api/status/1/../../alerts',
      '/api/status%2f..%2fsites',
    ]) {
      for (const method of ['GET', 'DELETE']) {
        const res = await t.call(method, path, undefined, { token: null });
        expect([400, 401, 404], `${method} ${path} -> ${res.status}`).toContain(res.status);
      }
    }
    expect((await t.call('GET', `/api/sites/${created.body.id}`)).status).toBe(200);
  });
});

describe('createTokenStore', () => {
  const WRONG = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33), 'x'.repeat(64), 'x'.repeat(100_000), '\u0000', 'é', '\u{1F600}'.repeat(50), '\ud800'];

  it('never throws on a wrong token of any length, with a token from the environment', () => {
    const db = openDatabase(':memory:');
    try {
      const store = createTokenStore(db, TEST_TOKEN);
      for (const wrong of [...WRONG, TEST_TOKEN.slice(0, -1), `${TEST_TOKEN} `]) expect(store.verify(wrong), JSON.stringify(wrong.slice(0, 40))).toBe(false);
      expect(store.verify(TEST_TOKEN)).toBe(true);
    } finally {
      closeDatabase(db);
    }
  });

  it('never throws on a wrong token of any length, with a generated token, and refuses all before one exists', () => {
    const db = openDatabase(':memory:');
    try {
      const store = createTokenStore(db, undefined);
      for (const wrong of WRONG) expect(store.verify(wrong)).toBe(false);
      const token = issueToken(db, null);
      expect(token).toMatch(TOKEN_RE);
      for (const wrong of [...WRONG, token.slice(0, -1), token.slice(1), `${token}x`]) expect(store.verify(wrong)).toBe(false);
      expect(store.verify(token)).toBe(true);
      // A second issue replaces the first at once, with the same store.
      const next = issueToken(db, null);
      expect(store.verify(token)).toBe(false);
      expect(store.verify(next)).toBe(true);
    } finally {
      closeDatabase(db);
    }
  });

  it('compares digests of equal length with timingSafeEqual (code review, pinned)', () => {
    const source = readFileSync(join(REPO_ROOT, 'src/auth/token.ts'), 'utf8');
    expect(source).toMatch(/timingSafeEqual\(\s*sha256\(presented\)/);
    expect(source).not.toMatch(/presented\s*={2,3}|={2,3}\s*presented/);
  });
});

describe('generated token', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gw-auth-'));
  });
  afterEach(async () => {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is written to a 0600 file, logged by path only, and stored only as a SHA-256 hash', async () => {
    const dbPath = join(dir, 'data', 'gw.db');
    let log = '';
    const logger = createLogger('debug', (line) => (log += line));
    const config = loadConfig({ DATABASE_PATH: dbPath, PORT: '0', HOST: '127.0.0.1' });
    const svc = await startService(config, logger);
    let token: string;
    try {
      const file = join(dir, 'data', 'api-token');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(TOKEN_RE);
      expect(log).toContain(file);
      expect(log).not.toContain(token);

      const base = `http://127.0.0.1:${svc.port}`;
      expect((await fetch(`${base}/api/sites`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${base}/api/sites`)).status).toBe(401);
    } finally {
      await svc.stop();
    }

    const sqlite = new Database(dbPath, { readonly: true });
    try {
      const rows = sqlite.prepare('SELECT key, value FROM settings').all() as { key: string; value: string }[];
      expect(rows.some((r) => r.value.includes(token) || r.key.includes(token))).toBe(false);
      const hashRow = rows.find((r) => r.value === sha256hex(token));
      expect(hashRow, 'a settings row holding the token SHA-256').toBeDefined();
      expect(hashRow!.value).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      sqlite.close();
    }
    // Not in any byte of the database files either (WAL included).
    for (const f of [dbPath, `${dbPath}-wal`]) {
      if (existsSync(f)) expect(readFileSync(f).includes(Buffer.from(token)), f).toBe(false);
    }

    // A restart keeps the issued token: no new file, the same token still works.
    const again = await startService(config, createLogger('silent'));
    try {
      expect(readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim()).toBe(token);
      const res = await fetch(`http://127.0.0.1:${again.port}/api/sites`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      await again.stop();
    }
  });

  it('rotates on a running service: the old token gets 401 and the new one 200 at once, via the CLI and npm run', async () => {
    const dbPath = join(dir, 'gw.db');
    const tokenFile = join(dir, 'api-token');
    const svc = await spawnService({ DATABASE_PATH: dbPath });
    const ask = (token: string) => fetch(`${svc.base}/api/sites`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

    const first = readFileSync(tokenFile, 'utf8').trim();
    expect(first).toMatch(TOKEN_RE);
    expect(await ask(first)).toBe(200);

    // bin/gatewatch.js, run from another directory (no .env of the repository in the way).
    const cli = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'token', 'rotate'], cleanEnv({ DATABASE_PATH: dbPath }), dir);
    expect(await cli.exited, cli.log()).toBe(0);
    const second = readFileSync(tokenFile, 'utf8').trim();
    expect(second).toMatch(TOKEN_RE);
    expect(second).not.toBe(first);
    expect(cli.log()).toContain(second);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(await ask(first)).toBe(401);
    expect(await ask(second)).toBe(200);

    // npm run token:rotate, against the same running service.
    const npm = spawnTracked(['npm', 'run', 'token:rotate'], cleanEnv({ DATABASE_PATH: dbPath }));
    expect(await npm.exited, npm.log()).toBe(0);
    const third = readFileSync(tokenFile, 'utf8').trim();
    expect(third).toMatch(TOKEN_RE);
    expect(new Set([first, second, third]).size).toBe(3);
    expect(npm.log()).toContain(third);
    expect(await ask(second)).toBe(401);
    expect(await ask(first)).toBe(401);
    expect(await ask(third)).toBe(200);

    // The running service logged none of them, and was never restarted.
    expect(svc.child.exitCode).toBeNull();
    for (const token of [first, second, third]) expect(svc.log()).not.toContain(token);
  });

  it('makes the token file 0600 on rotation even when it was readable by others before', async () => {
    const dbPath = join(dir, 'gw.db');
    const tokenFile = join(dir, 'api-token');
    writeFileSync(tokenFile, 'old\n');
    chmodSync(tokenFile, 0o644);
    const cli = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'token', 'rotate'], cleanEnv({ DATABASE_PATH: dbPath }), dir);
    expect(await cli.exited, cli.log()).toBe(0);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(tokenFile, 'utf8').trim()).toMatch(TOKEN_RE);
  });

  it('never writes the token through a symlink or a hard link planted at the token path', () => {
    const db = openDatabase(join(dir, 'gw.db'));
    try {
      const tokenFile = join(dir, 'api-token');
      // A symlink to a file others can read.
      const elsewhere = join(dir, 'world-readable');
      writeFileSync(elsewhere, 'nothing yet\n', { mode: 0o644 });
      symlinkSync(elsewhere, tokenFile);
      const first = issueToken(db, tokenFile);
      expect(readFileSync(elsewhere, 'utf8')).toBe('nothing yet\n');
      expect(lstatSync(tokenFile).isSymbolicLink()).toBe(false);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(tokenFile, 'utf8').trim()).toBe(first);

      // A hard link to the token file, kept by someone else: it keeps the old token, never the new one.
      const copy = join(dir, 'hard-link');
      linkSync(tokenFile, copy);
      const second = issueToken(db, tokenFile);
      expect(readFileSync(copy, 'utf8').trim()).toBe(first);
      expect(readFileSync(tokenFile, 'utf8').trim()).toBe(second);
      // No temporary file left behind.
      expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    } finally {
      closeDatabase(db);
    }
  });

  it('refuses to rotate when API_TOKEN is set, with a clear message, and changes nothing', async () => {
    const dbPath = join(dir, 'gw.db');
    const cli = spawnTracked(
      [process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'token', 'rotate'],
      cleanEnv({ DATABASE_PATH: dbPath, API_TOKEN: TEST_TOKEN }),
      dir,
    );
    expect(await cli.exited).toBe(1);
    expect(cli.log()).toMatch(/API_TOKEN is set/);
    expect(cli.log()).not.toContain(TEST_TOKEN);
    expect(existsSync(join(dir, 'api-token'))).toBe(false);
    expect(existsSync(dbPath)).toBe(false);
  });

  it('answers a wrong command with the usage and exit code 2', async () => {
    const cli = spawnTracked([process.execPath, join(REPO_ROOT, 'bin/gatewatch.js'), 'token', 'rotat'], cleanEnv({ DATABASE_PATH: join(dir, 'gw.db') }), dir);
    expect(await cli.exited).toBe(2);
    expect(cli.log()).toContain('usage: gatewatch token rotate');
  });
});
