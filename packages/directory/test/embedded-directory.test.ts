/**
 * The embedded directory's outcomes, as the agent sees them through the Directory interface: every
 * outcome code and policy reason, AD's ordering of checks, lockout, must-change, protected and
 * disabled accounts, fine-grained policies, hostile look-ups, and writes racing on one user.
 * Real files in a temp folder, a frozen clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EffectivePolicySchema, OperationResultSchema, type OperationResult } from '@writeback/protocol';
import { DirectoryError, type EmbeddedDirectory } from '../src/index.js';
import { byAnchor, byLogin, DAY, fixture, MIN, RESET } from './embedded-helpers.js';
import { assertEveryCapability } from './capability-helpers.js';

const PW1 = 'Correct-Horse-1';
const PW2 = 'Battery!Staple2';
const PW3 = 'Purple#Monkey33';

/** Every result must be a valid protocol result; return it for further checks. */
function ok(r: OperationResult): OperationResult {
  OperationResultSchema.parse(r);
  return r;
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof DirectoryError && err.code === code);
}

async function withAlice(t: Parameters<typeof fixture>[0], extra: Parameters<typeof fixture>[1] = {}) {
  const f = await fixture(t, extra);
  const alice = await f.dir.createUser({
    login: 'asmith',
    displayName: 'Alice Smith',
    upn: 'alice@corp.example',
    mail: 'alice@corp.example',
    password: PW1,
  });
  return Object.assign(f, { alice });
}

describe('embedded directory: reset', () => {
  it('succeeds, sets the password, says history was enforced and whether it is still locked', async (t) => {
    const { dir, alice, clock } = await withAlice(t);
    clock.advance(MIN);
    const r = ok(await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET));
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.historyEnforced, true);
    assert.deepEqual(r.data, { locked: false, mustChange: false });
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW2)).outcome, 'succeeded');
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'wrong_current_password');
    const u = await dir.findUser(byAnchor(alice.anchor));
    assert.ok(u && u !== 'ambiguous');
    assert.equal(u.passwordLastSetAt, new Date(clock.t).toISOString());
  });

  it('ignores the minimum age (an admin reset), unlike a change', async (t) => {
    const { dir, alice } = await withAlice(t);
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET)).outcome, 'succeeded');
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW3, RESET)).outcome, 'succeeded');
  });

  it('policy_violation with every failing reason and the effective policy', async (t) => {
    const { dir, alice } = await withAlice(t);
    const r = ok(await dir.resetPassword(byAnchor(alice.anchor), 'smith', RESET));
    assert.equal(r.outcome, 'policy_violation');
    assert.deepEqual(r.reasons, ['too_short', 'complexity', 'contains_user_name']);
    assert.equal(r.historyEnforced, true);
    assert.ok(r.policy);
    assert.equal(r.policy.minLength, 8);
    assert.equal(r.policy.complexity, true);
    const long = ok(await dir.resetPassword(byAnchor(alice.anchor), `Aa1!${'x'.repeat(253)}`, RESET));
    assert.deepEqual(long.reasons, ['too_long']);
  });

  it('history applies when enforceHistory, not otherwise; the current password counts', async (t) => {
    const { dir, alice } = await withAlice(t);
    const same = ok(await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET));
    assert.equal(same.outcome, 'policy_violation');
    assert.deepEqual(same.reasons, ['history']);
    assert.equal(same.historyEnforced, true);
    await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET);
    assert.deepEqual(
      (await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET)).reasons,
      ['history'],
      'an older password is remembered',
    );
    const loose = ok(await dir.resetPassword(byAnchor(alice.anchor), PW1, { ...RESET, enforceHistory: false }));
    assert.equal(loose.outcome, 'succeeded');
    assert.equal(loose.historyEnforced, undefined);
    // A history violation together with other reasons: all of them.
    await dir.setDefaultPolicy({ minLength: 20 });
    assert.deepEqual((await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET)).reasons, ['too_short', 'history']);
  });

  it('history remembers historyLength passwords, the current one included', async (t) => {
    const { dir, alice } = await withAlice(t);
    await dir.setDefaultPolicy({ historyLength: 2 });
    await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET); // remembers PW2, PW1
    assert.deepEqual((await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET)).reasons, ['history']);
    await dir.resetPassword(byAnchor(alice.anchor), PW3, RESET); // remembers PW3, PW2
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET)).outcome, 'succeeded');
    await dir.setDefaultPolicy({ historyLength: 0 });
    assert.equal(
      (await dir.resetPassword(byAnchor(alice.anchor), PW1, RESET)).outcome,
      'succeeded',
      'no history: the same password is fine',
    );
  });

  it('forceChange sets must-change (passwordLastSetAt null); the next change clears it', async (t) => {
    const { dir, alice } = await withAlice(t);
    const r = ok(await dir.resetPassword(byAnchor(alice.anchor), PW2, { ...RESET, forceChange: true }));
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.data?.mustChange, true);
    let u = dir.getUser(alice.anchor);
    assert.equal(u?.mustChange, true);
    assert.equal(u?.passwordLastSetAt, null);
    const v = ok(await dir.verifyCredentials(byLogin('asmith'), PW2));
    assert.deepEqual(v.data, { mustChange: true, expired: false });
    // Must-change lifts the minimum age: the user can change at once.
    assert.equal((await dir.changePassword(byLogin('asmith'), PW2, PW3)).outcome, 'succeeded');
    u = dir.getUser(alice.anchor);
    assert.equal(u?.mustChange, false);
    assert.notEqual(u?.passwordLastSetAt, null);
  });

  it('reset without unlock leaves a locked account locked; with unlock clears it', async (t) => {
    const { dir, alice } = await withAlice(t);
    for (let i = 0; i < 5; i++) await dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1');
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'account_locked');
    const r = ok(await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET));
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.data?.locked, true);
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW2)).outcome, 'account_locked');
    const r2 = ok(await dir.resetPassword(byAnchor(alice.anchor), PW3, { ...RESET, unlock: true }));
    assert.equal(r2.data?.locked, false);
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW3)).outcome, 'succeeded');
  });

  it('user_not_found, account_disabled, protected_account', async (t) => {
    const { dir, alice } = await withAlice(t);
    assert.equal((await dir.resetPassword(byLogin('nobody'), PW2, RESET)).outcome, 'user_not_found');
    await dir.updateUser(alice.anchor, { enabled: false });
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET)).outcome, 'account_disabled');
    await dir.updateUser(alice.anchor, { enabled: true, protected: true });
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET)).outcome, 'protected_account');
    // Protected comes before disabled, as it does for an AD adminCount account.
    await dir.updateUser(alice.anchor, { enabled: false });
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET)).outcome, 'protected_account');
  });

  it('allowProtected lets resets, changes and unlocks of protected accounts through', async (t) => {
    const f = await withAlice(t, { allowProtected: true });
    await f.dir.updateUser('asmith', { protected: true });
    assert.equal((await f.dir.resetPassword(byLogin('asmith'), PW2, RESET)).outcome, 'succeeded');
    f.clock.advance(DAY);
    assert.equal((await f.dir.changePassword(byLogin('asmith'), PW2, PW3)).outcome, 'succeeded');
    assert.equal((await f.dir.unlock(byLogin('asmith'))).outcome, 'succeeded');
  });
});

describe('embedded directory: change', () => {
  it('succeeds once the minimum age has passed; min_age before, with nextChangeAllowedAt', async (t) => {
    const { dir, clock } = await withAlice(t);
    const early = ok(await dir.changePassword(byLogin('asmith'), PW1, PW2));
    assert.equal(early.outcome, 'policy_violation');
    assert.deepEqual(early.reasons, ['min_age']);
    assert.equal(early.policy?.nextChangeAllowedAt, new Date(clock.t + DAY).toISOString());
    clock.advance(DAY - 1);
    assert.deepEqual((await dir.changePassword(byLogin('asmith'), PW1, PW2)).reasons, ['min_age']);
    clock.advance(1);
    assert.equal(ok(await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'succeeded');
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW2)).outcome, 'succeeded');
  });

  it('history on change: the current and earlier passwords are refused', async (t) => {
    const { dir, clock } = await withAlice(t);
    clock.advance(DAY);
    assert.deepEqual((await dir.changePassword(byLogin('asmith'), PW1, PW1)).reasons, ['history']);
    await dir.changePassword(byLogin('asmith'), PW1, PW2);
    clock.advance(DAY);
    assert.deepEqual((await dir.changePassword(byLogin('asmith'), PW2, PW1)).reasons, ['history']);
  });

  it('all reasons at once: length, complexity, name, history, minimum age', async (t) => {
    const { dir } = await withAlice(t);
    const r = ok(await dir.changePassword(byLogin('asmith'), PW1, 'smith'));
    assert.deepEqual(r.reasons, ['too_short', 'complexity', 'min_age', 'contains_user_name']);
    const h = ok(await dir.changePassword(byLogin('asmith'), PW1, PW1));
    assert.deepEqual(h.reasons, ['history', 'min_age']);
    EffectivePolicySchema.parse(h.policy);
  });

  it('wrong_current_password counts toward lockout; locked answers account_locked, then expires', async (t) => {
    const { dir, clock } = await withAlice(t);
    clock.advance(DAY);
    for (let i = 0; i < 4; i++) {
      const r = ok(await dir.changePassword(byLogin('asmith'), 'Not-The-One-1', PW2));
      assert.equal(r.outcome, 'wrong_current_password');
      assert.equal(r.data?.locked, false);
    }
    const fifth = ok(await dir.changePassword(byLogin('asmith'), 'Not-The-One-1', PW2));
    assert.equal(fifth.outcome, 'wrong_current_password');
    assert.equal(fifth.data?.locked, true);
    assert.equal(dir.getUser('asmith')?.locked, true);
    // Locked: even the right password is refused, before it is checked.
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'account_locked');
    clock.advance(15 * MIN - 1);
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'account_locked');
    clock.advance(1);
    assert.equal(dir.getUser('asmith')?.locked, false);
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'succeeded');
  });

  it('a success resets the bad-attempt counter', async (t) => {
    const { dir, clock } = await withAlice(t);
    clock.advance(DAY);
    for (let i = 0; i < 4; i++) await dir.changePassword(byLogin('asmith'), 'Not-The-One-1', PW2);
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'succeeded');
    clock.advance(DAY);
    for (let i = 0; i < 4; i++) await dir.changePassword(byLogin('asmith'), 'Not-The-One-1', PW3);
    assert.equal(dir.getUser('asmith')?.locked, false, 'four more bad attempts do not lock');
  });

  it('protected, disabled and unknown users; a user without a password', async (t) => {
    const { dir, alice, clock } = await withAlice(t);
    clock.advance(DAY);
    assert.equal((await dir.changePassword(byLogin('ghost'), PW1, PW2)).outcome, 'user_not_found');
    await dir.updateUser(alice.anchor, { enabled: false });
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'account_disabled');
    await dir.updateUser(alice.anchor, { enabled: true, protected: true });
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'protected_account');
    await dir.createUser({ login: 'nopass' });
    assert.equal((await dir.changePassword(byLogin('nopass'), '', PW2)).outcome, 'wrong_current_password');
  });
});

describe('embedded directory: unlock, verify, policy', () => {
  it('unlock clears a lockout (and succeeds on an unlocked account)', async (t) => {
    const { dir, alice } = await withAlice(t);
    const idle = ok(await dir.unlock(byAnchor(alice.anchor)));
    assert.equal(idle.outcome, 'succeeded');
    assert.equal(idle.data?.wasLocked, false);
    for (let i = 0; i < 5; i++) await dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1');
    const r = ok(await dir.unlock(byAnchor(alice.anchor)));
    assert.equal(r.data?.wasLocked, true);
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'succeeded');
  });

  it('unlock: protected_account, account_disabled, user_not_found', async (t) => {
    const { dir, alice } = await withAlice(t);
    assert.equal((await dir.unlock(byAnchor('00000000-0000-0000-0000-000000000000'))).outcome, 'user_not_found');
    await dir.updateUser(alice.anchor, { enabled: false });
    assert.equal((await dir.unlock(byAnchor(alice.anchor))).outcome, 'account_disabled');
    await dir.updateUser(alice.anchor, { protected: true });
    assert.equal((await dir.unlock(byAnchor(alice.anchor))).outcome, 'protected_account');
  });

  it('lockout with duration 0 lasts until an unlock', async (t) => {
    const { dir, clock } = await withAlice(t);
    await dir.setDefaultPolicy({ lockoutThreshold: 2, lockoutDurationSeconds: 0 });
    await dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1');
    await dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1');
    clock.advance(365 * DAY);
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'account_locked');
    await dir.unlock(byLogin('asmith'));
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'succeeded');
  });

  it('lockoutThreshold 0 never locks', async (t) => {
    const { dir } = await withAlice(t);
    await dir.setDefaultPolicy({ lockoutThreshold: 0 });
    for (let i = 0; i < 20; i++) await dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1');
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'succeeded');
  });

  it('verify: succeeded with mustChange/expired, wrong, locked, disabled; protected may sign in', async (t) => {
    const { dir, alice, clock } = await withAlice(t);
    assert.deepEqual(ok(await dir.verifyCredentials(byLogin('asmith'), PW1)).data, {
      mustChange: false,
      expired: false,
    });
    clock.advance(42 * DAY);
    assert.deepEqual(ok(await dir.verifyCredentials(byLogin('asmith'), PW1)).data, {
      mustChange: false,
      expired: true,
    });
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), 'nope')).outcome, 'wrong_current_password');
    assert.equal((await dir.verifyCredentials(byLogin('nobody'), PW1)).outcome, 'user_not_found');
    await dir.updateUser(alice.anchor, { protected: true });
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'succeeded');
    await dir.updateUser(alice.anchor, { enabled: false });
    assert.equal((await dir.verifyCredentials(byLogin('asmith'), PW1)).outcome, 'account_disabled');
  });

  it('a change is still allowed on an expired password', async (t) => {
    const { dir, clock } = await withAlice(t);
    clock.advance(50 * DAY);
    assert.equal((await dir.changePassword(byLogin('asmith'), PW1, PW2)).outcome, 'succeeded');
  });

  it("getPolicy: default without a user, the user's times with one, user_not_found", async (t) => {
    const { dir, alice, clock } = await withAlice(t);
    const d = ok(await dir.getPolicy());
    assert.equal(d.policy?.source, 'embedded');
    assert.equal(d.policy?.passwordLastSetAt, undefined);
    const u = ok(await dir.getPolicy(byAnchor(alice.anchor)));
    assert.equal(u.policy?.passwordLastSetAt, new Date(clock.t).toISOString());
    assert.equal(u.policy?.nextChangeAllowedAt, new Date(clock.t + DAY).toISOString());
    assert.equal(u.policy?.expiresAt, new Date(clock.t + 42 * DAY).toISOString());
    clock.advance(DAY);
    assert.equal(ok(await dir.getPolicy(byAnchor(alice.anchor))).policy?.nextChangeAllowedAt, null);
    assert.equal((await dir.getPolicy(byLogin('nobody'))).outcome, 'user_not_found');
  });

  it('config.policy sets default-policy fields at open', async (t) => {
    const f = await fixture(t, { policy: { minLength: 12, historyLength: 5 } });
    const p = (await f.dir.getPolicy()).policy;
    assert.equal(p?.minLength, 12);
    assert.equal(p?.historyLength, 5);
    assert.equal(p?.lockoutThreshold, 5);
    await f.dir.setDefaultPolicy({ lockoutThreshold: 9, minLength: 10 });
    await f.reopen();
    const q = (await f.dir.getPolicy()).policy;
    assert.equal(q?.minLength, 12, 'the configured field wins at open');
    assert.equal(q?.lockoutThreshold, 9, 'a field the config does not name keeps the stored value');
  });
});

describe('embedded directory: fine-grained policies', () => {
  it('an assigned policy overrides the default; removing it falls back', async (t) => {
    const { dir, alice } = await withAlice(t);
    await dir.createUser({ login: 'bob', password: PW1 });
    const resolved = await dir.definePolicy('Admins PSO', { minLength: 16, historyLength: 1 });
    assert.equal(resolved.minLength, 16);
    assert.equal(resolved.complexity, true, 'unset fields come from the default');
    await dir.updateUser(alice.anchor, { policyName: 'Admins PSO' });
    const p = ok(await dir.getPolicy(byAnchor(alice.anchor))).policy;
    assert.equal(p?.source, 'fine_grained');
    assert.equal(p?.name, 'Admins PSO');
    assert.equal(p?.minLength, 16);
    const r = ok(await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET));
    assert.deepEqual(r.reasons, ['too_short']);
    assert.equal(r.policy?.name, 'Admins PSO');
    assert.equal((await dir.resetPassword(byLogin('bob'), PW2, RESET)).outcome, 'succeeded', 'bob keeps the default');
    await dir.removePolicy('Admins PSO');
    assert.equal(dir.getUser(alice.anchor)?.policyName, null);
    assert.equal(ok(await dir.getPolicy(byAnchor(alice.anchor))).policy?.source, 'embedded');
    assert.equal((await dir.resetPassword(byAnchor(alice.anchor), PW2, RESET)).outcome, 'succeeded');
  });

  it('an unknown or malformed policy is refused', async (t) => {
    const { dir } = await withAlice(t);
    await rejects(dir.updateUser('asmith', { policyName: 'nope' }), 'not_found');
    await rejects(dir.createUser({ login: 'carol', policyName: 'nope' }), 'not_found');
    await rejects(dir.removePolicy('nope'), 'not_found');
    await rejects(dir.definePolicy('bad*name', {}), 'invalid_input');
    await rejects(dir.definePolicy('p', { minLength: -1 }), 'invalid_input');
    await rejects(dir.setDefaultPolicy({ minLength: 300 }), 'invalid_input');
    await rejects(dir.setDefaultPolicy({ minLength: 20, maxLength: 10 }), 'invalid_input');
    assert.deepEqual(dir.listPolicies().policies, {});
  });
});

describe('embedded directory: finding users', () => {
  it('login is case-insensitive; the UPN finds the user too; anchors are exact', async (t) => {
    const { dir, alice } = await withAlice(t);
    for (const ref of [
      byLogin('asmith'),
      byLogin('ASMITH'),
      byLogin('alice@corp.example'),
      byLogin('ALICE@Corp.Example'),
      byAnchor(alice.anchor),
    ]) {
      const u = await dir.findUser(ref);
      assert.ok(u && u !== 'ambiguous', JSON.stringify(ref));
      assert.equal(u.anchor, alice.anchor);
    }
    assert.equal(await dir.findUser(byAnchor(alice.anchor.toUpperCase())), null);
  });

  it('hostile input matches nobody: no wildcards, no escapes, no Unicode look-alikes', async (t) => {
    const { dir, alice } = await withAlice(t);
    const hostile = [
      '*',
      'asm*',
      '*smith',
      'a*h',
      '(asmith)',
      'asmith)(uid=*',
      '*)(objectClass=*',
      'asmith\\',
      '\\2a',
      'asmith\u0000',
      '\u0000',
      ' asmith',
      'asmith ',
      'x'.repeat(10_000),
      'ａｓｍｉｔｈ', // fullwidth
      'asmıth', // dotless i
      'asmith\u200B', // zero-width space
      '%',
      '.*',
      '__proto__',
      'constructor',
      'alice@*',
      '*@corp.example',
    ];
    for (const value of hostile) {
      for (const by of ['login', 'anchor'] as const) {
        const ref = { by, value };
        assert.equal(await dir.findUser(ref), null, `${by}:${JSON.stringify(value.slice(0, 40))}`);
        assert.equal((await dir.resetPassword(ref, PW2, RESET)).outcome, 'user_not_found');
        assert.equal((await dir.verifyCredentials(ref, PW1)).outcome, 'user_not_found');
      }
    }
    assert.equal(await dir.findUser({ by: 'anchor', value: alice.anchor.slice(0, -1) }), null);
  });

  it('the Kelvin sign does not case-fold into a login', async (t) => {
    const f = await fixture(t);
    await f.dir.createUser({ login: 'kate', password: PW1 });
    assert.equal('\u212Aate'.toLowerCase(), 'kate', 'JavaScript folds it...');
    assert.equal(await f.dir.findUser(byLogin('\u212Aate')), null, '...the directory does not');
    assert.ok(await f.dir.findUser(byLogin('KATE')));
  });
});

describe('embedded directory: administration', () => {
  it('createUser validates and keeps names unique (login and UPN, case-insensitive)', async (t) => {
    const { dir } = await withAlice(t);
    await rejects(dir.createUser({ login: 'ASMITH' }), 'user_exists');
    await rejects(dir.createUser({ login: 'other', upn: 'Alice@corp.example' }), 'user_exists');
    await rejects(dir.createUser({ login: 'bad*login' }), 'invalid_input');
    await rejects(dir.createUser({ login: 'has@sign' }), 'invalid_input');
    await rejects(dir.createUser({ login: '' }), 'invalid_input');
    await rejects(dir.createUser({ login: 'ok', upn: 'no-at-sign' }), 'invalid_input');
    await rejects(dir.createUser({ login: 'weak', password: 'weak' }), 'invalid_input');
    assert.equal(dir.userCount, 1);
  });

  it('two concurrent creations of one login: one wins', async (t) => {
    const f = await fixture(t);
    const results = await Promise.allSettled([
      f.dir.createUser({ login: 'twin', password: PW1 }),
      f.dir.createUser({ login: 'TWIN', password: PW2 }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal(f.dir.userCount, 1);
  });

  it('updateUser renames; the anchor stays; deleteUser removes', async (t) => {
    const { dir, alice } = await withAlice(t);
    const renamed = await dir.updateUser('asmith', { login: 'alice.smith', displayName: null, upn: null });
    assert.equal(renamed.anchor, alice.anchor);
    assert.equal(renamed.displayName, undefined);
    assert.equal(await dir.findUser(byLogin('asmith')), null);
    assert.equal(await dir.findUser(byLogin('alice@corp.example')), null);
    assert.ok(await dir.findUser(byLogin('Alice.Smith')));
    await dir.createUser({ login: 'bob' });
    await rejects(dir.updateUser('bob', { login: 'alice.smith' }), 'user_exists');
    await dir.deleteUser(alice.anchor);
    assert.equal(await dir.findUser(byAnchor(alice.anchor)), null);
    await rejects(dir.deleteUser(alice.anchor), 'not_found');
    assert.deepEqual(
      dir.listUsers().map((u) => u.login),
      ['bob'],
    );
  });

  it('changesSince pages through users and deletions, one entry per user', async (t) => {
    const f = await fixture(t);
    const a = await f.dir.createUser({ login: 'a1' });
    const b = await f.dir.createUser({ login: 'b1' });
    const c = await f.dir.createUser({ login: 'c1' });
    await f.dir.updateUser('a1', { displayName: 'Ann One' });
    await f.dir.deleteUser('b1');
    const all = f.dir.changesSince(0);
    assert.deepEqual(
      all.changes.map((ch) => [ch.type, ch.type === 'user' ? ch.user.anchor : ch.anchor]),
      [
        ['user', c.anchor],
        ['user', a.anchor],
        ['user_deleted', b.anchor],
      ],
    );
    assert.equal(all.more, false);
    assert.equal(all.cursor, f.dir.seq);
    const p1 = f.dir.changesSince(0, 2);
    assert.equal(p1.more, true);
    const p2 = f.dir.changesSince(p1.cursor, 2);
    assert.equal(p2.more, false);
    assert.deepEqual([...p1.changes, ...p2.changes], all.changes);
    assert.deepEqual(f.dir.changesSince(all.cursor).changes, []);
    // A password reset is a change too (for sync), and none of it carries a secret.
    await f.dir.resetPassword(byAnchor(c.anchor), PW1, RESET);
    const later = f.dir.changesSince(all.cursor);
    assert.equal(later.changes.length, 1);
    assert.doesNotMatch(JSON.stringify(later), /scrypt|history|Hash/);
    await rejects(
      Promise.resolve().then(() => f.dir.changesSince(-1)),
      'invalid_input',
    );
  });
});

describe('embedded directory: concurrency', () => {
  it('concurrent resets of one user are serialised: none is lost from history', async (t) => {
    const { dir, alice } = await withAlice(t);
    const pws = Array.from({ length: 8 }, (_, i) => `Parallel-${i}-Pw!`);
    const results = await Promise.all(pws.map((pw) => dir.resetPassword(byAnchor(alice.anchor), pw, RESET)));
    assert.deepEqual(
      results.map((r) => r.outcome),
      pws.map(() => 'succeeded'),
    );
    for (const pw of pws)
      assert.deepEqual((await dir.resetPassword(byAnchor(alice.anchor), pw, RESET)).reasons, ['history'], pw);
    assert.equal((await dir.verifyCredentials(byAnchor(alice.anchor), pws[pws.length - 1] ?? '')).outcome, 'succeeded');
  });

  it('two concurrent changes from the same current password: exactly one succeeds', async (t) => {
    const { dir, clock } = await withAlice(t);
    clock.advance(DAY);
    const [a, b] = await Promise.all([
      dir.changePassword(byLogin('asmith'), PW1, PW2),
      dir.changePassword(byLogin('asmith'), PW1, PW3),
    ]);
    assert.deepEqual([a.outcome, b.outcome].sort(), ['succeeded', 'wrong_current_password']);
  });

  it('concurrent bad attempts are all counted', async (t) => {
    const { dir } = await withAlice(t);
    await Promise.all(Array.from({ length: 5 }, () => dir.verifyCredentials(byLogin('asmith'), 'Wrong-Pass-1')));
    assert.equal(dir.getUser('asmith')?.locked, true);
  });

  it('close waits for operations in flight; afterwards calls throw closed', async (t) => {
    const f = await withAlice(t);
    const pending = f.dir.resetPassword(byLogin('asmith'), PW2, RESET);
    await f.dir.close();
    assert.equal((await pending).outcome, 'succeeded');
    await rejects(f.dir.resetPassword(byLogin('asmith'), PW3, RESET), 'closed');
    assert.equal((await f.dir.health()).ok, false);
    await f.reopen();
    assert.equal((await f.dir.verifyCredentials(byLogin('asmith'), PW2)).outcome, 'succeeded');
  });
});

describe('embedded directory: secrets', () => {
  it('no password reaches a log line, a result, the store files or changesSince', async (t) => {
    const f = await withAlice(t, { compactAfterBytes: 1 });
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir: EmbeddedDirectory = f.dir;
    const results = [
      await dir.resetPassword(byLogin('asmith'), PW2, RESET),
      await dir.resetPassword(byLogin('asmith'), 'Qz9', RESET),
      await dir.changePassword(byLogin('asmith'), 'Wrong-Pass-9', PW3),
      await dir.verifyCredentials(byLogin('asmith'), PW2),
    ];
    await dir.compact();
    const store =
      (await readFile(join(f.path, 'snapshot.json'), 'utf8')) + (await readFile(join(f.path, 'journal.jsonl'), 'utf8'));
    const everything = [
      JSON.stringify(results),
      JSON.stringify(dir.changesSince(0)),
      JSON.stringify(dir.listUsers()),
      store,
      ...f.logs.lines,
    ].join('\n');
    for (const pw of [PW1, PW2, PW3, 'Wrong-Pass-9', 'Qz9'])
      assert.equal(everything.includes(pw), false, 'a password leaked');
    f.logs.assertNoSecret(PW1, PW2, PW3);
  });

  it('capabilities and health', async (t) => {
    const f = await fixture(t);
    assert.equal(f.dir.kind, 'embedded');
    assertEveryCapability(f.dir.capabilities);
    const h = await f.dir.health();
    assert.equal(h.ok, true);
    assert.equal(h.kind, 'embedded');
  });
});
