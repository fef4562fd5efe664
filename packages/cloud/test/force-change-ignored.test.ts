/**
 * Issue 12: a reset asked to force a change on an AD account whose password never expires
 * (DONT_EXPIRE_PASSWD) was reported as done although the DC never asks that user to change. The
 * adapter now says `forceChangeIgnored` in the reset's data (tested against Samba in
 * packages/directory/test/ad.test.ts); the API's answer carries it as a field of its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OperationResult } from '@writeback/protocol';
import { outcomeAnswer, OutcomeBodySchema } from '../src/outcomes/http.js';

const ignored: OperationResult = {
  outcome: 'succeeded',
  historyEnforced: false,
  data: { mustChange: false, unlocked: false, forceChangeIgnored: 'password_never_expires' },
};

test('a reset whose force change the directory ignored says so in the API answer', () => {
  const a = outcomeAnswer(ignored, 'req-1', { op: 'password.reset' });
  assert.equal(a.status, 200);
  assert.equal(a.body.outcome, 'succeeded');
  assert.equal(a.body.forceChangeIgnored, 'password_never_expires');
  assert.equal(OutcomeBodySchema.parse(a.body).forceChangeIgnored, 'password_never_expires');
});

test('no forceChangeIgnored without it in the data, on another operation, or on a refusal', () => {
  const plain = outcomeAnswer({ outcome: 'succeeded', data: { mustChange: true } }, 'req-2', { op: 'password.reset' });
  assert.equal('forceChangeIgnored' in plain.body, false);
  const other = outcomeAnswer(ignored, 'req-3', { op: 'account.unlock' });
  assert.equal('forceChangeIgnored' in other.body, false);
  const refused = outcomeAnswer({ ...ignored, outcome: 'policy_violation', reasons: ['too_short'] }, 'req-4', {
    op: 'password.reset',
  });
  assert.equal('forceChangeIgnored' in refused.body, false);
});
