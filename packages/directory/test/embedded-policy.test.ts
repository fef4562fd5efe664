/** AD password rules as pure functions: every reason, several at once, names, lockout arithmetic. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkPasswordQuality,
  complexityCategories,
  containsUserName,
  DEFAULT_POLICY,
  displayNameTokens,
  expiresAt,
  isExpired,
  isLocked,
  mergePolicy,
  minAgeBlocks,
  NO_LOCKOUT,
  recordBadAttempt,
  toEffectivePolicy,
} from '../src/embedded/policy.js';
import { EffectivePolicySchema } from '@writeback/protocol';

const alice = { login: 'asmith', displayName: 'Alice Smith-Jones' };

describe('embedded policy: quality rules', () => {
  it('accepts a long, complex password unrelated to the user', () => {
    assert.deepEqual(checkPasswordQuality('Tr0ub4dor&3', DEFAULT_POLICY, alice), []);
  });

  it('defaults look like a fresh AD domain', () => {
    assert.equal(DEFAULT_POLICY.minLength, 8);
    assert.equal(DEFAULT_POLICY.maxLength, 256);
    assert.equal(DEFAULT_POLICY.complexity, true);
    assert.equal(DEFAULT_POLICY.historyLength, 24);
    assert.equal(DEFAULT_POLICY.minAgeSeconds, 86400);
    assert.equal(DEFAULT_POLICY.maxAgeSeconds, 42 * 86400);
    assert.equal(DEFAULT_POLICY.lockoutThreshold, 5);
    assert.equal(DEFAULT_POLICY.lockoutDurationSeconds, 900);
  });

  it('too_short and too_long count code points', () => {
    assert.deepEqual(checkPasswordQuality('Ab1!xyz', DEFAULT_POLICY, alice), ['too_short']);
    const p = mergePolicy(DEFAULT_POLICY, { maxLength: 10 });
    assert.deepEqual(checkPasswordQuality('Ab1!xyzxyzx', p, alice), ['too_long']);
    // Four emoji are 8 UTF-16 units but 4 characters.
    assert.deepEqual(checkPasswordQuality('😀😀😀😀', mergePolicy(DEFAULT_POLICY, { complexity: false }), alice), [
      'too_short',
    ]);
  });

  it('complexity needs three of five categories', () => {
    assert.equal(complexityCategories('abcdefgh'), 1);
    assert.equal(complexityCategories('abcdEFGH'), 2);
    assert.equal(complexityCategories('abcdEFG1'), 3);
    assert.equal(complexityCategories('abc 1234'), 3, 'space is non-alphanumeric');
    assert.equal(complexityCategories('密码abc123'), 3, 'CJK letters are the fifth category');
    assert.equal(complexityCategories('Aa1!密'), 5);
    assert.deepEqual(checkPasswordQuality('abcdefgh', DEFAULT_POLICY, alice), ['complexity']);
    assert.deepEqual(checkPasswordQuality('abcdefg1', DEFAULT_POLICY, alice), ['complexity']);
    assert.deepEqual(checkPasswordQuality('abcdefG1', DEFAULT_POLICY, alice), []);
  });

  it('returns every failing reason at once, in vocabulary order', () => {
    assert.deepEqual(checkPasswordQuality('abc', DEFAULT_POLICY, alice), ['too_short', 'complexity']);
    assert.deepEqual(checkPasswordQuality('asmith', DEFAULT_POLICY, alice), [
      'too_short',
      'complexity',
      'contains_user_name',
    ]);
    const p = mergePolicy(DEFAULT_POLICY, { maxLength: 8 });
    assert.deepEqual(checkPasswordQuality('xxasmithxx', p, alice), ['too_long', 'complexity', 'contains_user_name']);
  });

  it('contains_user_name: account name, case-insensitive, only when 3 characters or more', () => {
    assert.deepEqual(checkPasswordQuality('My-ASMITH-pw1', DEFAULT_POLICY, alice), ['contains_user_name']);
    assert.equal(containsUserName('xxJo1!Abc', { login: 'jo' }), false, 'a 2-character login is not checked');
    assert.equal(containsUserName('xxJoe1!Abc', { login: 'joe' }), true);
  });

  it('contains_user_name: display-name tokens of 3+ characters, split on , . - _ # tab space', () => {
    assert.deepEqual(displayNameTokens('Alice Smith-Jones'), ['Alice', 'Smith', 'Jones']);
    assert.deepEqual(displayNameTokens('Lo, Al.Bert_Ed#Ng\tVan'), ['Bert', 'Van']);
    assert.deepEqual(checkPasswordQuality('Winter!jones9', DEFAULT_POLICY, alice), ['contains_user_name']);
    assert.deepEqual(checkPasswordQuality('Al1ce!Wonder', DEFAULT_POLICY, alice), []);
    assert.equal(
      containsUserName('Xx1!ngAbc', { login: 'zz-user', displayName: 'Ed Ng' }),
      false,
      'short tokens ignored',
    );
  });

  it('name and complexity rules are off when complexity is off', () => {
    const p = mergePolicy(DEFAULT_POLICY, { complexity: false });
    assert.deepEqual(checkPasswordQuality('asmithasmith', p, alice), []);
  });
});

describe('embedded policy: ages and lockout', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const day = 86_400_000;

  it('minimum age blocks until a day has passed, not when the password was never set', () => {
    assert.equal(minAgeBlocks({ passwordLastSetAt: t0 }, DEFAULT_POLICY, t0 + day - 1), true);
    assert.equal(minAgeBlocks({ passwordLastSetAt: t0 }, DEFAULT_POLICY, t0 + day), false);
    assert.equal(minAgeBlocks({ passwordLastSetAt: null }, DEFAULT_POLICY, t0), false);
  });

  it('expiry after maxAge; 0 means never', () => {
    assert.equal(expiresAt({ passwordLastSetAt: t0 }, DEFAULT_POLICY), t0 + 42 * day);
    assert.equal(isExpired({ passwordLastSetAt: t0 }, DEFAULT_POLICY, t0 + 42 * day), true);
    assert.equal(
      isExpired({ passwordLastSetAt: t0 }, mergePolicy(DEFAULT_POLICY, { maxAgeSeconds: 0 }), t0 + 1000 * day),
      false,
    );
  });

  it('locks at the threshold within the window, clears after the duration', () => {
    let s = { ...NO_LOCKOUT };
    for (let i = 0; i < 4; i++) s = recordBadAttempt(s, DEFAULT_POLICY, t0 + i * 1000);
    assert.equal(isLocked(s, DEFAULT_POLICY, t0 + 5000), false);
    s = recordBadAttempt(s, DEFAULT_POLICY, t0 + 5000);
    assert.equal(isLocked(s, DEFAULT_POLICY, t0 + 5000), true);
    assert.equal(isLocked(s, DEFAULT_POLICY, t0 + 5000 + 15 * 60_000), false);
    // After the lockout expired, counting starts over.
    s = recordBadAttempt(s, DEFAULT_POLICY, t0 + 5000 + 15 * 60_000);
    assert.equal(s.badCount, 1);
  });

  it('bad attempts outside the observation window start over', () => {
    let s = { ...NO_LOCKOUT };
    for (let i = 0; i < 4; i++) s = recordBadAttempt(s, DEFAULT_POLICY, t0);
    s = recordBadAttempt(s, DEFAULT_POLICY, t0 + 15 * 60_000);
    assert.equal(s.badCount, 1);
    assert.equal(s.lockedAt, null);
  });

  it('threshold 0 never locks; duration 0 locks until unlocked', () => {
    const never = mergePolicy(DEFAULT_POLICY, { lockoutThreshold: 0 });
    assert.equal(recordBadAttempt(NO_LOCKOUT, never, t0), NO_LOCKOUT);
    const forever = mergePolicy(DEFAULT_POLICY, { lockoutThreshold: 1, lockoutDurationSeconds: 0 });
    const s = recordBadAttempt(NO_LOCKOUT, forever, t0);
    assert.equal(isLocked(s, forever, t0 + 365 * day), true);
  });

  it('effective policy matches the protocol schema, fine-grained when named', () => {
    const e = toEffectivePolicy(DEFAULT_POLICY, { now: t0, times: { passwordLastSetAt: t0 } });
    assert.equal(EffectivePolicySchema.parse(e).source, 'embedded');
    assert.equal(e.nextChangeAllowedAt, new Date(t0 + day).toISOString());
    assert.equal(e.expiresAt, new Date(t0 + 42 * day).toISOString());
    const f = toEffectivePolicy(DEFAULT_POLICY, { now: t0, name: 'admins' });
    assert.equal(f.source, 'fine_grained');
    assert.equal(f.name, 'admins');
  });
});
