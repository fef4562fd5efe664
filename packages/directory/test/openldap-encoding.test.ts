/**
 * The byte-level pieces of the OpenLDAP adapter, checked against the RFC 3062 and ppolicy-draft
 * encodings written out by hand, plus the pure policy arithmetic (generalized time, lock in force).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLength, readElement } from '../src/openldap/ber.js';
import { encodePasswordModifyRequest } from '../src/openldap/password-modify.js';
import {
  isDisabled,
  isLocked,
  parseGeneralizedTime,
  settingsFromEntry,
  toEffectivePolicy,
  userStateFromEntry,
} from '../src/openldap/policy.js';
import { decodePasswordPolicyResponse, reasonsForPpolicyError } from '../src/openldap/ppolicy-control.js';
import { outcomeForWriteResult } from '../src/openldap/write-outcome.js';

test('Password Modify request value: SEQUENCE { [0] id, [1] old, [2] new }', () => {
  const v = encodePasswordModifyRequest({ userIdentity: 'uid=a', oldPassword: 'o', newPassword: 'nn' });
  assert.equal(v.toString('hex'), `300e8005${Buffer.from('uid=a').toString('hex')}81016f82026e6e`);
  const onlyNew = encodePasswordModifyRequest({ newPassword: '' });
  assert.equal(onlyNew.toString('hex'), '30028200', 'newPasswd is always present, even empty');
});

test('Password Modify request value: long and non-ASCII values use long-form lengths and UTF-8', () => {
  const pw = 'é'.repeat(200);
  const v = encodePasswordModifyRequest({ newPassword: pw });
  assert.equal(v.subarray(0, 2).toString('hex'), '3082');
  const seq = readElement(v, 0);
  assert.ok(seq);
  const inner = readElement(v, seq.start, seq.end);
  assert.ok(inner);
  assert.equal(inner.tag, 0x82);
  assert.equal(v.subarray(inner.start, inner.end).toString('utf8'), pw);
});

test('the encoded request never serialises its passwords', () => {
  const v = encodePasswordModifyRequest({
    userIdentity: 'uid=a',
    oldPassword: 'old-secret',
    newPassword: 'new-secret',
  });
  assert.equal(JSON.stringify({ value: v }), '{"value":"[redacted]"}');
});

test('BER lengths', () => {
  assert.equal(encodeLength(0).toString('hex'), '00');
  assert.equal(encodeLength(127).toString('hex'), '7f');
  assert.equal(encodeLength(128).toString('hex'), '8180');
  assert.equal(encodeLength(256).toString('hex'), '820100');
  assert.throws(() => encodeLength(-1), RangeError);
});

test('ppolicy response control value decoding', () => {
  const hex = (h: string) => Buffer.from(h, 'hex');
  assert.deepEqual(decodePasswordPolicyResponse(hex('')), {});
  assert.deepEqual(decodePasswordPolicyResponse(hex('3000')), {});
  assert.deepEqual(decodePasswordPolicyResponse(hex('3003810106')), { error: 'passwordTooShort' });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3003810107')), { error: 'passwordTooYoung' });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3003810108')), { error: 'passwordInHistory' });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3003810101')), { error: 'accountLocked' });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3003810163')), { error: 'unknown' });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3006a004800203e8')), { timeBeforeExpiration: 1000 });
  assert.deepEqual(decodePasswordPolicyResponse(hex('3008a0038101028101' + '00')), {
    graceAuthNsRemaining: 2,
    error: 'passwordExpired',
  });
  // Truncated, wrong outer tag, negative enumeration, absurd length: flagged, never thrown.
  for (const bad of ['30', '3005810106', '0403810106', '30038101ff', '3084ffffffff']) {
    assert.equal(decodePasswordPolicyResponse(hex(bad)).malformed, true, bad);
  }
});

test('ppolicy errors to policy reasons', () => {
  assert.deepEqual(reasonsForPpolicyError('passwordTooShort'), ['too_short']);
  assert.deepEqual(reasonsForPpolicyError('passwordTooLong'), ['too_long']);
  assert.deepEqual(reasonsForPpolicyError('passwordTooYoung'), ['min_age']);
  assert.deepEqual(reasonsForPpolicyError('passwordInHistory'), ['history']);
  assert.deepEqual(reasonsForPpolicyError('insufficientPasswordQuality'), ['complexity']);
  assert.equal(reasonsForPpolicyError('accountLocked'), null);
  assert.equal(reasonsForPpolicyError(undefined), null);
});

test('generalized time', () => {
  assert.equal(parseGeneralizedTime('20240102030405Z'), Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(parseGeneralizedTime('20240102030405.123456Z'), Date.UTC(2024, 0, 2, 3, 4, 5, 123));
  assert.equal(parseGeneralizedTime('202401020304Z'), Date.UTC(2024, 0, 2, 3, 4, 0));
  assert.equal(parseGeneralizedTime('20240102030405+0100'), Date.UTC(2024, 0, 2, 2, 4, 5));
  assert.equal(parseGeneralizedTime('nonsense'), null);
});

test('lock in force: duration, permanent, disabled marker', () => {
  const policy = settingsFromEntry({ dn: 'cn=p', pwdLockoutDuration: '900', pwdLockout: 'TRUE', pwdMaxFailure: '3' });
  const t = Date.UTC(2024, 0, 1, 0, 0, 0);
  const locked = userStateFromEntry({ dn: 'uid=x', pwdAccountLockedTime: '20240101000000Z' });
  assert.equal(isLocked(locked, policy, t + 899_000), true);
  assert.equal(isLocked(locked, policy, t + 900_000), false);
  assert.equal(
    isLocked(locked, settingsFromEntry({ dn: 'cn=q' }), t + 10 ** 10),
    true,
    'duration absent or 0: until unlocked',
  );
  const disabled = userStateFromEntry({ dn: 'uid=x', pwdAccountLockedTime: '000001010000Z' });
  assert.equal(isDisabled(disabled), true);
  assert.equal(isLocked(disabled, policy, t), false);
});

test('effective policy: min length only counts with pwdCheckQuality; must-change hides the last-set time', () => {
  const p = settingsFromEntry({
    dn: 'cn=p',
    pwdMinLength: '8',
    pwdCheckQuality: '0',
    pwdInHistory: '2',
    pwdMinAge: '60',
    pwdMaxAge: '120',
  });
  assert.equal(toEffectivePolicy(p).minLength, 0);
  const changed = Date.UTC(2024, 0, 1);
  const e = toEffectivePolicy(p, { changedAt: changed, reset: false, lockedTime: undefined });
  assert.equal(e.passwordLastSetAt, new Date(changed).toISOString());
  assert.equal(e.nextChangeAllowedAt, new Date(changed + 60_000).toISOString());
  assert.equal(e.expiresAt, new Date(changed + 120_000).toISOString());
  const r = toEffectivePolicy(p, { changedAt: changed, reset: true, lockedTime: undefined });
  assert.equal(r.passwordLastSetAt, null);
  assert.equal(r.expiresAt, null);
});

test('LDAP result codes on a password write to outcomes', () => {
  const o = (
    code: number,
    error: Parameters<typeof reasonsForPpolicyError>[0] | null,
    op: 'reset' | 'change' | 'unlock',
  ) => outcomeForWriteResult(code, error === null ? null : { error }, op).result;
  assert.deepEqual(o(19, 'passwordTooShort', 'reset'), { outcome: 'policy_violation', reasons: ['too_short'] });
  assert.deepEqual(o(19, 'passwordInHistory', 'change'), { outcome: 'policy_violation', reasons: ['history'] });
  assert.deepEqual(o(19, null, 'change'), { outcome: 'policy_violation', reasons: ['unspecified'] });
  assert.deepEqual(o(50, null, 'reset'), { outcome: 'access_denied', missingRight: 'write on userPassword' });
  assert.deepEqual(o(50, null, 'unlock'), { outcome: 'access_denied', missingRight: 'manage on pwdAccountLockedTime' });
  assert.equal(o(50, 'mustSupplyOldPassword', 'reset').outcome, 'access_denied');
  assert.deepEqual(o(53, null, 'change'), { outcome: 'wrong_current_password' });
  assert.equal(o(53, null, 'reset').outcome, 'directory_unavailable');
  assert.equal(o(32, null, 'reset').outcome, 'user_not_found');
  assert.equal(o(10, null, 'reset').outcome, 'directory_unavailable');
  assert.equal(o(80, null, 'change').outcome, 'directory_unavailable');
  assert.equal(outcomeForWriteResult(80, null, 'reset').unexpected, true);
});
