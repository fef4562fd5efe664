/**
 * The doctor checks both LDAP adapters share (src/ldap/doctor-checks.ts): thresholds and the
 * problem a raw transport error is. Through the adapters against real servers: the doctor tests
 * in ad-transport.test.ts and openldap-doctor.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clockSkewCheck, connectFailureCheck, connectProblemOf } from '../src/ldap/doctor-checks.js';

test('clock skew: pass within the warning threshold, warn above it, fail above the failure one (when given)', () => {
  const ad = { id: 'clock_skew', peer: 'the DC', warnAfterS: 60, failAfterS: 300, why: 'Kerberos' };
  assert.deepEqual(
    [0, 60_000, 61_000, -61_000, 300_000, 301_000, -301_000].map((ms) => clockSkewCheck(ms, ad).status),
    ['pass', 'pass', 'warn', 'warn', 'warn', 'fail', 'fail'],
  );
  const ldap = { id: 'clock', peer: 'the directory', warnAfterS: 60, why: 'lockout' };
  assert.equal(clockSkewCheck(3_600_000, ldap).status, 'warn');
});

test('a raw transport error becomes verification, handshake, timeout or network, with its code', () => {
  const e = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  assert.equal(connectProblemOf(e('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).kind, 'verification');
  assert.equal(connectProblemOf(e('ERR_SSL_WRONG_VERSION_NUMBER')).kind, 'handshake');
  assert.equal(connectProblemOf(new Error('Connection timeout')).kind, 'timeout');
  assert.equal(connectProblemOf(e('ECONNREFUSED')).kind, 'network');
  assert.equal(connectProblemOf(undefined).kind, 'network');
  const ctx = { id: 'server:x', url: 'ldaps://x', expectedName: 'x', caFix: 'set caFile', connectFix: 'check' };
  const refused = connectFailureCheck(connectProblemOf(e('ECONNREFUSED')), ctx);
  assert.deepEqual([refused.status, refused.code, refused.fix], ['fail', 'ECONNREFUSED', 'check']);
  assert.equal(connectFailureCheck(connectProblemOf(e('CERT_HAS_EXPIRED')), ctx).fix, 'set caFile');
});
