/**
 * The one backoff rule (src/backoff.ts): the exponential ceiling and cap, and the three jitters
 * (full: the agent's reconnects; a spread: AD's failing DC; none: fixed periods and bind pauses).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '@writeback/protocol';

const shape = { baseMs: 100, capMs: 1000 };

test('the ceiling doubles per attempt from baseMs and stops at capMs; negative attempts count as 0', () => {
  const none = { ...shape, jitter: 0 };
  assert.deepEqual(
    [-2, 0, 1, 2, 3, 4, 50].map((a) => backoffDelay(a, none)),
    [100, 100, 200, 400, 800, 1000, 1000],
  );
});

test('full jitter (the default) is uniform in [0, ceiling); a spread s is uniform around the ceiling ±s', () => {
  assert.equal(
    backoffDelay(3, shape, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(3, shape, () => 0.5),
    400,
  );
  assert.equal(
    backoffDelay(3, shape, () => 1),
    799,
    'never the ceiling itself',
  );
  const spread = { ...shape, jitter: 0.2 };
  assert.equal(
    backoffDelay(3, spread, () => 0),
    640,
  );
  assert.equal(
    backoffDelay(3, spread, () => 0.5),
    800,
  );
  assert.equal(
    backoffDelay(3, spread, () => 0.999),
    960,
  );
});
