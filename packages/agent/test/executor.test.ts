/**
 * The executor on its own, with a frozen clock: every operation reaches the right directory method;
 * every refusal leaves the directory untouched and carries the right code; failures are never
 * reported as success.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_CLOCK_SKEW_MS,
  ReplayCache,
  publicKeyObject,
  resultData,
  signStatement,
  verifyResponse,
  type RequestEnvelope,
} from '@writeback/protocol';
import { Clock } from '@writeback/testkit';
import { checkStateConsistency, createExecutor, type AgentState, type Execution } from '../src/index.js';
import { FakeDirectory, alice, captureLog, makeCloud, makeState, request } from './fixtures.js';

const cloud = makeCloud();
const T0 = 1_750_000_000_000;

function setup(o: { now?: () => number; startedAt?: number } = {}) {
  const state = makeState(cloud);
  const directory = new FakeDirectory();
  const { log, lines } = captureLog();
  const clock = new Clock(T0);
  const now = o.now ?? clock.now;
  const executor = createExecutor({
    directory,
    identity: { agentId: state.agentId, tenantId: state.tenantId, ...checkStateConsistency(state) },
    log,
    now,
    startedAt: o.startedAt ?? T0 - 1_000,
    replay: new ReplayCache(),
  });
  return { state, directory, executor, lines, tick: (ms: number) => clock.advance(ms) };
}

/** An ordinary reset of alice. */
const reset = {
  op: 'password.reset' as const,
  params: { user: alice, forceChange: false, unlock: false, enforceHistory: true },
  secret: { newPassword: 'Brand-New-Pass1' },
};

/** A change of alice's password from `currentPassword`. */
const change = (currentPassword: string) => ({
  op: 'password.change' as const,
  params: { user: alice },
  secret: { currentPassword, newPassword: 'Another-Pass1' },
});

function verified(state: AgentState, env: RequestEnvelope, ex: Execution) {
  assert.equal(ex.kind, 'response', ex.kind === 'reject' ? `rejected ${ex.code}` : '');
  if (ex.kind !== 'response') throw new Error('unreachable');
  return verifyResponse(ex.envelope, { ...env, agentVerifyKey: publicKeyObject('Ed25519', state.signing.publicKey) })
    .result;
}

function assertRejected(ex: Execution, code: string) {
  assert.equal(ex.kind, 'reject');
  if (ex.kind === 'reject') assert.equal(ex.code, code);
}

describe('each operation reaches its directory method and is answered signed', () => {
  test('password.reset passes the flags and the new password', async () => {
    const { state, directory, executor } = setup();
    const env = request(
      cloud,
      state,
      {
        op: 'password.reset',
        params: { user: alice, forceChange: true, unlock: true, enforceHistory: false },
        secret: { newPassword: 'Brand-New-Pass1' },
      },
      { now: T0 },
    );
    const result = verified(state, env, await executor.execute(env));
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.historyEnforced, false);
    assert.deepEqual(directory.calls, [
      { method: 'resetPassword', user: 'alice', options: { forceChange: true, unlock: true, enforceHistory: false } },
    ]);
    assert.equal(directory.passwords.get('alice'), 'Brand-New-Pass1');
    assert.equal(directory.locked.has('alice'), false);
  });

  test('password.change checks the current password', async () => {
    const { state, directory, executor } = setup();
    const wrong = request(cloud, state, change('nope'), { now: T0 });
    assert.equal(verified(state, wrong, await executor.execute(wrong)).outcome, 'wrong_current_password');
    const right = request(cloud, state, change('Initial-Passw0rd'), { now: T0 });
    assert.equal(verified(state, right, await executor.execute(right)).outcome, 'succeeded');
    assert.equal(directory.passwords.get('alice'), 'Another-Pass1');
  });

  test('account.unlock, policy.get, credentials.verify', async () => {
    const { state, directory, executor } = setup();
    const unlock = request(cloud, state, { op: 'account.unlock', params: { user: alice } }, { now: T0 });
    assert.equal(verified(state, unlock, await executor.execute(unlock)).outcome, 'succeeded');
    assert.equal(directory.locked.has('alice'), false);
    const policy = request(cloud, state, { op: 'policy.get', params: { user: alice } }, { now: T0 });
    assert.equal(verified(state, policy, await executor.execute(policy)).policy?.minLength, 8);
    const verify = request(
      cloud,
      state,
      { op: 'credentials.verify', params: { user: alice }, secret: { password: 'Initial-Passw0rd' } },
      { now: T0 },
    );
    assert.equal(verified(state, verify, await executor.execute(verify)).outcome, 'succeeded');
    assert.deepEqual(
      directory.calls.map((c) => c.method),
      ['unlock', 'getPolicy', 'verifyCredentials'],
    );
  });

  test('health reports the directory, the agent version and uptime', async () => {
    const { state, executor } = setup();
    const env = request(cloud, state, { op: 'health', params: {} }, { now: T0 });
    const result = verified(state, env, await executor.execute(env));
    const health = resultData('health', result);
    assert.equal(typeof health?.agentVersion, 'string');
    assert.equal(health?.uptimeSeconds, 1);
    assert.deepEqual(health?.directory, { ok: true, kind: 'embedded', latencyMs: 1 });
  });
});

describe('refusals: nothing reaches the directory', () => {
  test('a signature from another key → bad_signature', async () => {
    const { state, directory, executor } = setup();
    const forger = makeCloud();
    const env = request(forger, state, reset, { now: T0 });
    assertRejected(await executor.execute(env), 'bad_signature');
    assert.equal(directory.calls.length, 0);
  });

  test('tampered ciphertext → bad_signature (the seal is signed) or, re-signed by the cloud, bad_ciphertext', async () => {
    const { state, directory, executor } = setup();
    const env = request(cloud, state, reset, { now: T0 });
    assert.ok(env.sealed);
    const ct = Buffer.from(env.sealed.ct, 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 0xff;
    const tampered = { ...env, sealed: { ...env.sealed, ct: ct.toString('base64url') } };
    assertRejected(await executor.execute(tampered), 'bad_signature');
    const { sig: _sig, ...unsigned } = tampered;
    const resigned = { ...unsigned, sig: signStatement('request', unsigned, cloud.signingKey) };
    assertRejected(await executor.execute(resigned), 'bad_ciphertext');
    assert.equal(directory.calls.length, 0);
  });

  test('a deadline already passed on the agent clock → expired', async () => {
    const { state, directory, executor, tick } = setup();
    const env = request(cloud, state, reset, { now: T0, deadlineInMs: 1_000 });
    tick(1_000);
    assertRejected(await executor.execute(env), 'expired');
    assert.equal(directory.calls.length, 0);
  });

  test('the same request id twice → replayed, the directory written once', async () => {
    const { state, directory, executor } = setup();
    const env = request(cloud, state, reset, { now: T0 });
    assert.equal((await executor.execute(env)).kind, 'response');
    assertRejected(await executor.execute(env), 'replayed');
    assert.equal(directory.calls.length, 1);
  });

  test('a request for another agent or tenant → wrong_agent / wrong_tenant', async () => {
    const { state, directory, executor } = setup();
    assertRejected(
      await executor.execute(request(cloud, { ...state, agentId: 'agent-2' }, reset, { now: T0 })),
      'wrong_agent',
    );
    assertRejected(
      await executor.execute(request(cloud, { ...state, tenantId: 'tenant-2' }, reset, { now: T0 })),
      'wrong_tenant',
    );
    assert.equal(directory.calls.length, 0);
  });

  test('a request issued before this process started → expired, whatever the deadline', async () => {
    const { state, directory, executor } = setup({ startedAt: T0 });
    const env = request(cloud, state, reset, { now: T0 - 1, deadlineInMs: 60_000 });
    assertRejected(await executor.execute(env), 'expired');
    assert.equal(directory.calls.length, 0);
  });

  test('the relay clock moves the start bound later (agent clock behind), never earlier', async () => {
    const { state, directory, executor } = setup({ startedAt: T0 });
    // The cloud/relay clock is 30 s ahead: "process start" in cloud time is T0 + 30 s.
    executor.observeServerTime(T0 + 30_000, T0);
    assert.equal(executor.notIssuedBefore, T0 + 30_000);
    const before = request(cloud, state, reset, { now: T0 + 29_000, deadlineInMs: 60_000 });
    assertRejected(await executor.execute(before), 'expired');
    // A relay claiming to be behind cannot widen the window.
    executor.observeServerTime(T0 - 60_000, T0);
    assert.equal(executor.notIssuedBefore, T0 + 30_000);
    // Nor push it further than the allowed skew.
    executor.observeServerTime(T0 + 10 * MAX_CLOCK_SKEW_MS, T0);
    assert.equal(executor.notIssuedBefore, T0 + MAX_CLOCK_SKEW_MS);
    assert.equal(directory.calls.length, 0);
  });

  test('invalid params → invalid_params', async () => {
    const { state, directory, executor } = setup();
    const env = request(
      cloud,
      state,
      { op: 'account.unlock', params: { user: { by: 'login', value: '' } } },
      { now: T0 },
    );
    assertRejected(await executor.execute(env), 'invalid_params');
    assert.equal(directory.calls.length, 0);
  });
});

describe('failures are never success', () => {
  test('a write that throws part-way → outcome_unknown; a read that throws → directory_unavailable', async () => {
    const { state, directory, executor, lines } = setup();
    directory.failing.add('resetPassword').add('getPolicy');
    const write = request(cloud, state, reset, { now: T0 });
    assert.equal(verified(state, write, await executor.execute(write)).outcome, 'outcome_unknown');
    const read = request(cloud, state, { op: 'policy.get', params: {} }, { now: T0 });
    assert.equal(verified(state, read, await executor.execute(read)).outcome, 'directory_unavailable');
    assert.ok(!lines.some((l) => l.includes('Brand-New-Pass1')));
  });

  test('a directory result echoing the password loses its free text', async () => {
    const { state, directory, executor } = setup();
    directory.echo = (secret) => `server said: ${secret} rejected`;
    const env = request(cloud, state, reset, { now: T0 });
    const ex = await executor.execute(env);
    const result = verified(state, env, ex);
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.detail, undefined);
    assert.ok(!JSON.stringify(ex).includes('Brand-New-Pass1'));
  });

  test("success data is signed only in the shape of the operation's schema", async () => {
    const { state, directory, executor, lines } = setup();
    const verify = () =>
      request(
        cloud,
        state,
        { op: 'credentials.verify', params: { user: alice }, secret: { password: 'Initial-Passw0rd' } },
        { now: T0 },
      );
    directory.verifyCredentials = async () => ({ outcome: 'succeeded', data: { mustChange: true, dcName: 'dc1' } });
    const typed = verify();
    const ok = verified(state, typed, await executor.execute(typed));
    assert.deepEqual(ok.data, { mustChange: true });
    assert.deepEqual(resultData('credentials.verify', ok), { mustChange: true });
    // A read whose data does not match is not a success; a write that did land stays one, without the data.
    directory.verifyCredentials = async () => ({ outcome: 'succeeded', data: { mustChange: 'yes' } });
    const bad = verify();
    assert.equal(verified(state, bad, await executor.execute(bad)).outcome, 'directory_unavailable');
    directory.unlock = async () => ({ outcome: 'succeeded', data: { wasLocked: 'maybe' } });
    const unlock = request(cloud, state, { op: 'account.unlock', params: { user: alice } }, { now: T0 });
    const unlocked = verified(state, unlock, await executor.execute(unlock));
    assert.equal(unlocked.outcome, 'succeeded');
    assert.equal(unlocked.data, undefined);
    assert.equal(lines.filter((l) => l.includes('does not match the operation')).length, 2);
  });

  test('an answer is still signed and sent when the directory finishes after the deadline', async () => {
    const clock = new Clock(T0);
    const { state, directory, executor } = setup({ now: clock.now });
    directory.delayMs = 20;
    const env = request(cloud, state, { op: 'account.unlock', params: { user: alice } }, { now: T0, deadlineInMs: 10 });
    const pending = executor.execute(env);
    clock.advance(100);
    assert.equal(verified(state, env, await pending).outcome, 'succeeded');
  });

  test('when stopping: verified requests get agent_unavailable and the directory is not touched; drain waits for in-flight work', async () => {
    const { state, directory, executor } = setup();
    directory.delayMs = 50;
    const inflight = executor.execute(
      request(cloud, state, { op: 'account.unlock', params: { user: alice } }, { now: T0 }),
    );
    assert.equal(executor.inFlight, 1);
    executor.stopAccepting();
    const late = request(cloud, state, { op: 'account.unlock', params: { user: alice } }, { now: T0 });
    assert.equal(verified(state, late, await executor.execute(late)).outcome, 'agent_unavailable');
    assert.equal(await executor.drain(2_000), true);
    assert.equal((await inflight).kind, 'response');
    assert.equal(directory.calls.length, 1);
  });
});
