/**
 * The OpenLDAP adapter against a real slapd 2.5 with the ppolicy overlay: every outcome the adapter
 * can answer, each proven where it matters with `ldapwhoami` (a tool nobody here wrote) binding
 * with the new and the old password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OutcomeCode, UserRef } from '@writeback/protocol';
import { Client, ResultCodeError } from 'ldapts';
import {
  encodePasswordModifyRequest,
  PASSWORD_MODIFY_OID,
  PasswordPolicyControl,
  type OpenLdapConfig,
  type OpenLdapDirectory,
} from '../src/openldap/index.js';
import { outcomeForWriteResult } from '../src/openldap/write-outcome.js';
import { labPassword, startSlapd, type SlapdUser as LabUser, type SlapdLab } from '@writeback/testkit/lab';
import { captureLog, openLab, type CapturedLog } from './openldap-helpers.js';
import { assertEveryCapability } from './capability-helpers.js';

let lab: SlapdLab;
let dir: OpenLdapDirectory;
let captured: CapturedLog;
const secrets = new Set<string>();

const login = (u: LabUser): UserRef => ({ by: 'login', value: u.uid });
const pw = (): string => {
  const p = labPassword();
  secrets.add(p);
  return p;
};
/**
 * Runs `body` on another directory over the same lab, opened with `over` (another service account
 * or options), the test's log and `now` when given, then closes it.
 */
async function withDirectory(
  over: Partial<OpenLdapConfig>,
  body: (d: OpenLdapDirectory) => Promise<void>,
  now?: () => number,
): Promise<void> {
  const d = await openLab(lab, over, now ? { log: captured.log, now } : { log: captured.log });
  try {
    await body(d);
  } finally {
    await d.close();
  }
}

/** Reset, change (with the right current password) and unlock of `u` all answer `outcome`. */
async function assertWritesAnswer(u: LabUser, outcome: OutcomeCode): Promise<void> {
  assert.equal((await dir.resetPassword(login(u), pw(), noOptions)).outcome, outcome);
  assert.equal((await dir.changePassword(login(u), u.password, pw())).outcome, outcome);
  assert.equal((await dir.unlock(login(u))).outcome, outcome);
}

async function user(opts: Parameters<SlapdLab['addUser']>[0] = {}): Promise<LabUser> {
  const u = await lab.addUser(opts);
  secrets.add(u.password);
  return u;
}
async function anchorOf(u: LabUser): Promise<string> {
  const found = await dir.findUser(login(u));
  assert.ok(found && found !== 'ambiguous');
  return found.anchor;
}
const noOptions = { forceChange: false, unlock: false, enforceHistory: true };

/** GeneralizedTime `ms` ago. */
const ago = (ms: number): string =>
  new Date(Date.now() - ms)
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
/** Pretends the password was set `ms` ago (pwdChangedTime is NO-USER-MODIFICATION: Relax control). */
async function setChangedAgo(u: LabUser, ms: number): Promise<void> {
  await lab.ldapmodify(`dn: ${u.dn}\nchangetype: modify\nreplace: pwdChangedTime\npwdChangedTime: ${ago(ms)}\n`, {
    relax: true,
  });
}

before(async () => {
  lab = await startSlapd({ tls: false });
  captured = captureLog();
  dir = await openLab(lab, {}, { log: captured.log });
  for (const u of Object.values(lab.users)) secrets.add(u.password);
  for (const p of Object.values(lab.passwords)) secrets.add(p);
});

after(async () => {
  await dir?.close();
  await lab?.stop();
  captured.assertNoSecrets(secrets);
});

describe('reset', () => {
  test('succeeded: the new password binds with ldapwhoami, the old one no longer does', async () => {
    const u = await user();
    const next = pw();
    const r = await dir.resetPassword(login(u), next, noOptions);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.historyEnforced, true);
    assert.deepEqual(r.data, { locked: false, mustChange: false });
    assert.equal(await lab.whoami(u.dn, next), 0);
    assert.notEqual(await lab.whoami(u.dn, u.password), 0);
  });

  test('by anchor (entryUUID)', async () => {
    const u = await user();
    const next = pw();
    const r = await dir.resetPassword({ by: 'anchor', value: await anchorOf(u) }, next, noOptions);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(await lab.whoami(u.dn, next), 0);
  });

  test('too_short (write right: slapd checks like for the user) with the effective policy', async () => {
    const u = await user();
    const r = await dir.resetPassword(login(u), 'Ab1!', noOptions);
    assert.equal(r.outcome, 'policy_violation');
    assert.deepEqual(r.reasons, ['too_short']);
    assert.equal(r.policy?.minLength, 8);
    assert.equal(r.policy?.name, lab.defaultPolicyDn);
    assert.equal(await lab.whoami(u.dn, u.password), 0);
  });

  test('an empty new password is refused before anything is sent (slapd would generate one)', async () => {
    const u = await user();
    const r = await dir.resetPassword(login(u), '', noOptions);
    assert.equal(r.outcome, 'policy_violation');
    assert.deepEqual(r.reasons, ['too_short']);
    assert.equal(await lab.whoami(u.dn, u.password), 0);
  });

  test('history: a password in pwdHistory is refused', async () => {
    const u = await user();
    const p1 = pw();
    assert.equal((await dir.resetPassword(login(u), p1, noOptions)).outcome, 'succeeded');
    assert.equal((await dir.resetPassword(login(u), pw(), noOptions)).outcome, 'succeeded');
    const r = await dir.resetPassword(login(u), p1, noOptions);
    assert.equal(r.outcome, 'policy_violation');
    assert.deepEqual(r.reasons, ['history']);
    assert.equal(r.policy?.historyLength, 3);
  });

  test('forceChange sets pwdReset: verifyCredentials then reports mustChange; the user change clears it', async () => {
    const u = await user();
    const temp = pw();
    const r = await dir.resetPassword(login(u), temp, { ...noOptions, forceChange: true });
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.data?.mustChange, true);
    assert.match(await lab.ldapsearch(u.dn, '(objectClass=*)', ['pwdReset']), /pwdReset: TRUE/);
    const v = await dir.verifyCredentials(login(u), temp);
    assert.equal(v.outcome, 'succeeded');
    assert.equal(v.data?.mustChange, true);
    const found = await dir.findUser(login(u));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.mustChange, true);
    assert.equal(found.passwordLastSetAt, null);
    const mine = pw();
    assert.equal((await dir.changePassword(login(u), temp, mine)).outcome, 'succeeded');
    const v2 = await dir.verifyCredentials(login(u), mine);
    assert.equal(v2.outcome, 'succeeded');
    assert.equal(v2.data?.mustChange, false);
  });

  test('unlock flag: a locked account is reset and unlocked', async () => {
    const u = await user();
    for (let i = 0; i < 3; i++) await dir.verifyCredentials(login(u), 'wrong-password');
    assert.equal((await dir.verifyCredentials(login(u), u.password)).outcome, 'account_locked');
    const next = pw();
    const r = await dir.resetPassword(login(u), next, { ...noOptions, unlock: true });
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.data?.locked, false);
    assert.equal(await lab.whoami(u.dn, next), 0);
  });

  test('manage right (policy bypassed): a short password is accepted, historyEnforced false, no stray pwdReset', async () => {
    await withDirectory({ bindDn: lab.pwManagerDn, serviceAccountEnforcesPolicy: false }, async (mgr) => {
      assert.equal(mgr.capabilities.enforcesHistoryOnReset, false);
      const u = await user();
      const short = 'abc';
      const r = await mgr.resetPassword(login(u), short, noOptions);
      assert.equal(r.outcome, 'succeeded');
      assert.equal(r.historyEnforced, false);
      assert.equal(r.data?.mustChange, false);
      assert.doesNotMatch(await lab.ldapsearch(u.dn, '(objectClass=*)', ['pwdReset']), /pwdReset/);
      assert.equal(await lab.whoami(u.dn, short), 0);
    });
  });

  test('access_denied: a service account without write on userPassword', async () => {
    await withDirectory({ bindDn: lab.readerDn }, async (reader) => {
      const u = await user();
      const r = await reader.resetPassword(login(u), pw(), noOptions);
      assert.equal(r.outcome, 'access_denied');
      assert.equal(r.missingRight, 'write on userPassword');
      assert.equal(await lab.whoami(u.dn, u.password), 0);
      const un = await reader.unlock(login(u));
      // Nothing to delete: the lookup sees no lock, so no write is attempted.
      assert.equal(un.outcome, 'succeeded');
    });
  });

  test('access_denied on unlock when the account is locked and the right is missing', async () => {
    await withDirectory({ bindDn: lab.readerDn }, async (reader) => {
      const u = await user();
      for (let i = 0; i < 3; i++) await dir.verifyCredentials(login(u), 'wrong-password');
      const r = await reader.unlock(login(u));
      assert.equal(r.outcome, 'access_denied');
      assert.equal(r.missingRight, 'manage on pwdAccountLockedTime');
    });
  });
});

describe('change', () => {
  test('succeeded: proven with ldapwhoami', async () => {
    const u = await user();
    const next = pw();
    const r = await dir.changePassword(login(u), u.password, next);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(await lab.whoami(u.dn, next), 0);
    assert.notEqual(await lab.whoami(u.dn, u.password), 0);
  });

  test('wrong_current_password, and it counts toward lockout (pwdFailureTime)', async () => {
    const u = await user();
    const r = await dir.changePassword(login(u), 'not-the-password', pw());
    assert.equal(r.outcome, 'wrong_current_password');
    assert.match(await lab.ldapsearch(u.dn, '(objectClass=*)', ['pwdFailureTime']), /pwdFailureTime: /);
    assert.equal(await lab.whoami(u.dn, u.password), 0);
  });

  test('slapd answers a wrong oldPasswd with 53 and no ppolicy control: mapped to wrong_current_password', async () => {
    // Pins the server behaviour the outcome table relies on (a change whose password moved between
    // the user's bind and the exop, or an expired password changed through the service account).
    const u = await user();
    const client = new Client({ url: lab.url });
    await client.bind(lab.pwAdminDn, lab.passwords[lab.pwAdminDn] ?? '');
    const ctl = new PasswordPolicyControl();
    const err = await client
      .exop(
        PASSWORD_MODIFY_OID,
        encodePasswordModifyRequest({ userIdentity: u.dn, oldPassword: 'not-it', newPassword: pw() }),
        [ctl],
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    await client.unbind();
    assert.ok(err instanceof ResultCodeError);
    assert.equal(err.code, 53);
    assert.equal(ctl.response, null);
    assert.deepEqual(outcomeForWriteResult(err.code, ctl.response, 'change').result, {
      outcome: 'wrong_current_password',
    });
    assert.equal(await lab.whoami(u.dn, u.password), 0);
  });

  test('an empty current password is wrong (an empty simple bind would be anonymous)', async () => {
    const u = await user();
    assert.equal((await dir.changePassword(login(u), '', pw())).outcome, 'wrong_current_password');
  });

  test('too_short and history (the previous password)', async () => {
    const u = await user();
    const short = await dir.changePassword(login(u), u.password, 'short');
    assert.equal(short.outcome, 'policy_violation');
    assert.deepEqual(short.reasons, ['too_short']);
    const next = pw();
    assert.equal((await dir.changePassword(login(u), u.password, next)).outcome, 'succeeded');
    const back = await dir.changePassword(login(u), next, u.password);
    assert.equal(back.outcome, 'policy_violation');
    assert.deepEqual(back.reasons, ['history']);
    assert.equal(await lab.whoami(u.dn, next), 0);
  });

  test('min_age under a per-user stricter policy (change, and reset through a write-right account)', async () => {
    const u = await user({ policyDn: lab.strictPolicyDn });
    // Just created: slapd set pwdChangedTime, so the 1 h minimum age already holds.
    const fresh = await dir.changePassword(login(u), u.password, pw());
    assert.equal(fresh.outcome, 'policy_violation');
    assert.deepEqual(fresh.reasons, ['min_age']);
    await setChangedAgo(u, 2 * 3600_000);
    const next = pw();
    assert.equal((await dir.changePassword(login(u), u.password, next)).outcome, 'succeeded');
    const again = await dir.changePassword(login(u), next, pw());
    assert.equal(again.outcome, 'policy_violation');
    assert.deepEqual(again.reasons, ['min_age']);
    assert.equal(again.policy?.name, lab.strictPolicyDn);
    assert.equal(again.policy?.minAgeSeconds, 3600);
    assert.ok(again.policy?.nextChangeAllowedAt);
    const reset = await dir.resetPassword(login(u), pw(), noOptions);
    assert.equal(reset.outcome, 'policy_violation');
    assert.deepEqual(reset.reasons, ['min_age']);
    assert.equal(await lab.whoami(u.dn, next), 0);
  });

  test('stricter policy min length 12', async () => {
    const u = await user({ policyDn: lab.strictPolicyDn });
    await setChangedAgo(u, 2 * 3600_000);
    const r = await dir.changePassword(login(u), u.password, 'Eleven-char');
    assert.equal(r.outcome, 'policy_violation');
    assert.deepEqual(r.reasons, ['too_short']);
    assert.equal(r.policy?.minLength, 12);
  });

  test('an expired password (no grace logins) can still be changed, through the service account', async () => {
    const u = await user({ policyDn: lab.strictPolicyDn });
    await setChangedAgo(u, 100 * 24 * 3600_000);
    const v = await dir.verifyCredentials(login(u), u.password);
    assert.equal(v.outcome, 'succeeded');
    assert.equal(v.data?.expired, true);
    assert.equal((await dir.verifyCredentials(login(u), 'nope-nope-nope')).outcome, 'wrong_current_password');
    assert.equal((await dir.changePassword(login(u), 'nope-nope-nope', pw())).outcome, 'wrong_current_password');
    const next = pw();
    assert.equal((await dir.changePassword(login(u), u.password, next)).outcome, 'succeeded');
    assert.equal(await lab.whoami(u.dn, next), 0);
  });
});

describe('lockout, unlock, disabled, protected', () => {
  test('3 bad binds lock; change and verify answer account_locked; unlock; the password works again', async () => {
    const u = await user();
    for (let i = 0; i < 3; i++)
      assert.equal((await dir.verifyCredentials(login(u), 'bad-password')).outcome, 'wrong_current_password');
    assert.equal((await dir.verifyCredentials(login(u), u.password)).outcome, 'account_locked');
    const locked = await dir.changePassword(login(u), u.password, pw());
    assert.equal(locked.outcome, 'account_locked');
    // Issue 12: the answer says when the lockout ends (null: until an administrator unlocks it).
    const duration = locked.policy?.lockoutDurationSeconds ?? 0;
    if (duration > 0) {
      const until = Date.parse(String(locked.policy?.lockedUntil));
      assert.ok(until > Date.now() && until <= Date.now() + duration * 1000, String(locked.policy?.lockedUntil));
    } else assert.equal(locked.policy?.lockedUntil, null);
    assert.notEqual(await lab.whoami(u.dn, u.password), 0);
    const found = await dir.findUser(login(u));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.locked, true);
    const un = await dir.unlock(login(u));
    assert.equal(un.outcome, 'succeeded');
    assert.deepEqual(un.data, { wasLocked: true });
    assert.equal(await lab.whoami(u.dn, u.password), 0);
    assert.equal((await dir.verifyCredentials(login(u), u.password)).outcome, 'succeeded');
    const again = await dir.unlock(login(u));
    assert.deepEqual(again.data, { wasLocked: false });
    // Issue 12: a reset without unlock says whether the account is still locked, as slapd has it
    // (its ppolicy clears pwdAccountLockedTime when an administrator sets the password).
    for (let i = 0; i < 3; i++) await dir.verifyCredentials(login(u), 'bad-password');
    const fresh = pw();
    const reset = await dir.resetPassword(login(u), fresh, {
      forceChange: false,
      unlock: false,
      enforceHistory: false,
    });
    assert.equal(reset.outcome, 'succeeded');
    const after = await dir.findUser(login(u));
    assert.ok(after && after !== 'ambiguous');
    assert.equal(reset.data?.locked, after.locked);
    assert.equal((await lab.whoami(u.dn, fresh)) === 0, !after.locked);
  });

  test('a lock whose pwdLockoutDuration has passed is not reported (frozen clock)', async () => {
    const u = await user({ policyDn: lab.strictPolicyDn });
    for (let i = 0; i < 5; i++) await dir.verifyCredentials(login(u), 'bad-password');
    await withDirectory(
      {},
      async (later) => {
        const found = await later.findUser(login(u));
        assert.ok(found && found !== 'ambiguous');
        assert.equal(found.locked, false);
        const now = await dir.findUser(login(u));
        assert.ok(now && now !== 'ambiguous');
        assert.equal(now.locked, true);
      },
      () => Date.now() + 901_000,
    );
  });

  test('account_disabled: pwdAccountLockedTime 000001010000Z, for every operation; unlock does not lift it', async () => {
    const u = await user({ extra: ['pwdAccountLockedTime: 000001010000Z'] });
    await assertWritesAnswer(u, 'account_disabled');
    assert.equal((await dir.verifyCredentials(login(u), u.password)).outcome, 'account_disabled');
    const found = await dir.findUser(login(u));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.enabled, false);
    assert.equal(found.locked, false);
    assert.notEqual(await lab.whoami(u.dn, u.password), 0);
  });

  test('protected_account: members of a protected group, unless allowProtected', async () => {
    const dave = lab.users.dave;
    await assertWritesAnswer(dave, 'protected_account');
    assert.equal((await dir.verifyCredentials(login(dave), dave.password)).outcome, 'succeeded');
    const found = await dir.findUser(login(dave));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.protected, true);
    assert.equal(await lab.whoami(dave.dn, dave.password), 0);
    await withDirectory({ allowProtected: true }, async (allowing) => {
      const next = pw();
      assert.equal((await allowing.resetPassword(login(dave), next, noOptions)).outcome, 'succeeded');
      assert.equal(await lab.whoami(dave.dn, next), 0);
    });
  });
});

describe('lookup', () => {
  test('user_not_found by login, by unknown entryUUID, by a non-UUID anchor', async () => {
    assert.equal(
      (await dir.resetPassword({ by: 'login', value: 'nobody-here' }, pw(), noOptions)).outcome,
      'user_not_found',
    );
    assert.equal(
      (await dir.resetPassword({ by: 'anchor', value: '00000000-0000-4000-8000-000000000000' }, pw(), noOptions))
        .outcome,
      'user_not_found',
    );
    assert.equal(
      (await dir.changePassword({ by: 'anchor', value: 'not-a-uuid' }, 'x-current', pw())).outcome,
      'user_not_found',
    );
    assert.equal(await dir.findUser({ by: 'login', value: 'nobody-here' }), null);
  });

  test('ambiguous_user: the same uid in two branches', async () => {
    const uid = `twin${Date.now()}`;
    await user({ uid, ou: 'ou=people' });
    await user({ uid, ou: 'ou=staff' });
    assert.equal((await dir.resetPassword({ by: 'login', value: uid }, pw(), noOptions)).outcome, 'ambiguous_user');
    assert.equal(await dir.findUser({ by: 'login', value: uid }), 'ambiguous');
  });

  test('userFilter narrows the users in scope', async () => {
    await withDirectory({ userFilter: '(objectClass=posixAccount)' }, async (narrow) => {
      assert.equal(await narrow.findUser(login(lab.users.alice)), null);
    });
  });

  test('hostile names match nobody else and break nothing', async () => {
    const hostile = [
      '*',
      'ali*',
      '*)(uid=*',
      '(',
      ')',
      '\\',
      '\\2a',
      '\u0000',
      'alice\u0000',
      'a,b',
      'a=b',
      '+',
      'x'.repeat(256),
      'ünïcødé',
      '#x',
      'alicé',
      'alice2',
    ];
    for (const value of hostile) {
      const ref: UserRef = { by: 'login', value };
      assert.equal(await dir.findUser(ref), null, JSON.stringify(value));
      assert.equal((await dir.resetPassword(ref, pw(), noOptions)).outcome, 'user_not_found', JSON.stringify(value));
      assert.equal((await dir.verifyCredentials(ref, 'whatever-1')).outcome, 'user_not_found');
    }
    assert.equal(await lab.whoami(lab.users.alice.dn, lab.users.alice.password), 0);
    assert.equal(await dir.findUser({ by: 'login', value: 'x'.repeat(257) }), null);
  });

  test("logins match by the attribute's matching rule (case and insignificant spaces), as LDAP does", async () => {
    for (const value of ['ALICE', ' alice ']) {
      const found = await dir.findUser({ by: 'login', value });
      assert.ok(found && found !== 'ambiguous');
      assert.equal(found.dn, lab.users.alice.dn);
    }
  });

  test('a user whose name holds DN and filter metacharacters is found exactly and can be reset', async () => {
    const odd = await user({ uid: "o'brien,+x=1*(ü)\\" });
    const decoy = await user({ uid: "o'brien" });
    const found = await dir.findUser({ by: 'login', value: odd.uid });
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.login, odd.uid);
    const next = pw();
    assert.equal((await dir.resetPassword({ by: 'login', value: odd.uid }, next, noOptions)).outcome, 'succeeded');
    assert.equal(await lab.whoami(odd.dn, next), 0);
    assert.equal(await lab.whoami(decoy.dn, decoy.password), 0);
  });

  test('findUser returns the non-secret attributes', async () => {
    const alice = lab.users.alice;
    const found = await dir.findUser(login(alice));
    assert.ok(found && found !== 'ambiguous');
    assert.match(found.anchor, /^[0-9a-f-]{36}$/);
    assert.equal(found.login, 'alice');
    assert.equal(found.dn, alice.dn);
    assert.equal(found.enabled, true);
    assert.equal(found.protected, false);
    assert.equal(found.displayName, 'alice');
  });
});

describe('policy and verify', () => {
  test('policy.get: the default policy, and a per-user pwdPolicySubentry', async () => {
    const d = await dir.getPolicy();
    assert.equal(d.outcome, 'succeeded');
    assert.deepEqual(d.policy, {
      source: 'ppolicy',
      name: lab.defaultPolicyDn,
      minLength: 8,
      complexity: false,
      historyLength: 3,
      minAgeSeconds: 0,
      maxAgeSeconds: 0,
      lockoutThreshold: 3,
      lockoutDurationSeconds: 0,
    });
    const strict = await user({ policyDn: lab.strictPolicyDn });
    const carol = await dir.getPolicy(login(strict));
    assert.equal(carol.outcome, 'succeeded');
    assert.equal(carol.policy?.name, lab.strictPolicyDn);
    assert.equal(carol.policy?.minLength, 12);
    assert.equal(carol.policy?.historyLength, 5);
    assert.equal(carol.policy?.minAgeSeconds, 3600);
    assert.equal(carol.policy?.maxAgeSeconds, 7776000);
    assert.equal(carol.policy?.lockoutThreshold, 5);
    assert.equal(carol.policy?.lockoutDurationSeconds, 900);
    const set = carol.policy?.passwordLastSetAt;
    assert.ok(set);
    assert.equal(carol.policy?.nextChangeAllowedAt, new Date(Date.parse(set) + 3600_000).toISOString());
    assert.equal(carol.policy?.expiresAt, new Date(Date.parse(set) + 7776000_000).toISOString());
    const bob = await dir.getPolicy(login(lab.users.bob));
    assert.equal(bob.policy?.name, lab.defaultPolicyDn);
    assert.equal((await dir.getPolicy({ by: 'login', value: 'nobody-here' })).outcome, 'user_not_found');
  });

  test('policy.get with an unreadable default policy: access_denied naming the entry', async () => {
    await withDirectory({ defaultPolicyDn: `cn=missing,ou=policies,${lab.baseDn}` }, async (wrong) => {
      const r = await wrong.getPolicy();
      assert.equal(r.outcome, 'access_denied');
      assert.match(r.missingRight ?? '', /cn=missing/);
    });
  });

  test('verifyCredentials: succeeded, wrong_current_password, empty password', async () => {
    const bob = lab.users.bob;
    const ok = await dir.verifyCredentials(login(bob), bob.password);
    assert.equal(ok.outcome, 'succeeded');
    assert.deepEqual(ok.data, { mustChange: false, expired: false });
    assert.equal((await dir.verifyCredentials(login(bob), `${bob.password}x`)).outcome, 'wrong_current_password');
    assert.equal((await dir.verifyCredentials(login(bob), '')).outcome, 'wrong_current_password');
    // Clear bob's failure counter for the other tests (a successful bind does).
    assert.equal((await dir.verifyCredentials(login(bob), bob.password)).outcome, 'succeeded');
  });

  test('health and capabilities', async () => {
    const h = await dir.health();
    assert.equal(h.ok, true);
    assert.equal(h.kind, 'openldap');
    assert.ok(h.latencyMs >= 0);
    assertEveryCapability(dir.capabilities);
  });

  test('operations in parallel share the pool', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => user()));
    const next = users.map(() => pw());
    const rs = await Promise.all(users.map((u, i) => dir.resetPassword(login(u), next[i] ?? '', noOptions)));
    assert.deepEqual(
      rs.map((r) => r.outcome),
      users.map(() => 'succeeded'),
    );
    const codes = await Promise.all(users.map((u, i) => lab.whoami(u.dn, next[i] ?? '')));
    assert.deepEqual(
      codes,
      users.map(() => 0),
    );
  });
});
