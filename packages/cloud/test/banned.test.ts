/** Banned passwords: the shipped list, normalisation (case, leetspeak, outer digits/symbols), near misses, names and tenant words. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  checkBanned,
  createBannedChecker,
  isBanned,
  normaliseForBanned,
  shippedBannedChecker,
} from '../src/policy/banned.js';

const rule = (pw: string, ctx = {}) => {
  const r = checkBanned(pw, ctx);
  return r.banned ? r.rule : 'allowed';
};

describe('banned passwords', () => {
  test('the shipped list is loaded once and has thousands of entries', () => {
    const lines = readFileSync(new URL('../data/banned-passwords.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    assert.ok(lines.length >= 2000, `${lines.length}`);
    assert.ok(shippedBannedChecker().size >= 500);
    assert.equal(shippedBannedChecker(), shippedBannedChecker());
  });

  test('normalisation: case, outer digits and symbols, leetspeak (1 read as i and as l)', () => {
    assert.deepEqual(normaliseForBanned('Summer2024!'), ['summer']);
    assert.deepEqual(normaliseForBanned('P@ssw0rd'), ['password']);
    assert.deepEqual(normaliseForBanned('!!Welc0me123'), ['welcome']);
    assert.deepEqual(normaliseForBanned('Adm1n'), ['admin', 'admln']);
    assert.deepEqual(normaliseForBanned('123456'), ['123456']);
  });

  test('common passwords and their disguises are banned', () => {
    for (const pw of [
      'password',
      'Password1!',
      'P@ssw0rd2026',
      'PASSWORD',
      'Welcome123',
      'W3lc0me!',
      'Summer2025!',
      'winter24',
      'qwerty123',
      'Qwertyuiop!',
      '123456',
      '12345678',
      '1qaz2wsx',
      'Dr@g0n99',
      'Liverpool1',
      'iloveyou!!',
      'Pr1ncess',
    ]) {
      assert.equal(isBanned(pw), true, pw);
    }
  });

  test('one edit away from a long listed word counts as similar', () => {
    assert.equal(rule('Passwords1'), 'similar');
    assert.equal(rule('Footbal!'), 'similar');
    assert.equal(rule('Sunshyne7'), 'similar');
  });

  test('strong or unrelated passwords pass', () => {
    for (const pw of [
      'correct-horse-battery-staple',
      'Tq8#vLm2!zRw',
      'Gr4nite.Lantern.Oboe',
      'xK9$mQ2wZp',
      'purple-umbrella-42-mosaic',
    ]) {
      assert.equal(isBanned(pw), false, pw);
    }
  });

  test("the user's names and the tenant's words with only a few extras are banned", () => {
    const ctx = { login: 'ACME\\jsmith', displayName: 'Jonathan Smithers', tenantWords: ['Contoso'] };
    assert.equal(rule('Smithers2026!', ctx), 'user_name');
    assert.equal(rule('jsmith#1', ctx), 'user_name');
    assert.equal(rule('C0nt0so2026!', ctx), 'tenant_word');
    assert.equal(rule('contoso', { login: 'ann@contoso.com' }), 'user_name');
    assert.equal(rule('Smithers-walks-the-dog-daily', ctx), 'allowed');
    assert.equal(rule('Tq8#vLm2!zRw', ctx), 'allowed');
  });

  test('a custom list: comments and blanks skipped', () => {
    const c = createBannedChecker(['# comment', '', 'zebracrossing']);
    assert.equal(c.size, 1);
    assert.equal(c.check('Z3bracrossing!').banned, true);
    assert.equal(c.check('password').banned, false);
  });
});
