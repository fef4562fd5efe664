/** Reconnect backoff: exponential ceiling, full jitter, cap. Pure function, no clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, backoffDelay } from '../src/index.js';

test('the ceiling doubles from 250 ms per attempt and stops at 30 s', () => {
  const almostOne = () => 1 - 1e-12;
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 8, 20, 1_000].map((a) => backoffDelay(a, DEFAULT_BACKOFF, almostOne));
  assert.deepEqual(ceilings, [249, 499, 999, 1_999, 3_999, 7_999, 15_999, 29_999, 29_999, 29_999, 29_999]);
});

test('full jitter: the delay is uniform in [0, ceiling)', () => {
  assert.equal(
    backoffDelay(5, DEFAULT_BACKOFF, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(5, DEFAULT_BACKOFF, () => 0.5),
    4_000,
  );
  assert.equal(
    backoffDelay(3, { baseMs: 100, capMs: 10_000 }, () => 0.25),
    200,
  );
  // A misbehaving random source cannot push the delay outside the range.
  assert.equal(
    backoffDelay(2, DEFAULT_BACKOFF, () => 7),
    999,
  );
  assert.equal(
    backoffDelay(2, DEFAULT_BACKOFF, () => -1),
    0,
  );
});

test('with Math.random every delay stays within its ceiling', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(30_000, 250 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d}`);
    }
  }
});

test('negative attempts behave as the first', () => {
  assert.equal(
    backoffDelay(-3, DEFAULT_BACKOFF, () => 0.5),
    125,
  );
});
