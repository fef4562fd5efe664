/**
 * The shared TLS classifier and the names of a refused certificate (src/ldap/tls.ts), on error
 * shapes Node raises. Against real servers: the doctor tests in ad-transport.test.ts and
 * openldap-doctor.test.ts (a certificate issued for other names).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { certificateNames, nameMismatchFix, tlsProblemOf } from '../src/ldap/tls.js';

function err(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`failed: ${code}`), { code, ...extra });
}

test('verification failures (chain, expiry, name) and handshake failures are told apart from the rest', () => {
  for (const code of [
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_HAS_EXPIRED',
  ])
    assert.equal(tlsProblemOf(err(code)), 'verification', code);
  assert.equal(tlsProblemOf(err('ERR_SSL_WRONG_VERSION_NUMBER')), 'handshake');
  assert.equal(
    tlsProblemOf(err('ECONNRESET', { message: 'Client network socket disconnected before secure TLS connection' })),
    'handshake',
  );
  assert.equal(tlsProblemOf(err('ECONNREFUSED')), undefined);
  assert.equal(tlsProblemOf(new Error('Connection timeout')), undefined);
});

test('the names a certificate carries: subjectAltName DNS and IP entries, then a CN not among them', () => {
  const withSan = err('ERR_TLS_CERT_ALTNAME_INVALID', {
    cert: { subject: { CN: 'dc1.example.test' }, subjectaltname: 'DNS:dc1.example.test, IP Address:127.0.0.1' },
  });
  assert.deepEqual(certificateNames(withSan), ['dc1.example.test', '127.0.0.1']);
  // Samba's auto-generated certificate: a CN and no subjectAltName.
  const cnOnly = err('ERR_TLS_CERT_ALTNAME_INVALID', { cert: { subject: { CN: 'DC1.example.test' } } });
  assert.deepEqual(certificateNames(cnOnly), ['DC1.example.test']);
  assert.deepEqual(certificateNames(err('CERT_HAS_EXPIRED')), []);
  assert.match(nameMismatchFix(['a.test', '10.0.0.1'], 'b.test'), /a\.test, 10\.0\.0\.1, not b\.test/);
});
