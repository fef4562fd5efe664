/**
 * The AD adapter's pure parts, without a DC: config resolution (transport safety), GUID and time
 * encodings, the local password rules and how a generic 0000052D is classified (with the exact
 * diagnostics Samba 4.17 sends, recorded in notes/directory-lab.md, and with none, as Windows).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BerWriter } from 'ldapts';
import type { EffectivePolicy } from '@writeback/protocol';
import { DirectoryError, guidFromString, guidToString, resolveAdConfig } from '@writeback/directory';
import { filetimeToMs, generalizedTimeToMs, intervalToSeconds } from '../src/ad/ad-time.js';
import {
  PolicyHintsControl,
  POLICY_HINTS_DEPRECATED_OID,
  POLICY_HINTS_OID,
  resetHintsFor,
} from '../src/ad/controls.js';
import { hintsCheck, minAgeCheck } from '../src/ad/doctor.js';
import {
  classifyRejection,
  complexityCategories,
  containsUserName,
  precheckPassword,
} from '../src/ad/password-rules.js';

const base = { kind: 'ad', bindDn: 'svc@example.test', bindPassword: 'x', baseDn: 'DC=example,DC=test' } as const;

const domainPolicy: EffectivePolicy = {
  source: 'domain',
  minLength: 7,
  complexity: true,
  historyLength: 24,
  minAgeSeconds: 0,
  maxAgeSeconds: 0,
  lockoutThreshold: 3,
  lockoutDurationSeconds: 1800,
};

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DirectoryError
      ? err.code
      : err instanceof TypeError
        ? `TypeError: ${err.message}`
        : 'unexpected error';
  }
  return undefined;
}

describe('AD config', () => {
  it('refuses plain ldap:// without StartTLS (insecure_transport)', () => {
    assert.equal(
      code(() => resolveAdConfig({ ...base, urls: ['ldap://dc1.example.test'] })),
      'insecure_transport',
    );
    assert.equal(
      code(() => resolveAdConfig({ ...base, urls: ['ldaps://dc1.example.test', 'ldap://dc2.example.test'] })),
      'insecure_transport',
    );
  });

  it('accepts ldap:// with startTls and ldaps://, applies defaults, freezes', () => {
    const a = resolveAdConfig({ ...base, urls: ['ldap://dc1.example.test:389'], startTls: true });
    assert.equal(a.urls[0]?.startTls, true);
    const b = resolveAdConfig({ ...base, urls: ['ldaps://dc1.example.test'] });
    assert.equal(b.urls[0]?.startTls, false);
    assert.equal(b.poolSize, 4);
    assert.equal(b.timeoutMs, 5000);
    assert.equal(b.policyHints, 'auto');
    assert.ok(Object.isFrozen(b));
  });

  it('names the bad option path (TypeError)', () => {
    const bad: unknown[] = [
      { ...base, urls: [] },
      { ...base, urls: ['http://dc1'] },
      { ...base, urls: ['ldaps://dc1/DC=x'] },
      { ...base, urls: ['ldaps://dc1'], startTls: true },
      { ...base, urls: ['ldaps://dc1'], bindPassword: undefined },
      { ...base, urls: ['ldaps://dc1'], bindPasswordFile: '/nonexistent/pw' },
      { ...base, urls: ['ldaps://dc1'], userFilter: '(&(broken' },
      { ...base, urls: ['ldaps://dc1'], caFile: '/nonexistent/ca.pem' },
      { ...base, urls: ['ldaps://dc1'], poolSize: 0 },
      { ...base, urls: ['ldaps://dc1'], unknownOption: 1 },
    ];
    for (const c of bad)
      assert.match(code(() => resolveAdConfig(c)) ?? 'accepted', /^TypeError: ad[.:]/, JSON.stringify(c));
  });

  it('reads the service password from bindPasswordFile (newline trimmed)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ad-cfg-'));
    const file = path.join(dir, 'pw');
    writeFileSync(file, 'S3cret-From-File\n');
    const { bindPassword: _unused, ...rest } = base;
    const c = resolveAdConfig({ ...rest, urls: ['ldaps://dc1'], bindPasswordFile: file });
    assert.equal(c.bindPassword, 'S3cret-From-File');
  });
});

describe('AD encodings', () => {
  it('objectGUID bytes <-> standard string (mixed endian), braces and case accepted', () => {
    const bytes = Buffer.from('2b9e7e34f825184dbf3ed211d3c35403', 'hex');
    const s = guidToString(bytes);
    assert.equal(s, '347e9e2b-25f8-4d18-bf3e-d211d3c35403');
    assert.deepEqual(guidFromString(s), bytes);
    assert.deepEqual(guidFromString(`{${s.toUpperCase()}}`), bytes);
    for (const bad of ['', 'not-a-guid', '347e9e2b25f84d18bf3ed211d3c35403', `${s}x`, '*', `${s}\u0000`])
      assert.equal(guidFromString(bad), null);
  });

  it('FILETIME, negative intervals and GeneralizedTime', () => {
    assert.equal(filetimeToMs('0'), null);
    assert.equal(filetimeToMs('9223372036854775807'), null);
    assert.equal(filetimeToMs('116444736000000000'), 0);
    assert.equal(filetimeToMs('134400788955699940'), Date.UTC(2026, 10, 25, 11, 14, 55, 569));
    assert.equal(intervalToSeconds('-864000000000'), 86400);
    assert.equal(intervalToSeconds('-9223372036854775808'), 0);
    assert.equal(intervalToSeconds('0'), 0);
    assert.equal(intervalToSeconds(undefined), 0);
    assert.equal(generalizedTimeToMs('20261125111503.0Z'), Date.UTC(2026, 10, 25, 11, 15, 3));
    assert.equal(generalizedTimeToMs('garbage'), null);
  });
});

describe('AD policy-hints control', () => {
  it('encodes as a critical control whose value is OCTET STRING { SEQUENCE { INTEGER 1 } }', () => {
    const w = new BerWriter();
    new PolicyHintsControl('1.2.840.113556.1.4.2239').write(w);
    const oid = Buffer.from('1.2.840.113556.1.4.2239').toString('hex');
    assert.equal(w.buffer.toString('hex'), `3023${'0417'}${oid}0101ff04053003020101`);
  });
});

describe('AD password rules', () => {
  it('complexity: 3 of 5 categories, non-ASCII counted leniently', () => {
    assert.equal(complexityCategories('alllowercase'), 1);
    assert.equal(complexityCategories('Lower1'), 3);
    assert.equal(complexityCategories('lower-1'), 3);
    assert.equal(complexityCategories('ÉCOLE-été'), 3);
    assert.equal(complexityCategories('パスワード-1'), 3);
  });

  it('account name (≥3) and display-name tokens (≥3), case-insensitive', () => {
    assert.equal(containsUserName('xx-Alice-XX-99', { login: 'alice' }), true);
    assert.equal(containsUserName('Scully#2024', { login: 'dscully', displayName: 'Dana Scully' }), true);
    assert.equal(containsUserName('Dana-pass-1', { login: 'dscully', displayName: 'Dana Scully' }), true);
    // Tokens shorter than 3 and short logins are ignored, as Windows does.
    assert.equal(containsUserName('Li-Wo-pass1', { login: 'lw', displayName: 'Li Wo' }), false);
  });

  it('precheck lists every broken rule; complexity off skips the name rules', () => {
    assert.deepEqual(precheckPassword('abc', domainPolicy, { login: 'bob' }), ['too_short', 'complexity']);
    assert.deepEqual(precheckPassword('Bob-Pass-123', domainPolicy, { login: 'bob' }), ['contains_user_name']);
    assert.deepEqual(precheckPassword('Good-Pass-123', domainPolicy, { login: 'bob' }), []);
    assert.deepEqual(precheckPassword('Bob-Pass-123', { ...domainPolicy, complexity: false }, { login: 'bob' }), []);
    assert.deepEqual(precheckPassword('', { ...domainPolicy, minLength: 0 }, { login: 'bob' }), ['complexity']);
  });

  const ctx = {
    policy: domainPolicy,
    localReasons: [],
    hintsUsed: false,
    now: 1_000_000,
    passwordLastSetMs: 999_000,
  } as const;
  it('classifies Samba 4.17 diagnostics', () => {
    const cases: [string, string][] = [
      [
        '0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 12 characters!',
        'too_short',
      ],
      [
        '0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!',
        'history',
      ],
      [
        '0000052D: Constraint violation - check_password_restrictions: the password was already used (previous password)!',
        'history',
      ],
      ['0000052D: Constraint violation - check_password_restrictions: password is too young to change!', 'min_age'],
      [
        "0000052D: Constraint violation - check_password_restrictions: the password doesn't fit due to a miscellaneous restriction!",
        'filter_rejected',
      ],
    ];
    for (const [diagnostic, reason] of cases)
      assert.deepEqual(classifyRejection({ ...ctx, op: 'change', diagnostic }), [reason]);
    const complexity =
      '0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!';
    assert.deepEqual(
      classifyRejection({ ...ctx, op: 'change', diagnostic: complexity, localReasons: ['complexity'] }),
      ['complexity'],
    );
    // Complexity text but the password is complex: Samba's check-password script refused it.
    assert.deepEqual(classifyRejection({ ...ctx, op: 'change', diagnostic: complexity }), ['filter_rejected']);
  });

  it('deduces the reason when the DC gives none (Windows)', () => {
    const silent = '0000052D: Constraint violation - check_password_restrictions';
    const win = '0000052D: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0';
    for (const diagnostic of [silent, win]) {
      assert.deepEqual(classifyRejection({ ...ctx, op: 'change', diagnostic }), ['history']);
      assert.deepEqual(
        classifyRejection({ ...ctx, op: 'change', diagnostic, policy: { ...domainPolicy, historyLength: 0 } }),
        ['filter_rejected'],
      );
      assert.deepEqual(
        classifyRejection({ ...ctx, op: 'change', diagnostic, policy: { ...domainPolicy, minAgeSeconds: 86400 } }),
        ['min_age'],
      );
      assert.deepEqual(classifyRejection({ ...ctx, op: 'change', diagnostic, localReasons: ['too_short'] }), [
        'too_short',
      ]);
      assert.deepEqual(classifyRejection({ ...ctx, op: 'reset', diagnostic }), ['filter_rejected']);
      assert.deepEqual(classifyRejection({ ...ctx, op: 'reset', diagnostic, hintsUsed: true }), ['history']);
      assert.deepEqual(classifyRejection({ ...ctx, op: 'reset', diagnostic, policy: null }), ['unspecified']);
      // Issue 12: a reset that carried the policy hints is held to the minimum age as well.
      const young = { ...domainPolicy, minAgeSeconds: 86400 };
      assert.deepEqual(classifyRejection({ ...ctx, op: 'reset', diagnostic, hintsUsed: true, policy: young }), [
        'min_age',
      ]);
      assert.deepEqual(classifyRejection({ ...ctx, op: 'reset', diagnostic, policy: young }), ['filter_rejected']);
      assert.deepEqual(
        classifyRejection({
          ...ctx,
          op: 'reset',
          diagnostic,
          hintsUsed: true,
          policy: young,
          now: 999_000 + 86_400_000,
        }),
        ['history'],
      );
    }
  });
});

/**
 * Issue 12: what an admin reset is held to follows from the policy-hints control it will carry,
 * decided from the DC's rootDSE. The branch without the control is also run against Samba
 * (ad.test.ts 'min_age when the domain has a minimum password age', ad-transport.test.ts doctor);
 * the Windows branch (…2239 advertised) can only be run from rootDSE data here.
 */
describe('policy hints decided from the rootDSE', () => {
  const root = (supportedControl: string[]) => ({
    defaultNamingContext: 'DC=example,DC=test',
    dnsHostName: 'dc1.example.test',
    supportedControl,
    currentTime: undefined,
  });
  const windows2016 = root(['1.2.840.113556.1.4.319', POLICY_HINTS_OID, POLICY_HINTS_DEPRECATED_OID]);
  const windows2012 = root(['1.2.840.113556.1.4.319', POLICY_HINTS_DEPRECATED_OID]);
  const samba = root(['1.2.840.113556.1.4.319', '1.2.840.113556.1.4.841']);

  it('Windows 2016+: the reset carries …2239, enforces history and is limited by the minimum age', () => {
    assert.deepEqual(resetHintsFor(windows2016, 'auto'), { oid: POLICY_HINTS_OID, honoursMinAge: true });
    assert.deepEqual(resetHintsFor(windows2012, 'auto'), { oid: POLICY_HINTS_DEPRECATED_OID, honoursMinAge: true });
    const hints = hintsCheck(windows2016, { policyHints: 'auto' });
    assert.equal(hints.status, 'pass');
    assert.match(hints.summary, /1\.2\.840\.113556\.1\.4\.2239/);
    assert.match(hints.summary, /refused inside the minimum password age/);
    const age = minAgeCheck(86400, resetHintsFor(windows2016, 'auto'));
    assert.equal(age.status, 'warn');
    assert.match(age.summary, /admin resets are limited too/);
    assert.doesNotMatch(age.summary, /not limited/);
  });

  it('no hints (Samba, or policyHints off): neither history nor the minimum age binds a reset', () => {
    for (const h of [resetHintsFor(samba, 'auto'), resetHintsFor(windows2016, 'off'), resetHintsFor(undefined, 'auto')])
      assert.deepEqual(h, { oid: undefined, honoursMinAge: false });
    const hints = hintsCheck(samba, { policyHints: 'auto' });
    assert.equal(hints.status, 'warn');
    assert.match(hints.summary, /not limited by the minimum password age/);
    assert.equal(hintsCheck(windows2016, { policyHints: 'off' }).status, 'warn');
    assert.match(hintsCheck(windows2016, { policyHints: 'off' }).summary, /not limited by the minimum password age/);
    const age = minAgeCheck(86400, resetHintsFor(samba, 'auto'));
    assert.equal(age.status, 'warn');
    assert.match(age.summary, /admin resets are not limited/);
    assert.equal(minAgeCheck(0, resetHintsFor(windows2016, 'auto')).status, 'pass');
  });
});
