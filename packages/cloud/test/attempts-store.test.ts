/**
 * The attempt budgets in the store (rate-limit/limiter.ts over store/attempts.ts), on SQLite and
 * PostgreSQL, same test bodies: a sliding window with reservations that can be given back, all or
 * none across budgets, a limit of 0 turning a budget off, and the issue 10 attack: 100 parallel
 * attempts on one key get exactly the limit's number of slots. Two limiters over one store (two
 * cloud nodes) draw on one budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRateLimiter, reserveAll } from '../src/rate-limit/limiter.js';
import { sweepAttempts } from '../src/store/attempts.js';
import { Clock, describeOnEveryStore } from './helpers.js';

describeOnEveryStore('attempt budgets', (store) => {
  let n = 0;
  /** A fresh budget name per test, so tests never share counts. */
  const fresh = () => `test-${++n}`;

  test('sliding window with reservations that can be released', async () => {
    const clock = new Clock(1_000_000);
    const rl = createRateLimiter(store.db, fresh(), { limit: 2, windowSeconds: 60 }, clock.now);
    const a = await rl.reserve('k');
    assert.ok(a.ok);
    clock.advance(10_000);
    assert.ok((await rl.reserve('k')).ok);
    const refused = await rl.reserve('k');
    assert.ok(!refused.ok);
    assert.equal(refused.retryAfterSeconds, 50, 'until the oldest attempt leaves the window');
    if (a.ok) await a.release();
    assert.ok((await rl.reserve('k')).ok, 'a released reservation frees its slot');
    assert.ok(!(await rl.reserve('k')).ok);
    clock.advance(59_999);
    assert.ok(!(await rl.reserve('k')).ok, 'both attempts made at 10 s are still inside the window at 69.999 s');
    clock.advance(1);
    assert.ok((await rl.reserve('k')).ok, 'they left the window at 70 s');
    assert.ok((await rl.reserve('other')).ok, 'keys are independent');
    assert.equal(await rl.count('k'), 1, 'only the one made at 70 s is in the window');
  });

  test('reserveAll takes all or nothing', async () => {
    const clock = new Clock(1_000_000);
    const user = createRateLimiter(store.db, fresh(), { limit: 1, windowSeconds: 60 }, clock.now);
    const ip = createRateLimiter(store.db, fresh(), { limit: 5, windowSeconds: 60 }, clock.now);
    const both = [
      [user, 'u'],
      [ip, 'i'],
    ] as const;
    assert.ok((await reserveAll(both)).ok);
    assert.ok(!(await reserveAll(both)).ok);
    assert.equal(await ip.count('i'), 1, 'the refused attempt did not keep its IP slot');
  });

  test('a limit of 0 disables the budget', async () => {
    const rl = createRateLimiter(store.db, fresh(), { limit: 0, windowSeconds: 60 }, () => 1_000_000);
    for (let i = 0; i < 20; i++) assert.ok((await rl.reserve('k')).ok);
    assert.equal(await rl.count('k'), 0);
  });

  test('100 parallel attempts on one key, through two nodes, get exactly the limit', async () => {
    const name = fresh();
    const clock = new Clock(1_000_000);
    const nodeA = createRateLimiter(store.db, name, { limit: 10, windowSeconds: 900 }, clock.now);
    const nodeB = createRateLimiter(store.db, name, { limit: 10, windowSeconds: 900 }, clock.now);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? nodeA : nodeB).reserve('alice')));
    assert.equal(results.filter((r) => r.ok).length, 10);
    assert.equal(await nodeA.count('alice'), 10);
    for (const r of results) if (!r.ok) assert.ok(r.retryAfterSeconds > 0 && r.retryAfterSeconds <= 900);
  });

  test('the sweep drops what has left every window', async () => {
    const clock = new Clock(1_000_000);
    const rl = createRateLimiter(store.db, fresh(), { limit: 3, windowSeconds: 60 }, clock.now);
    await rl.reserve('k');
    clock.advance(61_000);
    assert.ok((await sweepAttempts(store.db, clock.now() - 60_000)) >= 1);
    assert.equal(await rl.count('k'), 0);
  });
});
