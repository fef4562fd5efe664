/** scrypt hashing of the embedded directory: encoding, salts, verification, history matching. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HASH_COST } from '../src/index.js';
import { decodeHash, digestAndMatch, hashPassword, matchesAny, newSalt, verifyPassword } from '../src/embedded/hash.js';

const fast = HASH_COST.fast;

describe('embedded hash', () => {
  it('self-describing encoding with a fresh salt per hash', async () => {
    const a = await hashPassword('Secret-Pw-1', fast);
    const b = await hashPassword('Secret-Pw-1', fast);
    assert.match(a, /^scrypt\$1024\$1\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(a, b, 'same password, different salts');
    assert.equal(a.includes('Secret-Pw-1'), false);
    assert.deepEqual(decodeHash(a)?.cost, { N: 1024, r: 1, p: 1 });
  });

  it('verifies the right password only; malformed or hostile hashes never verify', async () => {
    const h = await hashPassword('Secret-Pw-1', fast);
    assert.equal(await verifyPassword('Secret-Pw-1', h), true);
    assert.equal(await verifyPassword('secret-pw-1', h), false);
    assert.equal(await verifyPassword('', h), false);
    for (const bad of [
      '',
      'scrypt$',
      'bcrypt$1$2$3$4$5',
      h.replace('$1024$', '$1000$'),
      h.replace('$1024$', '$4194304$'),
      `${h}$x`,
    ]) {
      assert.equal(await verifyPassword('Secret-Pw-1', bad), false, bad.slice(0, 30));
    }
  });

  it('a hash made with another cost still verifies after the cost changes', async () => {
    const old = await hashPassword('Secret-Pw-1', { N: 2048, r: 1, p: 1 });
    assert.equal(await verifyPassword('Secret-Pw-1', old), true);
  });

  it('history digests share a salt, so one derivation checks them all; other groups still match', async () => {
    const salt = newSalt();
    const history = [await hashPassword('Old-One-1', fast, salt), await hashPassword('Old-Two-2', fast, salt)];
    const hit = await digestAndMatch('Old-Two-2', fast, salt, history);
    assert.equal(hit.matched, true);
    assert.equal(hit.digest, history[1], 'same salt and cost: the digest is the remembered one');
    assert.equal((await digestAndMatch('Brand-New-3', fast, salt, history)).matched, false);
    const legacy = await hashPassword('Legacy-4', { N: 2048, r: 1, p: 1 });
    assert.equal((await digestAndMatch('Legacy-4', fast, salt, [...history, legacy])).matched, true);
    assert.equal(await matchesAny('Old-One-1', history), true);
    assert.equal(await matchesAny('nope', history), false);
  });
});
