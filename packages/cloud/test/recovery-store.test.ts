/**
 * Conformance of the self-service repositories on SQLite and PostgreSQL, same test bodies: the
 * recovery flow persister (round trip, compare-and-set transitions, the guess counter, sweeping,
 * rows written before the state machine was renamed), the sent codes (retire on replace, tries,
 * single use) and the user methods (upsert, TOTP replay guard). Issue 9: guess counters were read,
 * incremented in memory and written back, so 100 parallel wrong answers were all checked; here
 * 100 parallel guesses on one flow (and on one code) are evaluated exactly the limit's number of times.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { recoveryFlowPersister, type RecoveryFlowRecord } from '../src/store/recovery-flows.js';
import { sentCodeRepository } from '../src/store/sent-codes.js';
import { userMethodRepository } from '../src/store/user-methods.js';
import { createTenant } from '../src/tenants/tenants.js';
import {
  assertValid,
  countedGuess,
  FLOW_MAX_ATTEMPTS,
  FlowError,
  moveFlowIn,
  type Guess,
} from '../src/usecases/recovery/flow.js';
import { describeOnEveryStore, thrownCode } from './helpers.js';

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
let seq = 0;

function newFlow(tenantId: string, over: Partial<RecoveryFlowRecord> = {}): RecoveryFlowRecord {
  seq += 1;
  return {
    id: `f${String(seq).padStart(23, '0')}`,
    tenantId,
    userKey: 'alice',
    login: 'alice',
    state: 'verifying',
    method: 'questions',
    questions: ['first_pet', 'birth_city', 'first_car'],
    verified: [],
    required: 1,
    csrfToken: 'csrf',
    attempts: 0,
    createdAt: T0,
    updatedAt: T0,
    expiresAt: T0 + 15 * 60_000,
    ...over,
  };
}

/** The FlowError code of a check, or 'valid'. */
const codeOf = (fn: () => void): string => thrownCode(fn, FlowError, 'valid');

describeOnEveryStore('self-service repositories', (store) => {
  let tenantId: string;
  before(async () => {
    tenantId = (await createTenant(store.db, { slug: `acme-${store.engine}`, name: 'Acme' }, T0)).id;
  });

  test('a flow reads back as written, with its secret hash', async () => {
    const flows = recoveryFlowPersister(store.db);
    const f = newFlow(tenantId, { userKey: null, verified: ['email'], required: 2 });
    await flows.create(f, 'hash-1');
    assert.deepEqual(await flows.get(f.id), { flow: f, secretHash: 'hash-1' });
    assert.equal(await flows.get('nope'), null);
  });

  test('transitions are compare-and-set on the state the caller saw', async () => {
    const flows = recoveryFlowPersister(store.db);
    const f = newFlow(tenantId);
    await flows.create(f, 'h');
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        flows.transition(
          f.id,
          'verifying',
          { state: 'verified', method: null, questions: [], verified: ['questions'] },
          T0 + 1,
        ),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const stored = (await flows.get(f.id))?.flow;
    assert.equal(stored?.state, 'verified');
    assert.equal(stored?.method, null);
    assert.deepEqual(stored?.verified, ['questions']);
    assert.equal(stored?.updatedAt, T0 + 1);
    // The use-case helper refuses a transition the state machine does not have.
    const copy = { ...f, state: 'verified' as const };
    await assert.rejects(moveFlowIn(flows, copy, { state: 'verifying' }, T0), TypeError);
  });

  test('100 parallel reservations on one flow: exactly the limit succeed, numbered 1..limit', async () => {
    const flows = recoveryFlowPersister(store.db);
    const f = newFlow(tenantId);
    await flows.create(f, 'h');
    const got = await Promise.all(
      Array.from({ length: 100 }, () => flows.reserveAttempt(f.id, 'verifying', FLOW_MAX_ATTEMPTS, T0)),
    );
    const counted = got.filter((n): n is number => n !== null).sort((a, b) => a - b);
    assert.deepEqual(
      counted,
      Array.from({ length: FLOW_MAX_ATTEMPTS }, (_, i) => i + 1),
    );
    assert.equal((await flows.get(f.id))?.flow.attempts, FLOW_MAX_ATTEMPTS);
    // A released guess frees one try; a reservation in another state is refused.
    await flows.releaseAttempt(f.id, T0);
    assert.equal(await flows.reserveAttempt(f.id, 'sent_code', FLOW_MAX_ATTEMPTS, T0), null);
    assert.equal(await flows.reserveAttempt(f.id, 'verifying', FLOW_MAX_ATTEMPTS, T0), FLOW_MAX_ATTEMPTS);
  });

  test('100 parallel wrong guesses on one flow: exactly the limit are evaluated, then the flow is locked', async () => {
    const flows = recoveryFlowPersister(store.db);
    const f = newFlow(tenantId);
    await flows.create(f, 'h');
    let evaluated = 0;
    const evaluate = async (): Promise<boolean> => {
      evaluated += 1;
      await new Promise((r) => setTimeout(r, 5)); // the expensive check (scrypt) takes time
      return false;
    };
    const results: Guess[] = await Promise.all(
      Array.from({ length: 100 }, () => countedGuess(flows, { ...f }, () => T0, evaluate)),
    );
    assert.equal(evaluated, FLOW_MAX_ATTEMPTS);
    assert.equal(results.filter((r) => r.kind === 'wrong').length, FLOW_MAX_ATTEMPTS - 1);
    assert.equal(results.filter((r) => r.kind === 'locked').length, 100 - (FLOW_MAX_ATTEMPTS - 1));
    const stored = (await flows.get(f.id))?.flow ?? null;
    assert.equal(stored?.state, 'failed');
    assert.equal(
      codeOf(() => assertValid(stored, T0)),
      'flow_locked',
    );
  });

  test('a right guess gives its try back: only wrong answers use up the flow', async () => {
    const flows = recoveryFlowPersister(store.db);
    const f = newFlow(tenantId);
    await flows.create(f, 'h');
    for (let i = 0; i < FLOW_MAX_ATTEMPTS - 1; i++)
      assert.equal(
        (
          await countedGuess(
            flows,
            f,
            () => T0,
            async () => false,
          )
        ).kind,
        'wrong',
      );
    assert.deepEqual(
      await countedGuess(
        flows,
        f,
        () => T0,
        async () => true,
      ),
      { kind: 'right' },
    );
    assert.equal((await flows.get(f.id))?.flow.attempts, FLOW_MAX_ATTEMPTS - 1);
    assert.equal(f.attempts, FLOW_MAX_ATTEMPTS - 1);
    // Not being answered: nothing counted, nothing evaluated.
    const choosing = newFlow(tenantId, { state: 'choose_method', method: null });
    await flows.create(choosing, 'h');
    let evaluated = 0;
    const r = await countedGuess(
      flows,
      choosing,
      () => T0,
      async () => {
        evaluated += 1;
        return true;
      },
    );
    assert.deepEqual([r.kind, evaluated], ['not_answering', 0]);
  });

  test('assertValid: expired by time, done, locked; valid otherwise', () => {
    const f = newFlow(tenantId);
    assert.equal(
      codeOf(() => assertValid(f, T0)),
      'valid',
    );
    assert.equal(
      codeOf(() => assertValid(f, f.expiresAt)),
      'flow_expired',
    );
    assert.equal(
      codeOf(() => assertValid({ ...f, state: 'done' }, T0)),
      'flow_done',
    );
    assert.equal(
      codeOf(() => assertValid(null, T0)),
      'flow_missing',
    );
  });

  test('rows written by the earlier flow code read as the new states', async () => {
    const insert = (id: string, state: string, data: string) =>
      store.db.exec(
        `INSERT INTO web_flows (id, secret_hash, tenant_id, kind, user_key, login, state, verified, required, csrf_token, failures, data, created_at, updated_at, expires_at)
           VALUES (?, 'h', ?, 'reset', 'bob', 'bob', ?, '[]', 1, 'c', 5, ?, ?, ?, ?)`,
        [id, tenantId, state, data, T0, T0, T0 + 60_000],
      );
    await insert('legacy-1', 'started', '{}');
    await insert('legacy-2', 'started', '{"current":"sms"}');
    await insert('legacy-3', 'started', '{"current":"questions","questions":["first_pet"]}');
    await insert('legacy-4', 'expired', '{"endedBy":"failures"}');
    await insert('legacy-5', 'expired', '{"endedBy":"time"}');
    await insert('legacy-6', 'something-else', 'not json');
    const flows = recoveryFlowPersister(store.db);
    const states = [];
    for (const id of ['legacy-1', 'legacy-2', 'legacy-3', 'legacy-4', 'legacy-5', 'legacy-6'])
      states.push((await flows.get(id))?.flow.state);
    assert.deepEqual(states, ['choose_method', 'sent_code', 'verifying', 'failed', 'expired', 'expired']);
    assert.deepEqual((await flows.get('legacy-3'))?.flow.questions, ['first_pet']);
  });

  test('sweeping deletes flows and codes expired before the cut-off only', async () => {
    const flows = recoveryFlowPersister(store.db);
    const old = newFlow(tenantId, { expiresAt: T0 - 1 });
    const live = newFlow(tenantId, { expiresAt: T0 + 1 });
    await flows.create(old, 'h');
    await flows.create(live, 'h');
    assert.ok((await flows.deleteExpired(T0)) >= 1);
    assert.equal(await flows.get(old.id), null);
    assert.ok(await flows.get(live.id));
    const codes = sentCodeRepository(store.db);
    const base = { tenantId, purpose: 'reset' as const, channel: 'email' as const, codeHash: 'x', createdAt: T0 };
    await codes.replace({ ...base, id: 'c-old', owner: 'sweep-a', expiresAt: T0 - 1 });
    await codes.replace({ ...base, id: 'c-live', owner: 'sweep-b', expiresAt: T0 + 1 });
    assert.ok((await codes.deleteExpired(T0)) >= 1);
    assert.equal(await codes.live(tenantId, 'sweep-a', 'reset'), null);
    assert.equal((await codes.live(tenantId, 'sweep-b', 'reset'))?.id, 'c-live');
  });

  test('codes: a new one retires the earlier, 100 parallel tries count exactly the limit, single use', async () => {
    const codes = sentCodeRepository(store.db);
    const base = { tenantId, owner: 'flow-x', purpose: 'reset' as const, channel: 'sms' as const };
    await codes.replace({ ...base, id: 'code-1', codeHash: 'h1', createdAt: T0, expiresAt: T0 + 600_000 });
    await codes.replace({ ...base, id: 'code-2', codeHash: 'h2', createdAt: T0 + 1, expiresAt: T0 + 600_000 });
    assert.deepEqual(await codes.live(tenantId, 'flow-x', 'reset'), {
      id: 'code-2',
      codeHash: 'h2',
      attempts: 0,
      expiresAt: T0 + 600_000,
    });
    assert.equal(await codes.reserveAttempt('code-1', 5, T0), null, 'a retired code takes no tries');
    const tries = await Promise.all(Array.from({ length: 100 }, () => codes.reserveAttempt('code-2', 5, T0)));
    assert.equal(tries.filter((n) => n !== null).length, 5);
    await codes.replace({ ...base, id: 'code-3', codeHash: 'h3', createdAt: T0 + 2, expiresAt: T0 + 600_000 });
    assert.equal(await codes.reserveAttempt('code-3', 5, T0 + 600_000), null, 'an expired code takes no tries');
    const used = await Promise.all(Array.from({ length: 10 }, () => codes.markUsed('code-3', T0)));
    assert.equal(used.filter(Boolean).length, 1);
    assert.equal(await codes.live(tenantId, 'flow-x', 'reset'), null);
  });

  test('user methods: upsert per kind, TOTP steps only move forward (once each), remove', async () => {
    const methods = userMethodRepository(store.db);
    await methods.put(tenantId, 'carol', { kind: 'email', value: 'a@example.com', lastStep: null }, T0);
    await methods.put(tenantId, 'carol', { kind: 'email', value: 'b@example.com', lastStep: null }, T0 + 1);
    await methods.put(tenantId, 'carol', { kind: 'totp', value: 'sealed', lastStep: 100 }, T0);
    const listed = (await methods.list(tenantId, 'carol')).sort((a, b) => a.kind.localeCompare(b.kind));
    assert.deepEqual(listed, [
      { kind: 'email', value: 'b@example.com', lastStep: null },
      { kind: 'totp', value: 'sealed', lastStep: 100 },
    ]);
    assert.equal(await methods.claimTotpStep(tenantId, 'carol', 100), false, 'the confirming step is used');
    const same = await Promise.all(Array.from({ length: 20 }, () => methods.claimTotpStep(tenantId, 'carol', 101)));
    assert.equal(same.filter(Boolean).length, 1);
    assert.equal(await methods.claimTotpStep(tenantId, 'carol', 99), false);
    assert.equal(await methods.claimTotpStep(tenantId, 'nobody', 200), false);
    assert.equal(await methods.remove(tenantId, 'carol', 'email'), true);
    assert.equal(await methods.remove(tenantId, 'carol', 'email'), false);
    assert.deepEqual(
      (await methods.list(tenantId, 'carol')).map((m) => m.kind),
      ['totp'],
    );
  });
});
