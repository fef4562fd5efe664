/**
 * Issue 12, locked accounts, in the answers' words: `account_locked` says when the lockout ends
 * (the directory's policy.lockedUntil) and only falls back to the policy's duration, then to "ask
 * an administrator", when the directory did not say; a reset that left the account locked says so
 * (`stillLocked` in the API body, and its message), and nothing else does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectivePolicy } from '@writeback/testkit';
import { outcomeAnswer, OutcomeBodySchema } from '../src/outcomes/http.js';
import { outcomeMessage } from '../src/outcomes/messages.js';

const NOW = Date.parse('2030-01-15T12:00:00.000Z');

test('account_locked: until when, until an administrator, the duration, or nothing known', () => {
  const policy = effectivePolicy({ lockoutDurationSeconds: 1800 });
  const until = outcomeMessage(
    { outcome: 'account_locked', policy: { ...policy, lockedUntil: '2030-01-15T12:25:00.000Z' } },
    { op: 'password.change', now: NOW },
  );
  assert.match(until, /locked until 2030-01-15T12:25:00\.000Z \(about 25 minutes from now\)/);
  assert.doesNotMatch(until, /Ask an administrator/);
  assert.match(
    outcomeMessage({ outcome: 'account_locked', policy: { ...policy, lockoutDurationSeconds: 0, lockedUntil: null } }),
    /locked until an administrator unlocks it/,
  );
  assert.match(
    outcomeMessage({ outcome: 'account_locked', policy }, { now: NOW }),
    /Try again in 30 minutes or ask an administrator/,
  );
  assert.equal(
    outcomeMessage({ outcome: 'account_locked' }),
    'The account is locked. Ask an administrator to unlock it.',
  );
});

test('a reset that left the account locked: stillLocked and a message that says so', () => {
  const locked = outcomeAnswer({ outcome: 'succeeded', data: { locked: true, mustChange: false } }, 'r1', {
    op: 'password.reset',
  });
  assert.equal(locked.body.stillLocked, true);
  assert.match(locked.body.message, /still locked/);
  assert.ok(OutcomeBodySchema.safeParse(locked.body).success);
  for (const [result, op] of [
    [{ outcome: 'succeeded', data: { locked: false } }, 'password.reset'],
    [{ outcome: 'succeeded' }, 'password.reset'],
    [{ outcome: 'succeeded', data: { locked: true } }, 'account.unlock'],
  ] as const) {
    const a = outcomeAnswer(result, 'r2', { op });
    assert.equal(a.body.stillLocked, undefined, `${op} ${JSON.stringify(result)}`);
    assert.doesNotMatch(a.body.message, /still locked/);
  }
});
