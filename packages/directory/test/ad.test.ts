/**
 * The AD adapter against a real Samba 4.17 AD DC (@writeback/testkit/lab): every outcome an operation
 * can have, checked on the DC's own terms and, for successful writes, proven with tools nobody
 * here wrote (MIT `kinit` against the DC's KDC, OpenLDAP `ldapsearch` binds).
 *
 * One DC for the whole file; each test makes its own users, so order does not matter, except for
 * the few tests that change the domain policy and put it back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { createLogger, type OperationResult, type UserRef } from '@writeback/protocol';
import { openAdDirectory, type AdDirectory } from '@writeback/directory';
import { sambaServiceConfig, startSambaDc, type SambaUser as LabUser, type SambaDc } from '@writeback/testkit/lab';

let dc: SambaDc;
let dir: AdDirectory;
const logLines: string[] = [];
const secretsUsed = new Set<string>();
let seq = 0;

const reset = { forceChange: false, unlock: false, enforceHistory: true };

/** A fresh user with a unique login; its passwords are remembered for the no-leak check. */
async function user(opts: { displayName?: string; uac?: number; upn?: string; login?: string } = {}): Promise<LabUser> {
  seq++;
  const login = opts.login ?? `u${process.pid % 1000}x${seq}`;
  const password = `Init-Pass-${seq}!`;
  secretsUsed.add(password);
  return dc.createUser({
    login,
    password,
    ...(opts.displayName ? { displayName: opts.displayName } : {}),
    ...(opts.upn ? { upn: opts.upn } : {}),
    ...(opts.uac !== undefined ? { userAccountControl: opts.uac } : {}),
  });
}

function pw(p: string): string {
  secretsUsed.add(p);
  return p;
}

const byLogin = (u: LabUser): UserRef => ({ by: 'login', value: u.login });
const byAnchor = (u: LabUser): UserRef => ({ by: 'anchor', value: u.guid });

async function openDir(extra: Record<string, unknown> = {}): Promise<AdDirectory> {
  return openAdDirectory(sambaServiceConfig(dc, extra), {
    log: createLogger({ name: 'ad-test', level: 'debug', sink: (l) => logLines.push(l) }),
  });
}

function assertOutcome(r: OperationResult, outcome: OperationResult['outcome'], reasons?: string[]): void {
  assert.equal(r.outcome, outcome, JSON.stringify(r));
  if (reasons) assert.deepEqual(r.reasons, reasons, JSON.stringify(r));
}

async function kinitOk(u: LabUser, password: string): Promise<boolean> {
  return (await dc.kinit(`${u.login}@${dc.realm}`, password)).code === 0;
}

before(async () => {
  dc = await startSambaDc();
  dir = await openDir();
});

after(async () => {
  await dir?.close();
  await dc?.stop();
});

describe('AD adapter on Samba: successful writes, proven by kinit and ldapsearch', () => {
  it('reset by objectGUID: new password works for Kerberos and LDAP, old one does not', async () => {
    const u = await user();
    const r = await dir.resetPassword(byAnchor(u), pw('Fresh-Reset-1'), reset);
    assertOutcome(r, 'succeeded');
    assert.equal(await kinitOk(u, 'Fresh-Reset-1'), true);
    assert.equal(await kinitOk(u, u.password), false);
    assert.equal((await dc.ldapBind(u.dn, 'Fresh-Reset-1')).code, 0);
    assert.equal((await dc.ldapBind(u.dn, u.password)).code, 49);
  });

  it('change by sAMAccountName and by userPrincipalName', async () => {
    const u = await user();
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('Changed-Once-2')), 'succeeded');
    assert.equal(await kinitOk(u, 'Changed-Once-2'), true);
    assert.equal(await kinitOk(u, u.password), false);
    assertOutcome(
      await dir.changePassword(
        { by: 'login', value: `${u.login}@example.test` },
        'Changed-Once-2',
        pw('Changed-Twice-3'),
      ),
      'succeeded',
    );
    assert.equal(await kinitOk(u, 'Changed-Twice-3'), true);
    assert.equal(await kinitOk(u, 'Changed-Once-2'), false);
  });

  it('verifyCredentials: succeeded / wrong_current_password; an empty password never binds', async () => {
    const u = await user();
    assertOutcome(await dir.verifyCredentials(byLogin(u), u.password), 'succeeded');
    assertOutcome(await dir.verifyCredentials(byAnchor(u), 'Not-The-Pass-1'), 'wrong_current_password');
    assertOutcome(await dir.verifyCredentials(byAnchor(u), ''), 'wrong_current_password');
  });

  it('findUser by anchor and login, and getPolicy with the user dates', async () => {
    const u = await user({ displayName: 'Grace Hopper' });
    const a = await dir.findUser(byAnchor(u));
    const l = await dir.findUser({ by: 'login', value: u.login.toUpperCase() });
    assert.ok(a && a !== 'ambiguous' && l && l !== 'ambiguous');
    assert.equal(a.anchor, u.guid);
    assert.equal(l.anchor, u.guid);
    assert.equal(a.login, u.login);
    assert.equal(a.displayName, 'Grace Hopper');
    assert.equal(a.enabled, true);
    assert.equal(a.locked, false);
    assert.equal(a.mustChange, false);
    assert.equal(a.protected, false);
    assert.ok(a.passwordLastSetAt && Math.abs(Date.parse(a.passwordLastSetAt) - Date.now()) < 120_000);

    const p = await dir.getPolicy(byAnchor(u));
    assertOutcome(p, 'succeeded');
    assert.equal(p.policy?.source, 'domain');
    assert.equal(p.policy?.minLength, 7);
    assert.equal(p.policy?.complexity, true);
    assert.equal(p.policy?.historyLength, 24);
    assert.equal(p.policy?.lockoutThreshold, 3);
    assert.equal(p.policy?.maxAgeSeconds, 42 * 86400);
    assert.equal(p.policy?.passwordLastSetAt, a.passwordLastSetAt);
    assert.equal(Date.parse(p.policy?.expiresAt ?? '') - Date.parse(a.passwordLastSetAt), 42 * 86400 * 1000);

    const d = await dir.getPolicy();
    assert.equal(d.policy?.source, 'domain');
    assert.equal(d.policy?.passwordLastSetAt, undefined);
  });

  it('health answers with a round trip', async () => {
    const h = await dir.health();
    assert.equal(h.ok, true);
    assert.equal(h.kind, 'ad');
  });
});

describe('AD adapter on Samba: policy reasons', () => {
  it('too_short and complexity (local pre-check, nothing written)', async () => {
    const u = await user();
    const r = await dir.resetPassword(byLogin(u), pw('Ab1!'), reset);
    assertOutcome(r, 'policy_violation', ['too_short']);
    assert.equal(r.policy?.minLength, 7);
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('alllowercase')), 'policy_violation', [
      'complexity',
    ]);
    assert.equal(await kinitOk(u, u.password), true);
  });

  it('contains_user_name: refused before the write (Samba 4.17 itself would accept it)', async () => {
    const u = await user({ displayName: 'Dana Scully' });
    assertOutcome(
      await dir.resetPassword(byLogin(u), pw(`xx-${u.login.toUpperCase()}-99`), reset),
      'policy_violation',
      ['contains_user_name'],
    );
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('Scully#2024')), 'policy_violation', [
      'contains_user_name',
    ]);
    // Nothing was written: the initial password still works, and Samba does accept such a
    // password when written directly (so the refusal really is ours).
    assert.equal(await kinitOk(u, u.password), true);
    const admin = await dc.admin();
    await admin.modify(
      u.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [Buffer.from('"Scully#2024"', 'utf16le')] }),
      }),
    );
    assert.equal(await kinitOk(u, 'Scully#2024'), true);
  });

  it('history on a user change (the DC refuses; the reason comes from its answer)', async () => {
    const u = await user();
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('History-One-1')), 'succeeded');
    const r = await dir.changePassword(byLogin(u), 'History-One-1', u.password);
    assertOutcome(r, 'policy_violation', ['history']);
    assert.equal(r.policy?.historyLength, 24);
    // Same as current counts as history too.
    assertOutcome(await dir.changePassword(byLogin(u), 'History-One-1', 'History-One-1'), 'policy_violation', [
      'history',
    ]);
    assert.equal(await kinitOk(u, 'History-One-1'), true);
  });

  it('wrong_current_password on change', async () => {
    const u = await user();
    assertOutcome(
      await dir.changePassword(byLogin(u), pw('Wrong-Current-1'), pw('Whatever-New-2')),
      'wrong_current_password',
    );
    assert.equal(await kinitOk(u, u.password), true);
  });

  it('min_age when the domain has a minimum password age', async () => {
    const u = await user();
    await dc.sambaTool(['domain', 'passwordsettings', 'set', '--min-pwd-age=1']);
    dir.clearPolicyCache();
    try {
      const r = await dir.changePassword(byLogin(u), u.password, pw('Too-Young-Pass-1'));
      assertOutcome(r, 'policy_violation', ['min_age']);
      assert.equal(r.policy?.minAgeSeconds, 86400);
      assert.ok(r.policy?.nextChangeAllowedAt);
      // Samba takes no policy hints, so an admin reset (even one asking for history) ignores the
      // minimum age, and the adapter says so to the cloud: in its capabilities and in policy.get's
      // data, which the forgot page reads (issue 12; the Windows branch: ad-rules.test.ts).
      assert.equal(dir.capabilities.adminResetHonoursMinAge, false);
      const policy = await dir.getPolicy(byLogin(u));
      assertOutcome(policy, 'succeeded');
      assert.equal(policy.data?.resetHonoursMinAge, false);
      assert.equal(policy.policy?.minAgeSeconds, 86400);
      assertOutcome(await dir.resetPassword(byLogin(u), pw('Admin-Reset-Ok-1'), reset), 'succeeded');
      assert.equal(await kinitOk(u, 'Admin-Reset-Ok-1'), true);
    } finally {
      await dc.sambaTool(['domain', 'passwordsettings', 'set', '--min-pwd-age=0']);
      dir.clearPolicyCache();
    }
  });

  it('fine-grained PSO: too_short with minLength 12 and source fine_grained', async () => {
    const u = await user();
    await dc.sambaTool([
      'domain',
      'passwordsettings',
      'pso',
      'create',
      'strict-pso',
      '1',
      '--min-pwd-length=12',
      '--complexity=on',
      '--history-length=5',
      '--min-pwd-age=0',
      '--max-pwd-age=0',
      '--account-lockout-threshold=0',
    ]);
    await dc.sambaTool(['domain', 'passwordsettings', 'pso', 'apply', 'strict-pso', u.login]);
    try {
      const policy = await dir.getPolicy(byLogin(u));
      assert.equal(policy.policy?.source, 'fine_grained');
      assert.equal(policy.policy?.name, 'strict-pso');
      assert.equal(policy.policy?.minLength, 12);
      assert.equal(policy.policy?.historyLength, 5);

      // 10 characters: fine for the domain (7), too short for the PSO (12).
      const r = await dir.resetPassword(byLogin(u), pw('Ten-Char-1'), reset);
      assertOutcome(r, 'policy_violation', ['too_short']);
      assert.equal(r.policy?.minLength, 12);
      assert.equal(r.policy?.source, 'fine_grained');
      assertOutcome(await dir.resetPassword(byLogin(u), pw('Twelve-Chars-OK-1'), reset), 'succeeded');
      assert.equal(await kinitOk(u, 'Twelve-Chars-OK-1'), true);

      // Another user keeps the domain policy.
      const other = await user();
      assert.equal((await dir.getPolicy(byLogin(other))).policy?.source, 'domain');

      // A service account that cannot read the PSO (the AD default) must not show the domain
      // rule instead: policy.get says which right is missing, and a refused write still has its
      // exact reason (from Samba's text) but no made-up policy.
      const weak = await openDir({ bindDn: other.dn, bindPassword: other.password });
      try {
        const p = await weak.getPolicy(byLogin(u));
        assertOutcome(p, 'access_denied');
        assert.match(p.missingRight ?? '', /Password Settings Container/);
        const c = await weak.changePassword(byLogin(u), 'Twelve-Chars-OK-1', pw('Ten-Char-2'));
        assertOutcome(c, 'policy_violation', ['too_short']);
        assert.equal(c.policy, undefined);
      } finally {
        await weak.close();
      }
    } finally {
      await dc.sambaTool(['domain', 'passwordsettings', 'pso', 'delete', 'strict-pso']);
      dir.clearPolicyCache();
    }
  });

  it('a 52D the cached policy did not predict is classified from a fresh read', async () => {
    // The adapter cached minLength 7; the domain now wants 9. The pre-check lets 8 characters
    // through, the DC refuses, and the answer still says too_short with the new minimum.
    const u = await user();
    await dir.getPolicy(byLogin(u));
    await dc.sambaTool(['domain', 'passwordsettings', 'set', '--min-pwd-length=9']);
    try {
      const r = await dir.resetPassword(byLogin(u), pw('Eight-C1'), reset);
      assertOutcome(r, 'policy_violation', ['too_short']);
      assert.equal(r.policy?.minLength, 9);
    } finally {
      await dc.sambaTool(['domain', 'passwordsettings', 'set', '--min-pwd-length=7']);
      dir.clearPolicyCache();
    }
  });
});

describe('AD adapter on Samba: account states and rights', () => {
  it('user_not_found by login and by anchor (unknown GUID, malformed GUID)', async () => {
    assertOutcome(
      await dir.resetPassword({ by: 'login', value: 'nobody-here' }, pw('Some-Pass-1'), reset),
      'user_not_found',
    );
    assertOutcome(
      await dir.resetPassword(
        { by: 'anchor', value: '00000000-1111-2222-3333-444444444444' },
        pw('Some-Pass-1'),
        reset,
      ),
      'user_not_found',
    );
    assertOutcome(
      await dir.changePassword({ by: 'anchor', value: 'not-a-guid' }, 'x', pw('Some-Pass-1')),
      'user_not_found',
    );
    assert.equal(await dir.findUser({ by: 'login', value: 'nobody-here' }), null);
  });

  it('ambiguous_user: one user login equals another user UPN', async () => {
    // Samba 4.17 refuses a new UPN equal to an existing sAMAccountName, but not a new
    // sAMAccountName equal to an existing UPN: create the UPN first.
    const login = `amb${process.pid % 1000}x${seq + 1}`;
    await user({ upn: login });
    const a = await user({ login });
    assertOutcome(await dir.resetPassword(byLogin(a), pw('Ambiguous-Pass-1'), reset), 'ambiguous_user');
    assert.equal(await dir.findUser(byLogin(a)), 'ambiguous');
    // The anchor is still unique.
    assertOutcome(await dir.verifyCredentials(byAnchor(a), a.password), 'succeeded');
  });

  it('account_disabled: no write, no bind', async () => {
    const u = await user({ uac: 514 });
    assertOutcome(await dir.resetPassword(byLogin(u), pw('Disabled-Pass-1'), reset), 'account_disabled');
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('Disabled-Pass-2')), 'account_disabled');
    assertOutcome(await dir.verifyCredentials(byLogin(u), u.password), 'account_disabled');
    const f = await dir.findUser(byLogin(u));
    assert.ok(f && f !== 'ambiguous');
    assert.equal(f.enabled, false);
  });

  it('account_locked after bad binds; unlock() and reset with unlock', async () => {
    const u = await user();
    for (let i = 0; i < 3; i++) assert.equal((await dc.ldapBind(u.dn, 'Bad-Guess-0')).code, 49);
    const found = await dir.findUser(byLogin(u));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.locked, true);
    // Even the right password is refused while locked.
    assertOutcome(await dir.verifyCredentials(byLogin(u), u.password), 'account_locked');
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('Locked-New-1')), 'account_locked');

    // An admin reset alone does not unlock (AD semantics)...
    assertOutcome(await dir.resetPassword(byLogin(u), pw('Reset-While-Locked-1'), reset), 'succeeded');
    assertOutcome(await dir.verifyCredentials(byLogin(u), 'Reset-While-Locked-1'), 'account_locked');
    // ...unlock() does.
    const un = await dir.unlock(byLogin(u));
    assertOutcome(un, 'succeeded');
    assert.equal(un.data?.wasLocked, true);
    assertOutcome(await dir.verifyCredentials(byLogin(u), 'Reset-While-Locked-1'), 'succeeded');

    // Lock again; a reset with unlock: true unlocks in the same write.
    for (let i = 0; i < 3; i++) await dc.ldapBind(u.dn, 'Bad-Guess-0');
    assertOutcome(await dir.verifyCredentials(byLogin(u), 'Reset-While-Locked-1'), 'account_locked');
    assertOutcome(
      await dir.resetPassword(byLogin(u), pw('Reset-And-Unlock-1'), { ...reset, unlock: true }),
      'succeeded',
    );
    assert.equal(await kinitOk(u, 'Reset-And-Unlock-1'), true);
  });

  it('protected_account: Administrator and any adminCount=1 user; allowProtected lets it through', async () => {
    assertOutcome(
      await dir.resetPassword({ by: 'login', value: 'Administrator' }, pw('Admin-Takeover-1'), reset),
      'protected_account',
    );
    assertOutcome(await dir.unlock({ by: 'login', value: 'Administrator' }), 'protected_account');
    const u = await user();
    const admin = await dc.admin();
    await admin.modify(
      u.dn,
      new Change({ operation: 'replace', modification: new Attribute({ type: 'adminCount', values: ['1'] }) }),
    );
    assertOutcome(await dir.resetPassword(byLogin(u), pw('Protected-Pass-1'), reset), 'protected_account');
    assert.equal(await kinitOk(u, u.password), true);
    const permissive = await openDir({ allowProtected: true });
    try {
      assertOutcome(await permissive.resetPassword(byLogin(u), pw('Protected-Pass-1'), reset), 'succeeded');
      assert.equal(await kinitOk(u, 'Protected-Pass-1'), true);
    } finally {
      await permissive.close();
    }
  });

  it('access_denied names the missing right when the service account is an ordinary user', async () => {
    const svc = await user();
    const target = await user();
    const weak = await openDir({ bindDn: svc.dn, bindPassword: svc.password });
    try {
      const r = await weak.resetPassword(byLogin(target), pw('No-Right-Pass-1'), reset);
      assertOutcome(r, 'access_denied');
      assert.equal(r.missingRight, 'Reset Password on the user object');
      const f = await weak.resetPassword(byLogin(target), pw('No-Right-Pass-1'), { ...reset, forceChange: true });
      assertOutcome(f, 'access_denied');
      assert.equal(f.missingRight, 'Write pwdLastSet on the user object');
      const un = await weak.unlock(byLogin(target));
      assertOutcome(un, 'access_denied');
      assert.equal(un.missingRight, 'Write lockoutTime on the user object');
      // Change Password is granted to everyone: an ordinary account can relay a user change.
      assertOutcome(await weak.changePassword(byLogin(target), target.password, pw('Relayed-Change-1')), 'succeeded');
    } finally {
      await weak.close();
    }
    assert.equal(await kinitOk(target, 'Relayed-Change-1'), true);
  });

  it('must change at next logon: pwdLastSet=0, user bind answers data 773, a change clears it', async () => {
    const u = await user();
    assertOutcome(
      await dir.resetPassword(byLogin(u), pw('Must-Change-1'), { ...reset, forceChange: true }),
      'succeeded',
    );
    const f = await dir.findUser(byLogin(u));
    assert.ok(f && f !== 'ambiguous');
    assert.equal(f.mustChange, true);
    assert.equal(f.passwordLastSetAt, null);
    const bind = await dc.ldapBind(u.dn, 'Must-Change-1');
    assert.equal(bind.code, 49);
    assert.match(bind.stderr, /data 773/);
    const v = await dir.verifyCredentials(byLogin(u), 'Must-Change-1');
    assertOutcome(v, 'succeeded');
    assert.equal(v.data?.mustChange, true);
    assertOutcome(await dir.changePassword(byLogin(u), 'Must-Change-1', pw('Changed-After-1')), 'succeeded');
    assert.equal((await dc.ldapBind(u.dn, 'Changed-After-1')).code, 0);
    const g = await dir.findUser(byLogin(u));
    assert.ok(g && g !== 'ambiguous');
    assert.equal(g.mustChange, false);
  });

  it('force change on a "password never expires" user is not reported as done: forceChangeIgnored (issue 12)', async () => {
    // 512 | DONT_EXPIRE_PASSWD (0x10000): the DC would take pwdLastSet=0 and never ask for a change.
    const u = await user({ uac: 512 | 0x10000 });
    const r = await dir.resetPassword(byLogin(u), pw('Never-Expires-1'), { ...reset, forceChange: true });
    assertOutcome(r, 'succeeded');
    assert.equal(r.data?.forceChangeIgnored, 'password_never_expires');
    assert.equal(r.data?.mustChange, false);
    // The password is set, and the user signs in with it without being asked to change it.
    assert.equal((await dc.ldapBind(u.dn, 'Never-Expires-1')).code, 0);
    assert.equal(await kinitOk(u, 'Never-Expires-1'), true);
    const f = await dir.findUser(byLogin(u));
    assert.ok(f && f !== 'ambiguous');
    assert.equal(f.mustChange, false);
    // Without forceChange nothing is said; an ordinary user's force change carries no warning.
    const plain = await dir.resetPassword(byLogin(u), pw('Never-Expires-2'), reset);
    assert.equal(plain.data?.forceChangeIgnored, undefined);
    const normal = await user();
    const n = await dir.resetPassword(byLogin(normal), pw('Must-Change-2'), { ...reset, forceChange: true });
    assert.equal(n.data?.forceChangeIgnored, undefined);
    assert.equal(n.data?.mustChange, true);
  });

  it('policy hints: Samba lacks them, so resets say historyEnforced: false (and history is not enforced)', async () => {
    assert.equal(dir.capabilities.enforcesHistoryOnReset, false);
    const u = await user();
    assertOutcome(await dir.changePassword(byLogin(u), u.password, pw('Hint-Pass-Two-2')), 'succeeded');
    const r = await dir.resetPassword(byLogin(u), u.password, { ...reset, enforceHistory: true });
    assertOutcome(r, 'succeeded');
    assert.equal(r.historyEnforced, false);
    assert.equal(await kinitOk(u, u.password), true);
  });
});

describe('AD adapter on Samba: hostile names', () => {
  it('filter metacharacters, NUL, DN syntax, very long and non-ASCII logins match nobody else', async () => {
    const victim = await user();
    const hostile = [
      '*',
      `${victim.login}*`,
      `*${victim.login.slice(1)}`,
      `${victim.login})(sAMAccountName=*`,
      `*)(|(sAMAccountName=*`,
      '(',
      ')',
      '\\',
      '\\2a',
      `${victim.login}\u0000`,
      `${victim.login}\u0000*`,
      `CN=${victim.login},OU=People,DC=example,DC=test`,
      `${victim.login},OU=People`,
      `${victim.login}=x`,
      `${victim.login}+sn=x`,
      'x'.repeat(256),
      `${victim.login}${'\u0301'}`,
      'Ωμέγα-ユーザー',
      ' ',
    ];
    for (const value of hostile) {
      const ref: UserRef = { by: 'login', value };
      assert.equal(await dir.findUser(ref), null, JSON.stringify(value));
      assertOutcome(await dir.resetPassword(ref, pw('Hostile-Pass-1'), reset), 'user_not_found');
    }
    for (const value of ['*', `${victim.guid}*`, `${victim.guid}\u0000`, '\\00', 'x'.repeat(256)]) {
      assert.equal(await dir.findUser({ by: 'anchor', value }), null, JSON.stringify(value));
    }
    assert.equal(await kinitOk(victim, victim.password), true);
  });

  it('a user whose DN needs escaping (comma, plus, quotes, #) is written and verified', async () => {
    seq++;
    const u = await dc.createUser({
      login: `dn${process.pid % 1000}x${seq}`,
      cn: `Smith, "Jo" +#${seq}\\`,
      password: pw(`Init-Pass-${seq}!`),
    });
    assert.match(u.dn, /\\,/);
    assertOutcome(await dir.resetPassword(byLogin(u), pw('Escaped-Dn-Pass-1'), reset), 'succeeded');
    assertOutcome(await dir.verifyCredentials(byAnchor(u), 'Escaped-Dn-Pass-1'), 'succeeded');
    assert.equal(await kinitOk(u, 'Escaped-Dn-Pass-1'), true);
  });

  it('a non-ASCII login is found exactly', async () => {
    const u = await user({ login: `jöran-${seq}` });
    const f = await dir.findUser(byLogin(u));
    assert.ok(f && f !== 'ambiguous');
    assert.equal(f.anchor, u.guid);
    assertOutcome(await dir.resetPassword(byLogin(u), pw('Non-Ascii-Pass-1'), reset), 'succeeded');
    assert.equal(await kinitOk(u, 'Non-Ascii-Pass-1'), true);
  });
});

describe('AD adapter on Samba: logs', () => {
  it('no password ever appears in a log line', () => {
    assert.ok(logLines.length > 20);
    const all = logLines.join('\n');
    for (const secret of secretsUsed) assert.equal(all.includes(secret), false, 'a password leaked into the log');
    // And raw diagnostics are in the log (for the operator), not in results.
    assert.match(all, /0000052D/);
  });
});
