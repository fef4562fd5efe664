/**
 * The idempotency_keys repository (store/idempotency-keys.ts, issue 11), same bodies on SQLite and
 * PostgreSQL: a key is claimed once, even by 20 concurrent claims through two pools (two nodes);
 * only the claim that holds it can renew, link a write, finish, release or abandon it; a key past
 * its lifetime can be claimed afresh; keys are per tenant and caller; the sweep drops old keys.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  abandonIdempotencyKey,
  claimIdempotencyKey,
  finishIdempotencyKey,
  getIdempotencyKey,
  linkIdempotencyWrite,
  releaseIdempotencyKey,
  renewIdempotencyLease,
  sweepIdempotencyKeys,
  type NewClaim,
} from '../src/store/idempotency-keys.js';
import type { Db } from '../src/store/index.js';
import { describeOnEveryStore, openTempStore } from './helpers.js';

const DAY = 86_400_000;

describeOnEveryStore('idempotency keys', (store) => {
  let n = 0;
  const scope = (over: Partial<NewClaim> = {}) => ({
    tenantId: 't1',
    caller: 'api_key:k1',
    key: `key-${++n}`,
    ...over,
  });
  const claimOf = (s: { tenantId: string; caller: string; key: string }, claim: string, at = 1_000): NewClaim => ({
    ...s,
    route: 'resetPassword',
    fingerprint: 'fp-1',
    claim,
    leaseUntil: at + 10_000,
    createdAt: at,
    expiredBefore: at - DAY,
  });
  let second: Db;
  before(async () => {
    second = await openTempStore(store.temp, { migrate: false });
  });
  after(() => second.close());

  test('20 concurrent claims of one key through two nodes: exactly one runs', async () => {
    const s = scope();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => claimIdempotencyKey(i % 2 ? store.db : second, claimOf(s, `c${i}`))),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = `c${results.indexOf(true)}`;
    const rec = await getIdempotencyKey(store.db, s);
    assert.equal(rec?.claim, winner);
    assert.equal(rec?.state, 'running');
    assert.equal(rec?.requestId, null);
    assert.equal(rec?.fingerprint, 'fp-1');
    assert.equal(rec?.leaseUntil, 11_000);
  });

  test('only the holding claim renews, links one write and finishes; a finished key stays finished', async () => {
    const s = scope();
    assert.ok(await claimIdempotencyKey(store.db, claimOf(s, 'mine')));
    assert.equal(await renewIdempotencyLease(store.db, s, 'other', 99_000), false);
    assert.ok(await renewIdempotencyLease(store.db, s, 'mine', 50_000));
    assert.equal((await getIdempotencyKey(store.db, s))?.leaseUntil, 50_000);
    assert.equal(await linkIdempotencyWrite(store.db, s, 'other', 'req-x'), false);
    assert.ok(await linkIdempotencyWrite(store.db, s, 'mine', 'req-1'));
    assert.equal(await linkIdempotencyWrite(store.db, s, 'mine', 'req-2'), false, 'the first write is the one noted');
    assert.equal(
      await finishIdempotencyKey(store.db, s, 'other', { status: 200, answerSealed: 'x', finishedAt: 2 }),
      false,
    );
    assert.ok(
      await finishIdempotencyKey(store.db, s, 'mine', { status: 502, answerSealed: 'sealed', finishedAt: 2_000 }),
    );
    const rec = await getIdempotencyKey(store.db, s);
    assert.deepEqual(
      [rec?.state, rec?.status, rec?.answerSealed, rec?.requestId, rec?.finishedAt],
      ['done', 502, 'sealed', 'req-1', 2_000],
    );
    // Done: nothing changes it any more, and it is not claimed again within its lifetime.
    assert.equal(await renewIdempotencyLease(store.db, s, 'mine', 1), false);
    assert.equal(await abandonIdempotencyKey(store.db, s, 'mine'), false);
    assert.equal(await releaseIdempotencyKey(store.db, s, 'mine'), false);
    assert.equal(await claimIdempotencyKey(store.db, claimOf(s, 'again', 5_000)), false);
  });

  test('release frees a key that made no write; abandon ends the lease', async () => {
    const s = scope();
    assert.ok(await claimIdempotencyKey(store.db, claimOf(s, 'a')));
    assert.equal(await releaseIdempotencyKey(store.db, s, 'b'), false);
    assert.ok(await releaseIdempotencyKey(store.db, s, 'a'));
    assert.equal(await getIdempotencyKey(store.db, s), undefined);
    assert.ok(await claimIdempotencyKey(store.db, claimOf(s, 'b')));
    assert.ok(await linkIdempotencyWrite(store.db, s, 'b', 'req-b'));
    assert.equal(await releaseIdempotencyKey(store.db, s, 'b'), false, 'a key with a write is never given back');
    assert.ok(await abandonIdempotencyKey(store.db, s, 'b'));
    const rec = await getIdempotencyKey(store.db, s);
    assert.deepEqual([rec?.state, rec?.leaseUntil, rec?.requestId], ['running', 0, 'req-b']);
  });

  test('keys are per tenant and caller; a key past its lifetime is claimed afresh; the sweep drops old keys', async () => {
    const s = scope();
    assert.ok(await claimIdempotencyKey(store.db, claimOf(s, 'a')));
    assert.ok(await claimIdempotencyKey(store.db, claimOf({ ...s, caller: 'api_key:k2' }, 'b')), 'another caller');
    assert.ok(await claimIdempotencyKey(store.db, claimOf({ ...s, tenantId: 't2' }, 'c')), 'another tenant');
    assert.ok(await finishIdempotencyKey(store.db, s, 'a', { status: 200, answerSealed: 'old', finishedAt: 1_500 }));
    // A day later the same key is a new key.
    assert.ok(await claimIdempotencyKey(store.db, { ...claimOf(s, 'later', 1_000 + DAY + 1), fingerprint: 'fp-2' }));
    const rec = await getIdempotencyKey(store.db, s);
    assert.deepEqual(
      [rec?.claim, rec?.state, rec?.fingerprint, rec?.answerSealed, rec?.createdAt],
      ['later', 'running', 'fp-2', null, 1_000 + DAY + 1],
    );
    assert.ok((await sweepIdempotencyKeys(store.db, 1_001)) >= 2);
    assert.equal(await getIdempotencyKey(store.db, { ...s, caller: 'api_key:k2' }), undefined);
    assert.ok(await getIdempotencyKey(store.db, s), 'the young one stays');
  });
});
