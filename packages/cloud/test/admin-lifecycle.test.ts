/**
 * Issue 10 (admin lifecycle), through the API: list, change the role, disable and enable, remove
 * (PATCH / DELETE /api/v1/tenants/:tenant/admins/:adminId). Who may (operator, tenant key, tenant
 * admin; not the help desk, not another tenant), the last enabled admin kept (409 last_admin, also
 * when two demotions race), the admin's sessions ended (API tokens and page sessions), and one
 * audit record per change. The pages' door: test/e2e/browser/admin-admins.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWebSession, loadWebSession, totpCode } from '@writeback/cloud/testing';
import { adminApiSession, api, Clock, errorCode, field, startCloud, str, type Started } from './helpers.js';

const T = '/api/v1/tenants/acme';
const PASSWORD = 'Admin-Lifecycle-Pass-2030!';

describe('admin lifecycle through the API', () => {
  let s: Started;
  let base: string;
  let acmeKey: string;
  let globexKey: string;
  let tenantId: string;
  const ids = new Map<string, string>();
  const secrets = new Map<string, string>();
  const clock = new Clock();

  const create = async (login: string, role: 'admin' | 'helpdesk') => {
    const r = await api(base, 'POST', `${T}/admins`, { token: acmeKey, body: { login, password: PASSWORD, role } });
    assert.equal(r.status, 201);
    ids.set(login, str(r.json, 'id'));
    return str(r.json, 'id');
  };
  /** A full API session (enrolled on first use); each sign-in 30 s after the last, so its code is new. */
  const signIn = async (login: string) => {
    clock.advance(30_000);
    const r = await adminApiSession(base, {
      tenant: 'acme',
      login,
      password: PASSWORD,
      secret: secrets.get(login) ?? null,
      at: clock.now(),
    });
    secrets.set(login, r.secret);
    return r;
  };
  /** The code of a sign-in with the right password (and code): refused for a disabled or removed admin. */
  const signInCode = async (login: string) => {
    clock.advance(30_000);
    const secret = secrets.get(login);
    const totp = secret ? { totp: totpCode(secret, clock.now()) } : {};
    const r = await api(base, 'POST', `${T}/admin/sessions`, { body: { login, password: PASSWORD, ...totp } });
    return r.status === 201 ? 'signed_in' : errorCode(r);
  };
  const listed = async (token = acmeKey) => {
    const r = await api(base, 'GET', `${T}/admins`, { token });
    assert.equal(r.status, 200);
    const admins = field(r.json, 'admins');
    assert.ok(Array.isArray(admins));
    return admins.map((a: unknown) => ({
      login: field(a, 'login'),
      role: field(a, 'role'),
      disabled: field(a, 'disabled'),
    }));
  };
  const patch = (login: string, body: unknown, token = acmeKey) =>
    api(base, 'PATCH', `${T}/admins/${ids.get(login) ?? 'adm-0000000000000000'}`, { token, body });
  const remove = (login: string, token = acmeKey) =>
    api(base, 'DELETE', `${T}/admins/${ids.get(login) ?? 'adm-0000000000000000'}`, { token });
  /** Whether an API token still works (GET audit needs only audit.read: admins and the help desk). */
  const apiAlive = async (token: string) => (await api(base, 'GET', `${T}/audit?limit=1`, { token })).status !== 401;
  const records = async (action: string): Promise<unknown[]> => {
    const r = await api(base, 'GET', `${T}/audit?limit=500`, { token: acmeKey });
    const items = field(r.json, 'items');
    assert.ok(Array.isArray(items));
    return items.filter((i: unknown) => field(i, 'action') === action);
  };
  const auditOf = async (action: string) => (await records(action)).map((i) => String(field(i, 'detail')));

  before(async () => {
    s = await startCloud({ deps: { now: clock.now } });
    base = s.cloud.url;
    const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true });
    acmeKey = boot.apiKey ?? '';
    tenantId = boot.tenant?.id ?? '';
    globexKey = (await s.cloud.bootstrap({ tenant: { slug: 'globex' }, apiKey: true })).apiKey ?? '';
    await create('root', 'admin');
    await create('second', 'admin');
    await create('desk', 'helpdesk');
  });
  after(() => s.stop());

  test('the list shows every account by login; the help desk and other tenants are refused; creation is audited', async () => {
    assert.deepEqual(await listed(), [
      { login: 'desk', role: 'helpdesk', disabled: false },
      { login: 'root', role: 'admin', disabled: false },
      { login: 'second', role: 'admin', disabled: false },
    ]);
    const r = await api(base, 'GET', `${T}/admins`, { token: acmeKey });
    assert.equal(field(r.json, 'admins', 0, 'secondFactor'), false);
    assert.ok(!r.text.includes('scrypt'), 'never a hash');
    assert.equal((await api(base, 'GET', `${T}/admins`, { token: s.operatorKey })).status, 200);
    assert.equal(errorCode(await api(base, 'GET', `${T}/admins`, { token: globexKey })), 'not_found');
    const desk = await signIn('desk');
    assert.equal(errorCode(await api(base, 'GET', `${T}/admins`, { token: desk.token })), 'forbidden');
    assert.equal(errorCode(await patch('second', { disabled: true }, desk.token)), 'forbidden');
    assert.equal(errorCode(await remove('second', desk.token)), 'forbidden');
    assert.equal(errorCode(await patch('second', { disabled: true }, globexKey)), 'not_found');
    assert.deepEqual((await auditOf('admin.admin.create')).length, 3);
  });

  test('bad requests: an empty or unknown change, an unknown admin, another tenant’s admin', async () => {
    assert.equal(errorCode(await patch('second', {})), 'invalid_request');
    assert.equal(errorCode(await patch('second', { role: 'owner' })), 'invalid_request');
    assert.equal(errorCode(await patch('second', { disabled: true, extra: 1 })), 'invalid_request');
    assert.equal(errorCode(await patch('nobody', { disabled: true })), 'not_found');
    const foreign = await api(base, 'POST', '/api/v1/tenants/globex/admins', {
      token: globexKey,
      body: { login: 'foreign', password: PASSWORD },
    });
    const foreignId = str(foreign.json, 'id');
    assert.equal(
      errorCode(await api(base, 'PATCH', `${T}/admins/${foreignId}`, { token: acmeKey, body: { disabled: true } })),
      'not_found',
    );
    assert.equal(errorCode(await api(base, 'DELETE', `${T}/admins/${foreignId}`, { token: acmeKey })), 'not_found');
  });

  test("disabling ends the admin's API and page sessions and refuses sign-in; enabling lets them in again", async () => {
    const desk = await signIn('desk');
    const web = await createWebSession(
      s.cloud.store,
      { kind: 'admin', tenantId, subjectId: ids.get('desk') ?? '', subjectLogin: 'desk', data: { stage: 'ok' } },
      clock.now(),
    );
    assert.ok(await apiAlive(desk.token));
    assert.ok(await loadWebSession(s.cloud.store, web.cookie, 'admin', clock.now()));
    const off = await patch('desk', { disabled: true });
    assert.equal(off.status, 200);
    assert.equal(field(off.json, 'disabled'), true);
    assert.equal(typeof field(off.json, 'disabledAt'), 'string');
    assert.equal(await apiAlive(desk.token), false, 'the API token has ended');
    assert.equal(
      await loadWebSession(s.cloud.store, web.cookie, 'admin', clock.now()),
      null,
      'the page session has ended',
    );
    assert.equal(await signInCode('desk'), 'invalid_credentials');
    const on = await patch('desk', { disabled: false });
    assert.equal(field(on.json, 'disabled'), false);
    assert.equal(await signInCode('desk'), 'signed_in');
    assert.deepEqual(await auditOf('admin.admin.disable'), [`admin ${ids.get('desk')} desk`]);
    assert.deepEqual(await auditOf('admin.admin.enable'), [`admin ${ids.get('desk')} desk`]);
  });

  test('demoting ends the sessions; promoting does not; each role change is audited', async () => {
    const desk = await signIn('desk');
    const up = await patch('desk', { role: 'admin' });
    assert.equal(field(up.json, 'role'), 'admin');
    assert.ok(await apiAlive(desk.token), 'a promotion keeps the session');
    assert.equal((await api(base, 'GET', `${T}/admins`, { token: desk.token })).status, 200, 'with the new rights');
    const down = await patch('desk', { role: 'helpdesk' });
    assert.equal(field(down.json, 'role'), 'helpdesk');
    assert.equal(await apiAlive(desk.token), false);
    assert.deepEqual((await auditOf('admin.admin.role')).sort(), [
      `admin ${ids.get('desk')} desk role admin`,
      `admin ${ids.get('desk')} desk role helpdesk`,
    ]);
    // Nothing changed, nothing recorded.
    assert.equal((await patch('desk', { role: 'helpdesk' })).status, 200);
    assert.equal((await auditOf('admin.admin.role')).length, 2);
  });

  test('the last enabled admin cannot be demoted, disabled or removed (409 last_admin); two racing demotions: one wins', async () => {
    // Two admins (root, second); demoting both at once must leave one.
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([patch('root', { role: 'helpdesk' }), patch('second', { role: 'helpdesk' })]);
      assert.deepEqual([a.status, b.status].sort(), [200, 409], `round ${round}`);
      assert.equal(errorCode(a.status === 409 ? a : b), 'last_admin');
      const left = (await listed()).filter((l) => l.role === 'admin' && l.disabled === false);
      assert.equal(left.length, 1);
      const demoted = a.status === 200 ? 'root' : 'second';
      assert.equal((await patch(demoted, { role: 'admin' })).status, 200);
    }
    assert.equal((await patch('second', { disabled: true })).status, 200);
    for (const r of [
      await patch('root', { role: 'helpdesk' }),
      await patch('root', { disabled: true }),
      await patch('root', { role: 'helpdesk', disabled: true }),
      await remove('root'),
    ]) {
      assert.equal(r.status, 409);
      assert.equal(errorCode(r), 'last_admin');
    }
    assert.deepEqual(
      (await listed()).find((l) => l.login === 'root'),
      { login: 'root', role: 'admin', disabled: false },
    );
    // Both parts of one change or neither: enabling second and demoting root in one request is fine.
    assert.equal((await patch('second', { disabled: false })).status, 200);
    assert.equal((await patch('root', { role: 'helpdesk' })).status, 200);
    assert.equal((await patch('root', { role: 'admin' })).status, 200);
  });

  test('removing: sessions end, the account is no longer listed or able to sign in, its login stays taken', async () => {
    const desk = await signIn('desk');
    const r = await remove('desk');
    assert.equal(r.status, 204);
    assert.equal(await apiAlive(desk.token), false);
    assert.ok(!(await listed()).some((l) => l.login === 'desk'));
    assert.equal(await signInCode('desk'), 'invalid_credentials');
    assert.equal(errorCode(await remove('desk')), 'not_found', 'removed once');
    assert.equal(errorCode(await patch('desk', { disabled: false })), 'not_found', 'a removed admin cannot come back');
    const again = await api(base, 'POST', `${T}/admins`, {
      token: acmeKey,
      body: { login: 'desk', password: PASSWORD, role: 'helpdesk' },
    });
    assert.equal(errorCode(again), 'conflict', 'the audit log keeps meaning one person per login');
    assert.deepEqual(await auditOf('admin.admin.remove'), [`admin ${ids.get('desk')} desk`]);
    const [record] = await records('admin.admin.remove');
    assert.equal(field(record, 'actor', 'kind'), 'api_key');
    assert.equal(field(record, 'outcome'), 'succeeded');
  });
});
