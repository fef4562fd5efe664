/**
 * The password_expiry repository (store/password-expiry.ts, issue 12 expiry reminders) on SQLite
 * and PostgreSQL, same test bodies: learnt maximum ages replace each other; a reminder per user
 * and expiry date is claimed exactly once, also by 40 parallel claims through two pools (two cloud
 * nodes); a new expiry date is a new reminder; old dates are dropped; a tenant's directory reads
 * are claimed by one node per slot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { passwordExpiryRepository, reminderKey } from '../src/store/password-expiry.js';
import { describeOnEveryStore, openTempStore } from './helpers.js';

describeOnEveryStore('password expiry', (store) => {
  test('a learnt maximum age is kept per tenant and user, and replaced', async () => {
    const repo = passwordExpiryRepository(store.db);
    await repo.putMaxAge('t1', 'u1', 42 * 86_400, 1000);
    await repo.putMaxAge('t1', 'u2', 0, 1000);
    await repo.putMaxAge('t2', 'u1', 7 * 86_400, 1000);
    await repo.putMaxAge('t1', 'u1', 90 * 86_400, 2000);
    const ages = await repo.maxAges('t1');
    assert.equal(ages.size, 2);
    assert.deepEqual(ages.get('u1'), { userId: 'u1', maxAgeSeconds: 90 * 86_400, learnedAt: 2000 });
    assert.equal(ages.get('u2')?.maxAgeSeconds, 0, 'never expires is stored as 0');
    assert.equal((await repo.maxAges('t2')).get('u1')?.maxAgeSeconds, 7 * 86_400);
  });

  test('one reminder per user and expiry date', async () => {
    const repo = passwordExpiryRepository(store.db);
    assert.equal(await repo.claimReminder('t1', 'u1', '2030-02-01', 1), true);
    assert.equal(await repo.claimReminder('t1', 'u1', '2030-02-01', 2), false, 'the same date again');
    assert.equal(await repo.claimReminder('t1', 'u1', '2030-03-15', 3), true, 'a new expiry date');
    assert.equal(await repo.claimReminder('t1', 'u2', '2030-02-01', 4), true, 'another user');
    assert.equal(await repo.claimReminder('t2', 'u1', '2030-02-01', 5), true, 'another tenant');
    const keys = await repo.reminded('t1');
    assert.deepEqual(
      [...keys].sort(),
      [reminderKey('u1', '2030-02-01'), reminderKey('u1', '2030-03-15'), reminderKey('u2', '2030-02-01')].sort(),
    );
    assert.equal(await repo.deleteRemindersBefore('2030-03-01'), 3);
    assert.deepEqual([...(await repo.reminded('t1'))], [reminderKey('u1', '2030-03-15')]);
  });

  test("a tenant's directory reads are claimed once per slot, and old slots dropped", async () => {
    const repo = passwordExpiryRepository(store.db);
    assert.equal(await repo.claimLearning('t1', 100, 1), true);
    assert.equal(await repo.claimLearning('t1', 100, 2), false);
    assert.equal(await repo.claimLearning('t1', 101, 3), true);
    assert.equal(await repo.claimLearning('t2', 100, 4), true);
    assert.equal(await repo.deleteLearningBefore(101), 2);
    assert.equal(await repo.claimLearning('t1', 100, 5), true, 'dropped, so free again');
  });

  test('40 parallel claims of one reminder through two pools: exactly one wins', async () => {
    // A second connection pool on the same database plays the second cloud node.
    const other = await openTempStore(store.temp, { migrate: false });
    try {
      const nodes = [passwordExpiryRepository(store.db), passwordExpiryRepository(other)];
      for (let round = 0; round < 5; round++) {
        const day = `2031-01-${String(round + 10)}`;
        const won = await Promise.all(
          Array.from({ length: 40 }, (_, i) => nodes[i % 2]?.claimReminder('race', 'u9', day, i) ?? false),
        );
        assert.equal(won.filter(Boolean).length, 1, `round ${round}`);
        const learning = await Promise.all(
          Array.from({ length: 40 }, (_, i) => nodes[i % 2]?.claimLearning('race', 500 + round, i) ?? false),
        );
        assert.equal(learning.filter(Boolean).length, 1, `learning, round ${round}`);
      }
    } finally {
      await other.close();
    }
  });
});
