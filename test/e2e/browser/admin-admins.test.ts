/**
 * Issue 10 (admin lifecycle), through the pages (HTTP, no browser): the Admins page lists the
 * tenant's admin accounts and lets a tenant admin change a role, disable, enable and remove one;
 * the help desk has no entry in the navigation and gets 403 `forbidden`; a form without the
 * session's CSRF token changes nothing; the last enabled admin is kept (409, data-code
 * `last_admin`); the admin changed loses their page session at once; each change is audited with
 * the acting admin as actor. The API's door: packages/cloud/test/admin-lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '@writeback/cloud';
import { AdminClient, dataCode, HELPDESK_ADMIN, ROOT_ADMIN, startAdminCloud, type AdminCloud } from './admin-client.js';

const ROOT = ROOT_ADMIN;
const SECOND = { login: 'second', password: 'Second-Admin-Pass-2030!' };
const THIRD = { login: 'third', password: 'Third-Admin-Pass-2030!' };
const HELPER = HELPDESK_ADMIN;

describe('the Admins page', () => {
  let started: AdminCloud;
  let cloud: Cloud;
  let ids: Map<string, string>;
  let root: AdminClient;

  before(async () => {
    started = await startAdminCloud([
      [ROOT, 'admin'],
      [SECOND, 'admin'],
      [THIRD, 'admin'],
      [HELPER, 'helpdesk'],
    ]);
    ({ cloud, ids } = started);
    root = new AdminClient(cloud.url);
    assert.equal((await root.signIn('acme', ROOT.login, ROOT.password)).status, 303);
  });
  after(() => started?.close());

  const path = (login: string, action: string) => `/t/acme/admin/admins/${ids.get(login)}/${action}`;
  const audit = async (action: string) =>
    (await cloud.store.query('SELECT actor_kind, actor_id, detail FROM audit WHERE action = ?', [action])).map(
      (r) => `${String(r.actor_kind)}:${String(r.actor_id)} ${String(r.detail)}`,
    );
  /** A new browser of an admin; it knows the key the admin enrolled in an earlier browser. */
  const secrets = new Map<string, string>();
  const browserOf = async (who: { login: string; password: string }) => {
    const c = new AdminClient(cloud.url);
    c.secret = secrets.get(who.login) ?? null;
    const r = await c.signIn('acme', who.login, who.password);
    if (c.secret) secrets.set(who.login, c.secret);
    return { c, status: r.status };
  };
  const signedIn = async (c: AdminClient) => (await c.get('/t/acme/admin/users')).status === 200;

  test('a tenant admin sees every account with its role and state, and the section in the navigation', async () => {
    const page = await root.get('/t/acme/admin/admins');
    assert.equal(page.status, 200);
    assert.ok(page.text.includes('href="/t/acme/admin/admins" aria-current="page"'));
    for (const [login, id] of ids) assert.ok(page.text.includes(`data-admin-id="${id}"`), login);
    assert.match(page.text, /data-role="helpdesk"/);
    assert.ok(!page.text.includes('scrypt'));
  });

  test('the help desk has no Admins entry and gets 403 forbidden, for the page and every action', async () => {
    const { c: helper, status } = await browserOf(HELPER);
    assert.equal(status, 303);
    const users = await helper.get('/t/acme/admin/users');
    assert.ok(!users.text.includes('/admin/admins'), 'no navigation entry');
    const page = await helper.get('/t/acme/admin/admins');
    assert.equal(page.status, 403);
    assert.equal(dataCode(page.text), 'forbidden');
    for (const action of ['disable', 'remove']) {
      const r = await helper.post(path('second', action));
      assert.equal(r.status, 403, action);
      assert.equal(dataCode(r.text), 'forbidden');
    }
    assert.equal((await helper.post(path('helper', 'role'), { role: 'admin' })).status, 403, 'not even for itself');
    assert.equal(
      (await cloud.store.one('SELECT role FROM admins WHERE id = ?', [ids.get('helper') ?? '']))?.role,
      'helpdesk',
    );
  });

  test('a form without the session’s CSRF token is refused and changes nothing', async () => {
    for (const token of ['', 'x'.repeat(43)]) {
      const r = await root.request('POST', path('second', 'disable'), { _csrf: token });
      assert.equal(r.status, 403);
      assert.equal(dataCode(r.text), 'csrf_failed');
    }
    assert.equal(
      (await cloud.store.one('SELECT disabled_at FROM admins WHERE id = ?', [ids.get('second') ?? '']))?.disabled_at,
      null,
    );
  });

  test('disabling signs the admin out at once; enabling lets them in again; both audited with the acting admin', async () => {
    const { c: second, status } = await browserOf(SECOND);
    assert.equal(status, 303);
    assert.ok(await signedIn(second));
    await root.get('/t/acme/admin/admins');
    const off = await root.post(path('second', 'disable'));
    assert.equal(off.status, 303);
    assert.equal(off.location, '/t/acme/admin/admins?done=disabled');
    assert.equal(await signedIn(second), false, 'the page session has ended');
    assert.equal((await browserOf(SECOND)).status, 401, 'and sign-in is refused');
    const listed = await root.get('/t/acme/admin/admins');
    assert.match(listed.text, /data-status="disabled"/);
    assert.equal((await root.post(path('second', 'enable'))).location, '/t/acme/admin/admins?done=enabled');
    assert.equal((await browserOf(SECOND)).status, 303);
    const by = `admin:${ids.get('root')}`;
    assert.deepEqual(await audit('admin.admin.disable'), [`${by} admin ${ids.get('second')} second`]);
    assert.deepEqual(await audit('admin.admin.enable'), [`${by} admin ${ids.get('second')} second`]);
  });

  test('the last enabled admin cannot be made help desk, disabled or removed: 409 last_admin, nothing changed', async () => {
    await root.get('/t/acme/admin/admins');
    for (const other of ['second', 'third'])
      assert.equal(
        (await root.post(path(other, 'role'), { role: 'helpdesk' })).location,
        '/t/acme/admin/admins?done=role',
      );
    for (const [action, form] of [
      ['role', { role: 'helpdesk' }],
      ['disable', {}],
      ['remove', {}],
    ] as const) {
      const r = await root.post(path('root', action), form);
      assert.equal(r.status, 409, action);
      assert.equal(dataCode(r.text), 'last_admin');
    }
    assert.ok(await signedIn(root), 'the refused changes did not end the session');
    const row = await cloud.store.one('SELECT role, disabled_at, removed_at FROM admins WHERE id = ?', [
      ids.get('root') ?? '',
    ]);
    assert.deepEqual({ ...row }, { role: 'admin', disabled_at: null, removed_at: null });
  });

  test('demoting and removing end the sessions; a removed admin is gone from the list; unknown ids are 404', async () => {
    await root.get('/t/acme/admin/admins');
    assert.equal((await root.post(path('third', 'role'), { role: 'admin' })).status, 303);
    const { c: third, status } = await browserOf(THIRD);
    assert.equal(status, 303);
    assert.equal((await third.get('/t/acme/admin/admins')).status, 200, 'a tenant admin now');
    await root.get('/t/acme/admin/admins');
    assert.equal((await root.post(path('third', 'role'), { role: 'helpdesk' })).status, 303);
    assert.equal(await signedIn(third), false, 'a demotion ends the session');
    assert.deepEqual((await audit('admin.admin.role')).length, 4);

    const { c: helper, status: again } = await browserOf(HELPER);
    assert.equal(again, 303);
    await root.get('/t/acme/admin/admins');
    assert.equal((await root.post(path('helper', 'remove'))).location, '/t/acme/admin/admins?done=removed');
    assert.equal(await signedIn(helper), false);
    const page = await root.get('/t/acme/admin/admins');
    assert.ok(!page.text.includes(`data-admin-id="${ids.get('helper')}"`));
    assert.equal((await root.post(path('helper', 'enable'))).status, 404, 'a removed admin cannot come back');
    assert.equal((await root.post('/t/acme/admin/admins/adm-0000000000000000/disable')).status, 404);
    assert.deepEqual(await audit('admin.admin.remove'), [`admin:${ids.get('root')} admin ${ids.get('helper')} helper`]);
  });
});
