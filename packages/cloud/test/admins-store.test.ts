/**
 * The admin lifecycle in the store (store/admins.ts listTenantAdmins / changeAdmin), on SQLite and
 * PostgreSQL, same test bodies. Issue 10 (admin lifecycle): a tenant never loses its last enabled
 * `admin` — not by a demotion, a disabling or a removal, and not when two changes race: the check
 * and the write are one transaction that takes the tenant's row first.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { changeAdmin, getAdminById, insertAdmin, listTenantAdmins, type Admin } from '../src/store/admins.js';
import { claimAdminTotpStep, putUnconfirmedAdminTotp } from '../src/store/admin-totp.js';
import { createTenant } from '../src/tenants/tenants.js';
import { describeOnEveryStore } from './helpers.js';

const T0 = 1_900_000_000_000;

function newAdmin(tenantId: string, over: Partial<Admin> = {}): Admin {
  const id = `adm-${randomBytes(8).toString('hex')}`;
  return { id, tenantId, login: `admin-${id.slice(-6)}`, role: 'admin', createdAt: T0, ...over };
}

describeOnEveryStore('admin lifecycle in the store', (store) => {
  let n = 0;
  /** A tenant of its own per test, so counts of admins never mix. */
  const freshTenant = async () =>
    (await createTenant(store.db, { slug: `t-${store.engine}-${++n}`, name: 'T' }, T0)).id;
  const add = async (tenantId: string, over: Partial<Admin> = {}) => {
    const a = newAdmin(tenantId, over);
    await insertAdmin(store.db, a, 'scrypt$h');
    return a;
  };

  test('the list holds the tenant’s accounts that are not removed, by login, with their factor state', async () => {
    const tenantId = await freshTenant();
    const other = await freshTenant();
    const b = await add(tenantId, { login: 'bravo', role: 'helpdesk' });
    const a = await add(tenantId, { login: 'alpha' });
    const c = await add(tenantId, { login: 'charlie' });
    await add(other, { login: 'alpha' });
    await putUnconfirmedAdminTotp(store.db, a, 'sealed', T0);
    await putUnconfirmedAdminTotp(store.db, b, 'sealed', T0);
    assert.equal(await claimAdminTotpStep(store.db, a.id, 'sealed', 1, T0), true);
    const listed = await listTenantAdmins(store.db, tenantId);
    assert.deepEqual(
      listed.map((l) => [l.admin.login, l.admin.role, l.disabledAt, l.secondFactor]),
      [
        ['alpha', 'admin', null, true],
        ['bravo', 'helpdesk', null, false],
        ['charlie', 'admin', null, false],
      ],
    );
    assert.deepEqual(await changeAdmin(store.db, tenantId, c.id, { remove: true }, T0 + 1), {
      ok: true,
      before: listed[2],
      after: { ...listed[2], disabledAt: T0 + 1 },
    });
    assert.deepEqual(
      (await listTenantAdmins(store.db, tenantId)).map((l) => l.admin.login),
      ['alpha', 'bravo'],
      'a removed account is not listed',
    );
    // Its row stays (audit records name it), disabled, so sign-in and sessions refuse it.
    assert.equal((await getAdminById(store.db, c.id))?.disabled, true);
  });

  test('role, disabling and enabling change one account; another tenant’s or a removed one is not_found', async () => {
    const tenantId = await freshTenant();
    const other = await freshTenant();
    const a = await add(tenantId);
    const b = await add(tenantId);
    const desk = await add(tenantId, { role: 'helpdesk' });
    const r1 = await changeAdmin(store.db, tenantId, b.id, { role: 'helpdesk' }, T0);
    assert.ok(r1.ok);
    assert.equal(r1.after.admin.role, 'helpdesk');
    assert.equal((await getAdminById(store.db, b.id))?.admin.role, 'helpdesk');
    const r2 = await changeAdmin(store.db, tenantId, desk.id, { disabled: true }, T0 + 5);
    assert.ok(r2.ok);
    assert.equal(r2.after.disabledAt, T0 + 5);
    const again = await changeAdmin(store.db, tenantId, desk.id, { disabled: true }, T0 + 9);
    assert.ok(again.ok);
    assert.equal(again.after.disabledAt, T0 + 5, 'disabling twice keeps the first time');
    const r3 = await changeAdmin(store.db, tenantId, desk.id, { disabled: false }, T0 + 10);
    assert.ok(r3.ok);
    assert.equal(r3.after.disabledAt, null);
    assert.equal((await getAdminById(store.db, desk.id))?.disabled, false);
    assert.deepEqual(await changeAdmin(store.db, other, a.id, { disabled: true }, T0), {
      ok: false,
      reason: 'not_found',
    });
    assert.deepEqual(await changeAdmin(store.db, tenantId, 'adm-0000000000000000', { remove: true }, T0), {
      ok: false,
      reason: 'not_found',
    });
    assert.ok((await changeAdmin(store.db, tenantId, desk.id, { remove: true }, T0)).ok);
    assert.deepEqual(await changeAdmin(store.db, tenantId, desk.id, { disabled: false }, T0), {
      ok: false,
      reason: 'not_found',
    });
  });

  test('the last enabled admin cannot be demoted, disabled or removed; disabled admins and the help desk do not count', async () => {
    const tenantId = await freshTenant();
    const last = await add(tenantId);
    const off = await add(tenantId);
    await add(tenantId, { role: 'helpdesk' });
    assert.ok((await changeAdmin(store.db, tenantId, off.id, { disabled: true }, T0)).ok);
    for (const change of [{ role: 'helpdesk' }, { disabled: true }, { remove: true }] as const)
      assert.deepEqual(
        await changeAdmin(store.db, tenantId, last.id, change, T0),
        { ok: false, reason: 'last_admin' },
        JSON.stringify(change),
      );
    const kept = await getAdminById(store.db, last.id);
    assert.equal(kept?.admin.role, 'admin');
    assert.equal(kept?.disabled, false);
    // Changes that keep it an enabled admin are fine, and so is anything done to the disabled one.
    assert.ok((await changeAdmin(store.db, tenantId, last.id, { role: 'admin' }, T0)).ok);
    assert.ok((await changeAdmin(store.db, tenantId, off.id, { role: 'helpdesk' }, T0)).ok);
    // Once another admin is enabled, the first may go.
    assert.ok((await changeAdmin(store.db, tenantId, off.id, { role: 'admin' }, T0)).ok);
    assert.ok((await changeAdmin(store.db, tenantId, off.id, { disabled: false }, T0)).ok);
    assert.ok((await changeAdmin(store.db, tenantId, last.id, { remove: true }, T0)).ok);
    assert.deepEqual(await changeAdmin(store.db, tenantId, off.id, { role: 'helpdesk' }, T0), {
      ok: false,
      reason: 'last_admin',
    });
  });

  test('two concurrent changes of the last two admins: exactly one succeeds (20 rounds, every kind of change)', async () => {
    const changes = [{ role: 'helpdesk' }, { disabled: true }, { remove: true }] as const;
    for (let round = 0; round < 20; round++) {
      const tenantId = await freshTenant();
      const a = await add(tenantId);
      const b = await add(tenantId);
      const results = await Promise.all([
        changeAdmin(store.db, tenantId, a.id, changes[round % 3] ?? { disabled: true }, T0),
        changeAdmin(store.db, tenantId, b.id, changes[(round + 1) % 3] ?? { disabled: true }, T0),
      ]);
      assert.equal(results.filter((r) => r.ok).length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.deepEqual(
        results.find((r) => !r.ok),
        { ok: false, reason: 'last_admin' },
      );
      const left = (await listTenantAdmins(store.db, tenantId)).filter(
        (l) => l.admin.role === 'admin' && !l.disabledAt,
      );
      assert.equal(left.length, 1, `round ${round}: one enabled admin is left`);
    }
  });
});
