/** Small pure parts: outcome messages, the password generator, the rate limiter, token parsing. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OUTCOME_CODES, OPERATIONS, POLICY_REASONS } from '@writeback/protocol';
import { outcomeMessage, reasonMessage } from '../src/outcomes/messages.js';
import { generatePassword } from '../src/writeback/password-generator.js';
import { issueToken, parseToken, secretMatches } from '../src/auth/tokens.js';
import { HASH_CONCURRENCY, HASH_QUEUE, hashGate, hashPassword, verifyPassword } from '../src/auth/passwords.js';
import { CloudError } from '../src/errors.js';
import { effectivePolicy } from './helpers.js';

const POLICY = effectivePolicy({ minLength: 12, maxLength: 20, historyLength: 24, minAgeSeconds: 86_400 });
const NOW = Date.UTC(2030, 0, 15, 12);

describe('outcome messages', () => {
  test('every outcome has a message for every operation, with no placeholder left', () => {
    for (const op of OPERATIONS) {
      for (const outcome of OUTCOME_CODES) {
        const m = outcomeMessage({ outcome }, { op, now: NOW });
        assert.ok(m.length > 5 && !m.includes('undefined'), `${op} ${outcome}`);
      }
    }
  });

  test('reasons are explained with the policy values', () => {
    assert.equal(reasonMessage('too_short', POLICY), 'The password must be at least 12 characters long.');
    assert.equal(reasonMessage('too_long', POLICY), 'The password must be at most 20 characters long.');
    assert.equal(reasonMessage('history', POLICY), 'The password must not be one of your last 24 passwords.');
    assert.match(reasonMessage('complexity', POLICY), /three of these four groups/);
    assert.match(reasonMessage('contains_user_name', POLICY), /user name/);
    for (const r of POLICY_REASONS) assert.ok(reasonMessage(r, undefined, NOW).length > 10, r);
  });

  test('minimum age names the time from which a change is allowed', () => {
    const at = new Date(NOW + 26 * 3_600_000).toISOString();
    const m = reasonMessage('min_age', { ...POLICY, nextChangeAllowedAt: at }, NOW);
    assert.ok(m.includes(at));
    assert.ok(m.includes('1 day'));
    assert.ok(reasonMessage('min_age', POLICY, NOW).includes('once every 1 day'));
  });

  test('a policy violation joins its reasons; locked accounts say how long', () => {
    const m = outcomeMessage(
      { outcome: 'policy_violation', reasons: ['too_short', 'history'], policy: POLICY },
      { op: 'password.change' },
    );
    assert.equal(
      m,
      'The password must be at least 12 characters long. The password must not be one of your last 24 passwords.',
    );
    assert.match(outcomeMessage({ outcome: 'account_locked', policy: POLICY }), /30 minutes/);
    assert.match(
      outcomeMessage({ outcome: 'access_denied', missingRight: 'Reset Password' }, { op: 'password.reset' }),
      /missing right: Reset Password/,
    );
  });

  test('uncertain outcomes never read as success', () => {
    for (const outcome of ['timeout', 'outcome_unknown'] as const) {
      const m = outcomeMessage({ outcome }, { op: 'password.reset' });
      assert.match(m, /not reported as a success/);
    }
    assert.equal(
      outcomeMessage({ outcome: 'agent_unavailable' }, { op: 'password.change' }),
      'The on-premises password service is unreachable; nothing was changed.',
    );
  });
});

describe('password generator', () => {
  test('meets length bounds and all four groups; never contains the login', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword(POLICY, 'jane.doe');
      assert.ok(p.length >= 12 && p.length <= 20, String(p.length));
      for (const re of [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/]) assert.match(p, re);
      assert.ok(!/jane|doe/i.test(p));
    }
    assert.equal(generatePassword(null).length, 20);
    assert.equal(generatePassword({ minLength: 40 }).length, 40);
    assert.equal(generatePassword({ minLength: 0, maxLength: 8 }).length, 8);
  });
});

describe('tokens and password hashes', () => {
  test('hashing is gated: a burst beyond the running and waiting slots is refused at once with rate_limited', async () => {
    const stored = await hashPassword('the right one');
    const extra = 10;
    const burst = Array.from({ length: HASH_CONCURRENCY + HASH_QUEUE + extra }, (_, i) =>
      verifyPassword(`guess-${i}`, stored).then(
        () => 'checked',
        (err: unknown) => (err instanceof CloudError ? err.code : 'other'),
      ),
    );
    // Background hashing (the cloud hash after a write) is never refused: it waits its turn.
    const background = hashPassword('recorded after a write', { queueAlways: true });
    const answers = await Promise.all(burst);
    assert.equal(answers.filter((a) => a === 'rate_limited').length, extra);
    assert.equal(answers.filter((a) => a === 'checked').length, HASH_CONCURRENCY + HASH_QUEUE);
    assert.match(await background, /^scrypt\$/);
    assert.deepEqual(hashGate(), { running: 0, waiting: 0 }, 'every slot was given back');
    assert.equal(await verifyPassword('the right one', stored), true);
  });

  test('tokens parse only in their own kind; secrets compare by hash', () => {
    const t = issueToken('wbt');
    const parsed = parseToken('wbt', t.token);
    assert.ok(parsed);
    assert.equal(parsed.id, t.id);
    assert.equal(parseToken('wbk', t.token), null);
    assert.equal(parseToken('wbt', `${t.token}x`), null);
    assert.ok(secretMatches(parsed.secret, t.secretHash));
    assert.ok(!secretMatches(parsed.secret, undefined));
    assert.ok(!secretMatches('x'.repeat(43), t.secretHash));
  });

  test('scrypt hashes verify only the right password', async () => {
    const h = await hashPassword('pässwörd-Ω');
    assert.match(h, /^scrypt\$16384\$8\$1\$/);
    assert.ok(await verifyPassword('pässwörd-Ω', h));
    assert.ok(!(await verifyPassword('passwörd-Ω', h)));
    assert.ok(!(await verifyPassword('x', 'not-a-hash')));
  });
});
