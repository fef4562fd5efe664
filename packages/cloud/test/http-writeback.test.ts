/**
 * The writeback endpoints over real HTTP, agents with real keys behind an in-test relay: admin
 * reset (given and generated password), unlock, effective policy, self-service change with its
 * rate limits, hostile logins, the outcome → status/body mapping, and the audit endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { OUTCOME_CODES, OUTCOME_HTTP_STATUS, type OpenedRequest, type OperationResult } from '@writeback/protocol';
import { outcomeMessage } from '../src/outcomes/messages.js';
import {
  api,
  type Clock,
  errorCode,
  type FakeRelay,
  field,
  respond,
  str,
  type Started,
  type TestAgent,
  startScriptedCloud,
  effectivePolicy,
} from './helpers.js';

const POLICY = effectivePolicy({ source: 'embedded', minLength: 14, maxLength: 64 });

describe('writeback over HTTP', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  let agent: TestAgent;
  let clock: Clock;
  let relay: FakeRelay;
  before(async () => {
    ({ s, base, apiKey, agent, relay, clock } = await startScriptedCloud({
      rateLimits: {
        passwordChangePerUser: { limit: 3, windowSeconds: 900 },
        passwordChangePerIp: { limit: 8, windowSeconds: 900 },
      },
    }));
  });
  after(() => s.stop());
  beforeEach(() => {
    agent.opened = [];
    agent.script = (req) =>
      req.op === 'policy.get' ? { outcome: 'succeeded', policy: POLICY } : { outcome: 'succeeded' };
  });

  const reset = (login: string, body?: unknown) =>
    api(base, 'POST', `/api/v1/tenants/acme/users/${encodeURIComponent(login)}/password/reset`, {
      token: apiKey,
      ...(body !== undefined ? { body } : {}),
    });

  test('reset with a given password: the agent gets it sealed with the flags; 200 with message and request id', async () => {
    const r = await reset('alice', { newPassword: 'Given-Password-2030', unlock: true });
    assert.equal(r.status, 200);
    assert.equal(str(r.json, 'outcome'), 'succeeded');
    assert.equal(str(r.json, 'message'), outcomeMessage({ outcome: 'succeeded' }, { op: 'password.reset' }));
    assert.match(str(r.json, 'requestId'), /^[0-9a-f-]{36}$/);
    assert.equal(Reflect.get(Object(r.json), 'temporaryPassword'), undefined);
    const req = agent.opened[0];
    assert.ok(req && req.op === 'password.reset');
    assert.deepEqual(req.params, {
      user: { by: 'login', value: 'alice' },
      forceChange: false,
      unlock: true,
      enforceHistory: true,
    });
    assert.deepEqual(req.secret, { newPassword: 'Given-Password-2030' });
  });

  test('reset without a password: policy first, a generated password meeting it, returned once, force change on', async () => {
    const r = await reset('bob.smith');
    assert.equal(r.status, 200);
    const temp = str(r.json, 'temporaryPassword');
    assert.deepEqual(
      agent.opened.map((o) => o.op),
      ['policy.get', 'password.reset'],
    );
    const resetReq = agent.opened[1];
    assert.ok(resetReq && resetReq.op === 'password.reset');
    assert.equal(resetReq.params.forceChange, true);
    assert.deepEqual(resetReq.secret, { newPassword: temp });
    assert.ok(temp.length >= POLICY.minLength && temp.length <= (POLICY.maxLength ?? 256));
    for (const re of [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/]) assert.match(temp, re);
    assert.ok(!temp.toLowerCase().includes('smith') && !temp.toLowerCase().includes('bob'));
  });

  test('a generated reset that the directory refuses does not return the password', async () => {
    agent.script = (req) =>
      req.op === 'policy.get'
        ? { outcome: 'succeeded', policy: POLICY }
        : { outcome: 'policy_violation', reasons: ['history'], policy: POLICY };
    const r = await reset('carol');
    assert.equal(r.status, 422);
    assert.equal(Reflect.get(Object(r.json), 'temporaryPassword'), undefined);
    assert.equal(
      str(r.json, 'message'),
      outcomeMessage({ outcome: 'policy_violation', reasons: ['history'], policy: POLICY }),
    );
  });

  test('a generated reset for an unknown user stops at the policy read', async () => {
    agent.script = () => ({ outcome: 'user_not_found' });
    const r = await reset('ghost');
    assert.equal(r.status, 404);
    assert.equal(str(r.json, 'outcome'), 'user_not_found');
    assert.deepEqual(
      agent.opened.map((o) => o.op),
      ['policy.get'],
    );
  });

  test('every outcome travels with its one HTTP status and a message', async () => {
    for (const outcome of OUTCOME_CODES) {
      const status = OUTCOME_HTTP_STATUS[outcome];
      agent.script = (): OperationResult =>
        outcome === 'policy_violation'
          ? { outcome, reasons: ['too_short', 'complexity'], policy: POLICY }
          : { outcome };
      const r = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/unlock', { token: apiKey });
      assert.equal(r.status, status, outcome);
      assert.equal(str(r.json, 'outcome'), outcome);
      assert.ok(str(r.json, 'message').length > 10);
    }
  });

  test('policy violation: reasons, policy and a message built from them', async () => {
    agent.script = () => ({
      outcome: 'policy_violation',
      reasons: ['too_short', 'min_age'],
      policy: { ...POLICY, nextChangeAllowedAt: new Date(clock.now() + 3 * 3_600_000).toISOString() },
    });
    const r = await reset('alice', { newPassword: 'short' });
    assert.equal(r.status, 422);
    assert.deepEqual(field(r.json, 'reasons'), ['too_short', 'min_age']);
    assert.equal(field(r.json, 'policy', 'minLength'), 14);
    const msg = str(r.json, 'message');
    assert.ok(msg.includes('at least 14 characters'));
    assert.ok(msg.includes(new Date(clock.now() + 3 * 3_600_000).toISOString()));
    assert.ok(msg.includes('3 hours'));
  });

  test('history not enforceable is reported with the success', async () => {
    agent.script = () => ({ outcome: 'succeeded', historyEnforced: false });
    const r = await reset('alice', { newPassword: 'Another-Password-1' });
    assert.equal(r.status, 200);
    assert.equal(field(r.json, 'historyEnforced'), false);
    assert.equal(
      str(r.json, 'message'),
      outcomeMessage({ outcome: 'succeeded', historyEnforced: false }, { op: 'password.reset' }),
    );
  });

  test('effective policy and unlock', async () => {
    const p = await api(base, 'GET', '/api/v1/tenants/acme/users/alice/policy', { token: apiKey });
    assert.equal(p.status, 200);
    assert.deepEqual(field(p.json, 'policy'), POLICY);
    const u = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/unlock', { token: apiKey });
    assert.equal(u.status, 200);
    assert.equal(str(u.json, 'message'), outcomeMessage({ outcome: 'succeeded' }, { op: 'account.unlock' }));
    assert.equal(agent.opened[1]?.op, 'account.unlock');
  });

  test('logins are URL-decoded and passed through untouched, hostile characters included; over 256 is refused', async () => {
    for (const login of [
      "o'brien",
      'CN=x,OU=y',
      'a/b',
      'ünïcødé',
      '*)(uid=*',
      'x%41',
      'back\\slash',
      ' spaced ',
      'a'.repeat(256),
    ]) {
      agent.opened = [];
      const r = await api(base, 'GET', `/api/v1/tenants/acme/users/${encodeURIComponent(login)}/policy`, {
        token: apiKey,
      });
      assert.equal(r.status, 200, login);
      const req: OpenedRequest | undefined = agent.opened[0];
      assert.ok(req && req.op === 'policy.get');
      assert.deepEqual(req.params.user, { by: 'login', value: login });
    }
    const long = await api(base, 'GET', `/api/v1/tenants/acme/users/${'a'.repeat(257)}/policy`, { token: apiKey });
    assert.equal(long.status, 400);
    assert.equal(errorCode(long), 'invalid_request');
  });

  test('cloud-side outcomes: no agent → 503 agent_unavailable; lost write → 502 outcome_unknown', async () => {
    relay.disconnect(agent);
    try {
      const r = await reset('alice', { newPassword: 'Given-Password-2030' });
      assert.equal(r.status, 503);
      assert.equal(str(r.json, 'outcome'), 'agent_unavailable');
      assert.equal(str(r.json, 'message'), outcomeMessage({ outcome: 'agent_unavailable' }, { op: 'password.reset' }));
      relay.connect(agent, async () => ({ kind: 'lost' }));
      const lost = await reset('alice', { newPassword: 'Given-Password-2030' });
      assert.equal(lost.status, 502);
      assert.equal(str(lost.json, 'outcome'), 'outcome_unknown');
      assert.equal(str(lost.json, 'message'), outcomeMessage({ outcome: 'outcome_unknown' }, { op: 'password.reset' }));
      relay.connect(agent, async () => ({ kind: 'timeout' }));
      const slow = await reset('alice', { newPassword: 'Given-Password-2030' });
      assert.equal(slow.status, 504);
      assert.equal(str(slow.json, 'message'), outcomeMessage({ outcome: 'timeout' }, { op: 'password.reset' }));
    } finally {
      relay.connect(agent, respond({ now: clock.now }));
    }
  });

  test('self-service change: the directory decides, the wrong current password is a 403', async () => {
    agent.script = (req) => {
      assert.ok(req.op === 'password.change');
      return req.secret.currentPassword === 'Old-Password-1'
        ? { outcome: 'succeeded' }
        : { outcome: 'wrong_current_password' };
    };
    const ok = await api(base, 'POST', '/api/v1/tenants/acme/password/change', {
      body: { username: 'dave', currentPassword: 'Old-Password-1', newPassword: 'New-Password-22' },
    });
    assert.equal(ok.status, 200);
    assert.equal(str(ok.json, 'message'), outcomeMessage({ outcome: 'succeeded' }, { op: 'password.change' }));
    const bad = await api(base, 'POST', '/api/v1/tenants/acme/password/change', {
      body: { username: 'dave', currentPassword: 'guess', newPassword: 'New-Password-22' },
    });
    assert.equal(bad.status, 403);
    assert.equal(str(bad.json, 'outcome'), 'wrong_current_password');
    assert.equal(
      (
        await api(base, 'POST', '/api/v1/tenants/nope/password/change', {
          body: { username: 'dave', currentPassword: 'x', newPassword: 'y' },
        })
      ).status,
      404,
    );
  });

  test('self-service change is rate limited per user (attempts that test the password) and per IP', async () => {
    const change = (username: string) =>
      api(base, 'POST', '/api/v1/tenants/acme/password/change', {
        body: { username, currentPassword: 'guess', newPassword: 'New-Password-22' },
      });
    agent.script = (req) => {
      assert.ok(req.op === 'password.change');
      if (req.secret.newPassword === 'weak')
        return { outcome: 'policy_violation', reasons: ['too_short'], policy: POLICY };
      return { outcome: 'wrong_current_password' };
    };
    // Policy violations do not test the current password: not counted.
    for (let i = 0; i < 4; i++) {
      const r = await api(base, 'POST', '/api/v1/tenants/acme/password/change', {
        body: { username: 'erin', currentPassword: 'x', newPassword: 'weak' },
      });
      assert.equal(r.status, 422);
    }
    for (let i = 0; i < 3; i++) assert.equal((await change('Erin')).status, 403);
    const limited = await change('erin');
    assert.equal(limited.status, 429);
    assert.equal(errorCode(limited), 'rate_limited');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 900);
    assert.equal(field(limited.json, 'error', 'retryAfterSeconds'), retry);
    // Other users are not affected, until the per-IP limit (8; dave used 2 above, erin 3) is reached.
    assert.equal((await change('frank')).status, 403);
    assert.equal((await change('grace')).status, 403);
    assert.equal((await change('heidi')).status, 403);
    assert.equal((await change('ivan')).status, 429);
    // The window slides: after it, attempts are allowed again.
    clock.advance(901_000);
    assert.equal((await change('erin')).status, 403);
  });

  test('the audit endpoint lists each request once, filters, pages, and never shows a password', async () => {
    const page1 = await api(base, 'GET', '/api/v1/tenants/acme/audit?limit=5', { token: apiKey });
    assert.equal(page1.status, 200);
    const items = field(page1.json, 'items');
    assert.ok(Array.isArray(items) && items.length === 5);
    const cursor = str(page1.json, 'nextCursor');
    const page2 = await api(base, 'GET', `/api/v1/tenants/acme/audit?limit=5&cursor=${encodeURIComponent(cursor)}`, {
      token: apiKey,
    });
    const ids1 = items.map((i: unknown) => field(i, 'requestId'));
    const items2 = field(page2.json, 'items');
    assert.ok(Array.isArray(items2));
    assert.ok(items2.every((i: unknown) => !ids1.includes(field(i, 'requestId'))));
    const wrong = await api(
      base,
      'GET',
      '/api/v1/tenants/acme/audit?outcome=wrong_current_password&user=ERIN&limit=100',
      { token: apiKey },
    );
    const wrongItems = field(wrong.json, 'items');
    assert.ok(Array.isArray(wrongItems) && wrongItems.length >= 3);
    assert.ok(
      wrongItems.every(
        (i: unknown) =>
          field(i, 'outcome') === 'wrong_current_password' && String(field(i, 'target')).toLowerCase() === 'erin',
      ),
    );
    const first = wrongItems[0];
    assert.equal(field(first, 'action'), 'password.change');
    assert.equal(field(first, 'state'), 'done');
    assert.deepEqual(field(first, 'actor'), { kind: 'user', id: 'erin' });
    const all = await api(base, 'GET', '/api/v1/tenants/acme/audit?limit=500', { token: apiKey });
    for (const secret of ['Given-Password-2030', 'Old-Password-1', 'New-Password-22', 'Another-Password-1'])
      assert.ok(!all.text.includes(secret));
    const bad = await api(base, 'GET', '/api/v1/tenants/acme/audit?from=yesterday', { token: apiKey });
    assert.equal(bad.status, 400);
    assert.ok(JSON.stringify(bad.json).includes('query.from'));
    const ranged = await api(
      base,
      'GET',
      `/api/v1/tenants/acme/audit?from=${encodeURIComponent(new Date(clock.now() + 1).toISOString())}`,
      { token: apiKey },
    );
    assert.deepEqual(field(ranged.json, 'items'), []);
  });
});
