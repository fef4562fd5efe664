/**
 * The daily send budgets in the store (store/send-budgets.ts), on SQLite and PostgreSQL, same test
 * bodies: one count per key and UTC day, taken atomically up to the limit (issue 10, unlimited code
 * sends: 100 parallel sends through two nodes get exactly the limit), given back, and earlier days
 * dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAY_MS, dayOf, sendBudgetRepository } from '../src/store/send-budgets.js';
import { describeOnEveryStore } from './helpers.js';

describeOnEveryStore('send budgets', (store) => {
  let n = 0;
  const fresh = () => `test-${++n}`;

  test('counts up to the limit per key and day, and gives back', async () => {
    const repo = sendBudgetRepository(store.db);
    const key = fresh();
    const day = dayOf(Date.UTC(2026, 11, 2, 23, 59));
    assert.equal(dayOf(Date.UTC(2026, 11, 3)), day + 1);
    for (let i = 0; i < 3; i++) assert.ok(await repo.take(key, day, 3));
    assert.equal(await repo.take(key, day, 3), false);
    assert.equal(await repo.count(key, day), 3, 'a refused take counts nothing');
    await repo.giveBack(key, day);
    assert.ok(await repo.take(key, day, 3));
    assert.ok(await repo.take(key, day + 1, 3), 'a new day starts afresh');
    assert.ok(await repo.take(`${key}-other`, day, 3), 'keys are independent');
    // The tenant raised its limit: the day's count carries on under the new one.
    assert.ok(await repo.take(key, day, 5));
    assert.ok(await repo.take(key, day, 5));
    assert.equal(await repo.take(key, day, 5), false);
  });

  test('100 parallel sends on one key, through two nodes, get exactly the limit', async () => {
    const key = fresh();
    const day = dayOf(DAY_MS * 20_000);
    const nodeA = sendBudgetRepository(store.db);
    const nodeB = sendBudgetRepository(store.db);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? nodeA : nodeB).take(key, day, 7)));
    assert.equal(results.filter(Boolean).length, 7);
    assert.equal(await nodeA.count(key, day), 7);
  });

  test('earlier days are dropped', async () => {
    const repo = sendBudgetRepository(store.db);
    const key = fresh();
    await repo.take(key, 100, 3);
    await repo.take(key, 101, 3);
    assert.ok((await repo.deleteBefore(101)) >= 1);
    assert.equal(await repo.count(key, 100), 0);
    assert.equal(await repo.count(key, 101), 1);
  });
});
