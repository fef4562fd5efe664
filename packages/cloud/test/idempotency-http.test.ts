/**
 * `Idempotency-Key` on the API's write routes (issue 11, "the API a caller can trust after a lost
 * connection"), over real HTTP with agents holding real keys behind an in-test relay: a retry gets
 * the first answer (status, body, `Idempotent-Replayed`) and never writes twice, also when eight
 * copies arrive at once; a generated temporaryPassword is replayed but never stored in clear;
 * another request with the key is 422 `idempotency_key_reused`; another API key's key is its own;
 * "try again later" refusals free the key; the OpenAPI document lists the header on every write
 * route that takes it. Then the rules for a first request that is still running on another node or
 * ended without an answer (idempotency/idempotency.ts over a real store). The cloud process killed
 * mid-request is idempotency-kill.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createLogger } from '@writeback/protocol';
import { finishRecord, getAuditByRequestId, insertPending } from '../src/audit/audit.js';
import { defineRoute } from '../src/http/route.js';
import {
  beginIdempotent,
  fingerprintOf,
  sweepExpiredIdempotencyKeys,
  type IdempotencyDeps,
} from '../src/idempotency/idempotency.js';
import { loadOrCreateCloudKey } from '../src/keys/cloud-key.js';
import { claimIdempotencyKey, getIdempotencyKey, linkIdempotencyWrite } from '../src/store/idempotency-keys.js';
import { openStore, type Db } from '../src/store/index.js';
import { createTenant } from '../src/tenants/tenants.js';
import {
  api,
  Clock,
  cloudErrorCode,
  errorCode,
  field,
  str,
  waitFor,
  type ApiResponse,
  type Started,
  type TestAgent,
  startScriptedCloud,
} from './helpers.js';

const REPLAYED = 'idempotent-replayed';

describe('Idempotency-Key over HTTP', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  let otherKey: string;
  let agent: TestAgent;
  let clock: Clock;
  let n = 0;
  const newKey = () => `key-${++n}-${Math.random().toString(36).slice(2)}`;

  before(async () => {
    ({ s, base, apiKey, agent, clock } = await startScriptedCloud({
      rateLimits: {
        passwordChangePerUser: { limit: 2, windowSeconds: 900 },
        passwordChangePerIp: { limit: 50, windowSeconds: 900 },
      },
    }));
    otherKey = (await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: { name: 'second' } })).apiKey ?? '';
  });
  after(() => s.stop());
  beforeEach(() => {
    agent.opened = [];
    agent.script = () => ({ outcome: 'succeeded' });
  });

  const writes = (op = 'password.reset') => agent.opened.filter((r) => r.op === op).length;
  const reset = (key: string | null, body: unknown, o: { token?: string; login?: string } = {}) =>
    api(base, 'POST', `/api/v1/tenants/acme/users/${o.login ?? 'alice'}/password/reset`, {
      token: o.token ?? apiKey,
      body,
      ...(key !== null ? { headers: { 'idempotency-key': key } } : {}),
    });
  const sameAnswer = (a: ApiResponse, b: ApiResponse) => {
    assert.equal(b.status, a.status);
    assert.deepEqual(b.json, a.json);
  };

  test('a retry with the same key gets the first answer and writes nothing; without a key each request writes', async () => {
    const key = newKey();
    const body = { newPassword: 'Given-Password-2030!', forceChange: false };
    const first = await reset(key, body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get(REPLAYED), null);
    const again = await reset(key, body);
    sameAnswer(first, again);
    assert.equal(again.headers.get(REPLAYED), 'true');
    assert.equal(again.headers.get('cache-control'), 'no-store');
    assert.equal(writes(), 1, 'one write reached the agent');
    const rec = await getAuditByRequestId(s.cloud.store, str(first.json, 'requestId'));
    assert.equal(rec?.outcome, 'succeeded');
    // The same body in another key order is the same request.
    sameAnswer(first, await reset(key, { forceChange: false, newPassword: 'Given-Password-2030!' }));
    assert.equal(writes(), 1);
    await reset(null, body);
    await reset(null, body);
    assert.equal(writes(), 3);
  });

  test('the answer replayed is the outcome, whatever it was (a policy violation here)', async () => {
    agent.script = () => ({ outcome: 'policy_violation', reasons: ['history'] });
    const key = newKey();
    const first = await reset(key, { newPassword: 'Used-Before-2030!' });
    assert.equal(first.status, 422);
    agent.script = () => ({ outcome: 'succeeded' });
    const again = await reset(key, { newPassword: 'Used-Before-2030!' });
    sameAnswer(first, again);
    assert.equal(field(again.json, 'outcome'), 'policy_violation');
    assert.equal(writes(), 1);
  });

  test('a generated temporaryPassword is replayed to its caller, and the store holds neither it nor the body', async () => {
    const key = newKey();
    const given = 'Never-Stored-Clear-2030!';
    const first = await reset(key, {});
    const temporary = str(first.json, 'temporaryPassword');
    const again = await reset(key, {});
    sameAnswer(first, again);
    assert.equal(str(again.json, 'temporaryPassword'), temporary);
    await reset(newKey(), { newPassword: given });
    const rows = await s.cloud.store.query('SELECT * FROM idempotency_keys');
    assert.ok(rows.length >= 2);
    const dump = JSON.stringify(rows);
    assert.ok(!dump.includes(temporary), 'no temporaryPassword in clear');
    assert.ok(!dump.includes(given), 'no password from a body');
    assert.ok(!dump.includes('temporaryPassword') && !dump.includes('outcome'), 'answers are sealed');
  });

  test('eight copies at once: one write, every copy gets its answer, the key names the audit record', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    agent.script = async () => {
      await gate;
      return { outcome: 'succeeded' };
    };
    const key = newKey();
    const body = { newPassword: 'Parallel-Password-2030!' };
    const all = Promise.all(Array.from({ length: 8 }, () => reset(key, body)));
    await waitFor(async () => writes() === 1, { what: 'the first copy to reach the agent' });
    const [where] = await s.cloud.store.query('SELECT tenant_id, caller FROM idempotency_keys WHERE idem_key = ?', [
      key,
    ]);
    const row = await getIdempotencyKey(s.cloud.store, {
      tenantId: String(where?.tenant_id),
      caller: String(where?.caller),
      key,
    });
    assert.match(String(where?.caller), /^api_key:/);
    assert.equal(row?.state, 'running');
    assert.ok(row?.requestId, 'the write was noted on the key before it was sent');
    assert.equal((await getAuditByRequestId(s.cloud.store, row.requestId))?.state, 'pending');
    release();
    const answers = await all;
    for (const a of answers) sameAnswer(answers[0] as ApiResponse, a);
    assert.equal(str(answers[0]?.json, 'requestId'), row.requestId);
    assert.equal(answers.filter((a) => a.headers.get(REPLAYED) === 'true').length, 7);
    assert.equal(writes(), 1);
  });

  test('another request with the key is 422 idempotency_key_reused and runs nothing', async () => {
    const key = newKey();
    assert.equal((await reset(key, { newPassword: 'First-Password-2030!' })).status, 200);
    const other = await reset(key, { newPassword: 'Other-Password-2030!' });
    assert.equal(other.status, 422);
    assert.equal(errorCode(other), 'idempotency_key_reused');
    const otherUser = await reset(key, { newPassword: 'First-Password-2030!' }, { login: 'bob' });
    assert.equal(errorCode(otherUser), 'idempotency_key_reused');
    const otherRoute = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/unlock', {
      token: apiKey,
      headers: { 'idempotency-key': key },
    });
    assert.equal(errorCode(otherRoute), 'idempotency_key_reused');
    assert.equal(writes(), 1);
    assert.equal(writes('account.unlock'), 0);
  });

  test("another API key's request with the same key is its own: never someone else's answer", async () => {
    const key = newKey();
    const body = { newPassword: 'Shared-Key-Password-2030!' };
    const mine = await reset(key, body);
    const theirs = await reset(key, body, { token: otherKey });
    assert.equal(theirs.status, 200);
    assert.equal(theirs.headers.get(REPLAYED), null);
    assert.notEqual(str(theirs.json, 'requestId'), str(mine.json, 'requestId'));
    assert.equal(writes(), 2);
    sameAnswer(theirs, await reset(key, body, { token: otherKey }));
    sameAnswer(mine, await reset(key, body));
    assert.equal(writes(), 2);
  });

  test('a malformed key is 400 invalid_request, before anything runs', async () => {
    let tried = 0;
    for (const bad of ['x'.repeat(256), 'has space', 'ümlaut']) {
      const r = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/unlock', {
        token: apiKey,
        headers: { 'idempotency-key': bad },
      }).catch(() => null);
      if (r === null) continue; // fetch itself refuses some header values
      tried += 1;
      assert.equal(r.status, 400, bad);
      assert.equal(errorCode(r), 'invalid_request');
      assert.deepEqual(field(r.json, 'error', 'details', 0, 'path'), 'headers.idempotency-key');
    }
    assert.ok(tried >= 2);
    assert.equal(writes('account.unlock'), 0);
  });

  test('a refusal is replayed too; one that says "try again later" (rate_limited) frees the key', async () => {
    const missing = newKey();
    const first = await api(base, 'POST', '/api/v1/tenants/nope/users/alice/unlock', {
      token: apiKey,
      headers: { 'idempotency-key': missing },
    });
    assert.equal(first.status, 404);
    const again = await api(base, 'POST', '/api/v1/tenants/nope/users/alice/unlock', {
      token: apiKey,
      headers: { 'idempotency-key': missing },
    });
    sameAnswer(first, again);
    assert.equal(again.headers.get(REPLAYED), 'true');

    // Self-service change: unauthenticated, the fingerprint covers the credentials in the body.
    const change = (key: string, newPassword: string) =>
      api(base, 'POST', '/api/v1/tenants/acme/password/change', {
        body: { username: 'carol', currentPassword: 'Current-Password-2029!', newPassword },
        headers: { 'idempotency-key': key },
      });
    const k1 = newKey();
    const c1 = await change(k1, 'Changed-Password-2030!');
    assert.equal(c1.status, 200, c1.text);
    sameAnswer(c1, await change(k1, 'Changed-Password-2030!'));
    assert.equal(errorCode(await change(k1, 'Guessed-Password-2030!')), 'idempotency_key_reused');
    assert.equal(writes('password.change'), 1);
    assert.equal((await change(newKey(), 'Changed-Again-2030!')).status, 200);
    const limited = newKey();
    const r = await change(limited, 'Third-Change-2030!');
    assert.equal(r.status, 429);
    assert.ok(r.headers.get('retry-after'));
    assert.equal(
      await getIdempotencyKey(s.cloud.store, { tenantId: 'ref:acme', caller: 'anonymous', key: limited }),
      undefined,
      'the key is free again',
    );
    assert.equal(writes('password.change'), 2);
  });

  test('the OpenAPI document: the header on every keyed write route, a reason on every other one', async () => {
    const doc = (await api(base, 'GET', '/openapi.json')).json;
    const paths = field(doc, 'paths');
    assert.ok(paths && typeof paths === 'object');
    const keyed: string[] = [];
    const notKeyed: string[] = [];
    for (const [p, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, unknown>)) {
        const params = (field(op, 'parameters') as { name: string; in: string }[]) ?? [];
        const hasKey = params.some((x) => x.name === 'Idempotency-Key' && x.in === 'header');
        if (method === 'get') {
          assert.equal(hasKey, false, `${method} ${p}`);
          continue;
        }
        if (hasKey) {
          keyed.push(`${method} ${p}`);
          const responses = JSON.stringify(field(op, 'responses'));
          assert.ok(responses.includes('idempotency_key_reused'), `${method} ${p} documents 422`);
          assert.ok(responses.includes('idempotency_outcome_unknown'), `${method} ${p} documents 409`);
        } else {
          notKeyed.push(`${method} ${p}`);
          assert.match(String(field(op, 'description')), /Takes no Idempotency-Key: ./, `${method} ${p}`);
        }
      }
    }
    assert.deepEqual(notKeyed.sort(), [
      'delete /api/v1/tenants/{tenant}/admin/sessions/current',
      'post /api/v1/tenants/{tenant}/admin/sessions',
      'post /api/v1/tenants/{tenant}/sign-in',
    ]);
    for (const w of [
      'post /api/v1/tenants/{tenant}/users/{login}/password/reset',
      'post /api/v1/tenants/{tenant}/users/{login}/unlock',
      'post /api/v1/tenants/{tenant}/password/change',
    ])
      assert.ok(keyed.includes(w), w);
    // A new write route cannot forget to decide.
    assert.throws(
      () =>
        defineRoute({
          method: 'POST',
          url: '/api/v1/x',
          operationId: 'x',
          summary: 'x',
          tag: 'x',
          auth: 'none',
          responses: {},
          errors: [],
          handle: async () => ({ status: 204 }),
        }),
      TypeError,
    );
  });

  test('keys are kept 24 h: the sweep drops them, and the key is new again', async () => {
    const key = newKey();
    const body = { newPassword: 'Day-Old-Password-2030!' };
    const first = await reset(key, body);
    clock.advance(24 * 3_600_000 - 1);
    assert.equal(await sweepExpiredIdempotencyKeys(s.cloud.store, clock.now()), 0);
    sameAnswer(first, await reset(key, body));
    clock.advance(2);
    assert.ok((await sweepExpiredIdempotencyKeys(s.cloud.store, clock.now())) >= 1);
    const later = await reset(key, body);
    assert.equal(later.status, 200);
    assert.notEqual(str(later.json, 'requestId'), str(first.json, 'requestId'));
    assert.equal(writes(), 2);
  });
});

describe('a first request still running elsewhere, or ended without an answer', () => {
  const clock = new Clock();
  let db: Db;
  let deps: IdempotencyDeps;
  let tenantId: string;
  const scope = (key: string) => ({ tenantId, caller: 'api_key:k1', key });
  const request = { params: { tenant: 'acme', login: 'alice' }, query: {}, body: { newPassword: 'x' } };
  /** Another node's claim of `key` for the same request, with a lease of 10 s from now. */
  const otherNode = async (key: string) =>
    claimIdempotencyKey(db, {
      ...scope(key),
      route: 'resetPassword',
      fingerprint: fingerprintOf(deps.cloudKey, 'resetPassword', request),
      claim: `other-${key}`,
      leaseUntil: clock.now() + 10_000,
      createdAt: clock.now(),
      expiredBefore: 0,
    });
  const begin = (key: string) => beginIdempotent(deps, { scope: scope(key), route: 'resetPassword', request });

  before(async () => {
    db = await openStore({ url: 'sqlite::memory:' });
    const cloudKey = await loadOrCreateCloudKey(db, Buffer.alloc(32, 7), clock.now());
    tenantId = (await createTenant(db, { slug: 'acme', name: 'Acme' }, clock.now())).id;
    deps = { db, cloudKey, now: clock.now, log: createLogger({ name: 'test', level: 'error' }), waitMs: 50 };
  });
  after(() => db.close());

  test('still running after the wait: 409 conflict with Retry-After; another request: 422', async () => {
    assert.ok(await otherNode('k-running'));
    await assert.rejects(begin('k-running'), (e: unknown) => {
      assert.equal(field(e, 'code'), 'conflict');
      assert.ok(Number(field(e, 'retryAfterSeconds')) >= 1);
      return true;
    });
    const other = beginIdempotent(deps, {
      scope: scope('k-running'),
      route: 'resetPassword',
      request: { ...request, body: { newPassword: 'y' } },
    });
    assert.equal(await cloudErrorCode(other), 'idempotency_key_reused');
  });

  test('its node died before any directory write: 409 idempotency_outcome_unknown, never run again', async () => {
    assert.ok(await otherNode('k-dead'));
    clock.advance(10_001);
    assert.equal(await cloudErrorCode(begin('k-dead')), 'idempotency_outcome_unknown');
  });

  test("its node died after the write was sent: the audit record's outcome (outcome_unknown while pending)", async () => {
    assert.ok(await otherNode('k-wrote'));
    const requestId = 'req-wrote';
    assert.ok(await linkIdempotencyWrite(db, scope('k-wrote'), 'other-k-wrote', requestId));
    await insertPending(db, {
      tenantId,
      requestId,
      actor: { kind: 'api_key', id: 'k1' },
      action: 'password.reset',
      targetUser: 'alice',
      startedAt: clock.now(),
      deadlineAt: clock.now() + 10_000,
    });
    clock.advance(10_001);
    const pending = await begin('k-wrote');
    assert.equal(pending.kind, 'replay');
    if (pending.kind !== 'replay') return;
    assert.equal(pending.answer.status, 502);
    assert.equal(field(pending.answer.body, 'outcome'), 'outcome_unknown');
    assert.equal(field(pending.answer.body, 'requestId'), requestId);
    // The agent's answer was recorded after all (a held completion): that is the answer now.
    await finishRecord(db, requestId, { outcome: 'succeeded', latencyMs: 5, finishedAt: clock.now() });
    const done = await begin('k-wrote');
    assert.equal(done.kind === 'replay' && done.answer.status, 200);
    assert.equal(done.kind === 'replay' && field(done.answer.body, 'outcome'), 'succeeded');
  });
});
