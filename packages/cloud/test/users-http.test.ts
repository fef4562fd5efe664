/**
 * The users, settings and sign-in API over real HTTP, without any agent: permissions (helpdesk
 * reads users and sync state but not settings; the operator neither), settings validation, cloud-only
 * users (created, listed, signed in with the cloud hash, refused writeback with not_synced_user) and
 * the end-user sign-in rate limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminApiSession, api, errorCode, field, startCloud, type Started } from './helpers.js';

describe('users, settings and sign-in API', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  let helpdesk: string;
  const T = '/api/v1/tenants/acme';

  before(async () => {
    s = await startCloud({ config: { rateLimits: { userSignInPerLogin: { limit: 3, windowSeconds: 900 } } } });
    base = s.cloud.url;
    const boot = await s.cloud.bootstrap({
      tenant: { slug: 'acme' },
      apiKey: true,
      admin: { login: 'desk', password: 'Helpdesk-Pass-2030!', role: 'helpdesk' },
    });
    apiKey = boot.apiKey ?? '';
    helpdesk = (await adminApiSession(base, { tenant: 'acme', login: 'desk', password: 'Helpdesk-Pass-2030!' })).token;
  });
  after(() => s.stop());

  test('settings: defaults, a partial change, refused values named by path, admins only', async () => {
    const got = await api(base, 'GET', `${T}/settings`, { token: apiKey });
    assert.equal(got.status, 200);
    assert.equal(field(got.json, 'signIn', 'mode'), 'cloud_hash');
    assert.equal(field(got.json, 'sync', 'intervalMs'), 1000);

    const patched = await api(base, 'PATCH', `${T}/settings`, {
      token: apiKey,
      body: { signIn: { mode: 'pass_through' }, sspr: { methods: ['email', 'totp'] } },
    });
    assert.equal(patched.status, 200);
    assert.equal(field(patched.json, 'signIn', 'mode'), 'pass_through');
    assert.deepEqual(field(patched.json, 'sspr', 'methods'), ['email', 'totp']);
    assert.equal(field(patched.json, 'sspr', 'enabled'), true);

    const bad = await api(base, 'PATCH', `${T}/settings`, { token: apiKey, body: { sync: { intervalMs: 10 } } });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'invalid_request');
    assert.equal(field(bad.json, 'error', 'details', 0, 'path'), 'sync.intervalMs');
    assert.equal(
      errorCode(await api(base, 'PATCH', `${T}/settings`, { token: apiKey, body: { nonsense: {} } })),
      'invalid_request',
    );
    assert.equal(field((await api(base, 'GET', `${T}/settings`, { token: apiKey })).json, 'sync', 'intervalMs'), 1000);

    assert.equal(errorCode(await api(base, 'GET', `${T}/settings`, { token: helpdesk })), 'forbidden');
    assert.equal(
      errorCode(
        await api(base, 'PATCH', `${T}/settings`, { token: helpdesk, body: { signIn: { mode: 'cloud_hash' } } }),
      ),
      'forbidden',
    );
    assert.equal(errorCode(await api(base, 'GET', `${T}/users`, { token: s.operatorKey })), 'forbidden');
    assert.equal(errorCode(await api(base, 'GET', `${T}/settings`)), 'unauthorized');
    await api(base, 'PATCH', `${T}/settings`, { token: apiKey, body: { signIn: { mode: 'cloud_hash' } } });
  });

  test('before any sync: no users, sync state idle; helpdesk may read both', async () => {
    const list = await api(base, 'GET', `${T}/users`, { token: helpdesk });
    assert.equal(list.status, 200);
    assert.equal(field(list.json, 'synced'), false);
    assert.equal(field(list.json, 'total'), 0);
    const sync = await api(base, 'GET', `${T}/sync`, { token: helpdesk });
    assert.equal(field(sync.json, 'phase'), 'idle');
    assert.equal(field(sync.json, 'firstFullSyncAt'), null);
    assert.equal(errorCode(await api(base, 'POST', `${T}/sync/run`, { token: helpdesk })), 'forbidden');
    assert.equal(errorCode(await api(base, 'POST', `${T}/sync/deletions/confirm`, { token: apiKey })), 'conflict');
  });

  test('a cloud-only user: created, listed, signs in with the cloud hash, no writeback', async () => {
    const create = (token: string, body: Record<string, string>) => api(base, 'POST', `${T}/users`, { token, body });
    const made = await create(apiKey, {
      login: 'Contractor.One',
      password: 'Cloud-Only-Pass-2030',
      mail: 'c1@example.test',
    });
    assert.equal(made.status, 201);
    assert.equal(field(made.json, 'user', 'source'), 'cloud');
    assert.equal(
      errorCode(await create(apiKey, { login: 'contractor.one', password: 'Another-Pass-2030!' })),
      'conflict',
    );
    assert.equal(errorCode(await create(helpdesk, { login: 'x', password: 'Another-Pass-2030!' })), 'forbidden');

    const listed = await api(base, 'GET', `${T}/users?source=cloud&search=CONTRACTOR`, { token: apiKey });
    assert.equal(field(listed.json, 'total'), 1);
    const one = await api(base, 'GET', `${T}/users/c1@example.test`, { token: apiKey });
    assert.deepEqual(field(one.json, 'writeback'), { offered: false, reason: 'not_synced_user' });

    const ok = await api(base, 'POST', `${T}/sign-in`, {
      body: { login: 'contractor.one', password: 'Cloud-Only-Pass-2030' },
    });
    assert.equal(ok.status, 200);
    assert.equal(field(ok.json, 'outcome'), 'succeeded');
    assert.equal(field(ok.json, 'via'), 'cloud_hash');
    assert.equal(field(ok.json, 'user', 'login'), 'Contractor.One');

    const reset = await api(base, 'POST', `${T}/users/contractor.one/password/reset`, {
      token: apiKey,
      body: { newPassword: 'Reset-Attempt-2030!' },
    });
    assert.equal(reset.status, 409);
    assert.equal(errorCode(reset), 'not_synced_user');
  });

  test('failed sign-ins are rate limited per login; the password never shows in the answer', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await api(base, 'POST', `${T}/sign-in`, {
        body: { login: 'contractor.one', password: `Wrong-Guess-${i}` },
      });
      assert.equal(r.status, 401);
      assert.equal(field(r.json, 'outcome'), 'invalid_credentials');
      assert.equal(r.text.includes('Wrong-Guess'), false);
    }
    const limited = await api(base, 'POST', `${T}/sign-in`, {
      body: { login: 'CONTRACTOR.ONE', password: 'Cloud-Only-Pass-2030' },
    });
    assert.equal(limited.status, 429);
    assert.equal(field(limited.json, 'outcome'), 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(
      errorCode(await api(base, 'POST', '/api/v1/tenants/nope/sign-in', { body: { login: 'a', password: 'b' } })),
      'not_found',
    );
  });
});
