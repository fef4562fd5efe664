/** TOTP: RFC 6238 appendix B vectors, RFC 4226 vectors, base32, the window and the matched step. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  hotp,
  totpCode,
  totpStep,
  totpUri,
  verifyTotp,
} from '../src/auth/totp.js';

const SHA1_KEY = Buffer.from('12345678901234567890');
const SHA256_KEY = Buffer.from('12345678901234567890123456789012');
const SHA512_KEY = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234');

// RFC 6238 appendix B: time (s) → 8-digit codes for SHA-1, SHA-256, SHA-512.
const VECTORS: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

describe('totp', () => {
  test('RFC 6238 test vectors (SHA-1, SHA-256, SHA-512, 8 digits)', () => {
    for (const [t, sha1, sha256, sha512] of VECTORS) {
      const step = totpStep(t * 1000);
      assert.equal(hotp(SHA1_KEY, step, { digits: 8 }), sha1, `sha1 @${t}`);
      assert.equal(hotp(SHA256_KEY, step, { digits: 8, algorithm: 'sha256' }), sha256, `sha256 @${t}`);
      assert.equal(hotp(SHA512_KEY, step, { digits: 8, algorithm: 'sha512' }), sha512, `sha512 @${t}`);
    }
  });

  test('RFC 4226 appendix D HOTP values (6 digits)', () => {
    const expected = [
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
      '254676',
      '287922',
      '162583',
      '399871',
      '520489',
    ];
    for (const [counter, code] of expected.entries()) assert.equal(hotp(SHA1_KEY, counter), code);
  });

  test('base32 round trip and the RFC 4648 vectors', () => {
    assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
    assert.equal(base32Encode(Buffer.from('f')), 'MY');
    assert.equal(base32Decode('MZXW6YTBOI======').toString(), 'foobar');
    assert.equal(base32Decode('mzxw 6ytb-oi').toString(), 'foobar');
    assert.throws(() => base32Decode('MZ1W'), TypeError);
    const s = generateTotpSecret();
    assert.match(s, /^[A-Z2-7]{32}$/);
    assert.equal(base32Decode(s).length, 20);
    assert.equal(base32Encode(base32Decode(s)), s);
  });

  test('verify accepts the current step and one either side, returning the matched step', () => {
    const secret = base32Encode(SHA1_KEY);
    const now = 1_111_111_111_000;
    const step = totpStep(now);
    assert.equal(verifyTotp(secret, totpCode(secret, now), now), step);
    assert.equal(verifyTotp(secret, totpCode(secret, now - 30_000), now), step - 1);
    assert.equal(verifyTotp(secret, totpCode(secret, now + 30_000), now), step + 1);
    assert.equal(verifyTotp(secret, totpCode(secret, now - 60_000), now), null);
    assert.equal(verifyTotp(secret, totpCode(secret, now + 60_000), now), null);
    assert.equal(verifyTotp(secret, totpCode(secret, now - 60_000), now, 2), step - 2);
  });

  test('verify refuses malformed codes and secrets without throwing', () => {
    const secret = generateTotpSecret();
    const now = Date.UTC(2030, 0, 1);
    for (const bad of ['', '12345', '1234567', 'abcdef', '12 34 5x'])
      assert.equal(verifyTotp(secret, bad, now), null, bad);
    assert.equal(verifyTotp('not base32!', '123456', now), null);
    const code = totpCode(secret, now);
    assert.equal(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now), totpStep(now));
  });

  test('the otpauth URI carries issuer, account and parameters', () => {
    const uri = totpUri({ secret: 'JBSWY3DPEHPK3PXP', issuer: 'Writeback acme', account: 'alice@acme' });
    const u = new URL(uri);
    assert.equal(u.protocol, 'otpauth:');
    assert.equal(u.host, 'totp');
    assert.equal(decodeURIComponent(u.pathname), '/Writeback acme:alice@acme');
    assert.equal(u.searchParams.get('secret'), 'JBSWY3DPEHPK3PXP');
    assert.equal(u.searchParams.get('issuer'), 'Writeback acme');
    assert.equal(u.searchParams.get('digits'), '6');
    assert.equal(u.searchParams.get('period'), '30');
  });
});
