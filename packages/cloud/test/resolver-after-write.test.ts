/**
 * Issue 12: after a reset, the cloud's copy of the user recorded "must change" from the request
 * (forceChange) even when the directory said it did not apply it (AD: a password that never
 * expires; `mustChange: false, forceChangeIgnored` in the answer). The copy follows the answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OperationRequest, OperationResult } from '@writeback/protocol';
import { quietLog } from '@writeback/testkit';
import { insertSyncedUser } from '../src/store/directory-users.js';
import { createTenant } from '../src/tenants/tenants.js';
import { findUserByLogin } from '../src/users/directory-users.js';
import { createUserResolver } from '../src/users/resolve.js';
import { describeOnEveryStore } from './helpers.js';

const T0 = 1_900_000_000_000;

describeOnEveryStore('the cloud copy after a reset', (store) => {
  const reset = (forceChange: boolean): OperationRequest => ({
    op: 'password.reset',
    params: { user: { by: 'login', value: 'nina' }, forceChange, unlock: false, enforceHistory: true },
    secret: { newPassword: 'Never-Expires-2030!' },
  });

  async function after(request: OperationRequest, result: OperationResult) {
    const tenantId = (
      await createTenant(store.db, { slug: `t${Math.random().toString(16).slice(2, 10)}`, name: 'T' }, T0)
    ).id;
    await insertSyncedUser(
      store.db,
      tenantId,
      `u-${tenantId.slice(-8)}`,
      `anchor-${tenantId}`,
      {
        login: 'nina',
        upn: null,
        mail: null,
        displayName: null,
        mobile: null,
        dn: 'cn=nina',
        enabled: true,
        locked: false,
        mustChange: false,
        protected: false,
        passwordLastSetAt: null,
        groupsJson: '[]',
      },
      T0,
    );
    const resolver = createUserResolver({
      db: store.db,
      sync: { hasSynced: async () => true, runOnce: async () => undefined },
      now: () => T0 + 1,
      log: quietLog(),
    });
    const user = await findUserByLogin(store.db, tenantId, 'nina');
    assert.ok(user);
    resolver.afterWrite(tenantId, user, request, result);
    await resolver.drain();
    return (await findUserByLogin(store.db, tenantId, 'nina'))?.mustChange;
  }

  test('a forced change the directory did not apply is not recorded as must-change', async () => {
    const ignored: OperationResult = {
      outcome: 'succeeded',
      data: { mustChange: false, forceChangeIgnored: 'password_never_expires' },
    };
    assert.equal(await after(reset(true), ignored), false);
  });

  test('a forced change the directory applied, or one it did not describe, is recorded', async () => {
    assert.equal(await after(reset(true), { outcome: 'succeeded', data: { mustChange: true } }), true);
    assert.equal(await after(reset(true), { outcome: 'succeeded' }), true);
    assert.equal(await after(reset(false), { outcome: 'succeeded' }), false);
  });
});
