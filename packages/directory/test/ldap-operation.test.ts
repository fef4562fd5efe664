/**
 * The write pipeline both LDAP adapters run (src/ldap/operation.ts): the steps in order, the first
 * answer ends the operation, unlock has no password pre-check, and a change's input screen comes
 * before any read. The AD and OpenLDAP drivers against real servers: ad.test.ts, openldap.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OperationResult } from '@writeback/protocol';
import { changeThrough, resetThrough, unlockThrough, verifyThrough, type WriteDriver } from '../src/ldap/operation.js';

function driver(stopAt?: string): { d: WriteDriver<string, string>; steps: string[] } {
  const steps: string[] = [];
  const at = (step: string): OperationResult | null => {
    steps.push(step);
    return step === stopAt ? { outcome: 'account_disabled' } : null;
  };
  const d: WriteDriver<string, string> = {
    run: async (op, _ref, fn) => {
      steps.push(`run:${op}`);
      return fn('conn');
    },
    find: async () => {
      const answer = at('find');
      return answer ? { answer } : { user: 'u' };
    },
    refuse: async (_c, _u, op) => at(`refuse:${op}`),
    precheck: async (_c, _u, _pw, op) => at(`precheck:${op}`),
    reset: async () => at('reset') ?? { outcome: 'succeeded' },
    change: async () => at('change') ?? { outcome: 'succeeded' },
    unlock: async () => at('unlock') ?? { outcome: 'succeeded' },
    verify: async () => at('verify') ?? { outcome: 'succeeded' },
  };
  return { d, steps };
}

const ref = { by: 'login', value: 'alice' } as const;
const options = { forceChange: false, unlock: false, enforceHistory: true };

test('reset and change: find, refuse, pre-check, then the write', async () => {
  const r = driver();
  assert.equal((await resetThrough(r.d, ref, 'pw', options)).outcome, 'succeeded');
  assert.deepEqual(r.steps, ['run:password.reset', 'find', 'refuse:reset', 'precheck:reset', 'reset']);
  const c = driver();
  assert.equal((await changeThrough(c.d, ref, 'old', 'new')).outcome, 'succeeded');
  assert.deepEqual(c.steps, ['run:password.change', 'find', 'refuse:change', 'precheck:change', 'change']);
});

test('unlock and a sign-in check have no password pre-check', async () => {
  const u = driver();
  await unlockThrough(u.d, ref);
  assert.deepEqual(u.steps, ['run:account.unlock', 'find', 'refuse:unlock', 'unlock']);
  const v = driver();
  await verifyThrough(v.d, ref, 'pw', () => null);
  assert.deepEqual(v.steps, ['run:credentials.verify', 'find', 'refuse:verify', 'verify']);
});

test('the first step with an answer ends the operation: nothing after it runs', async () => {
  const refused = driver('refuse:reset');
  assert.equal((await resetThrough(refused.d, ref, 'pw', options)).outcome, 'account_disabled');
  assert.deepEqual(refused.steps, ['run:password.reset', 'find', 'refuse:reset']);
  const prechecked = driver('precheck:change');
  assert.equal((await changeThrough(prechecked.d, ref, 'old', 'new')).outcome, 'account_disabled');
  assert.deepEqual(prechecked.steps.at(-1), 'precheck:change');
  const screened = driver();
  const r = await changeThrough(screened.d, ref, '', 'new', () => ({ outcome: 'wrong_current_password' }));
  assert.equal(r.outcome, 'wrong_current_password');
  assert.deepEqual(screened.steps, ['run:password.change']);
});
