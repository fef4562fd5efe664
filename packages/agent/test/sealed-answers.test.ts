/**
 * The executor answers sealed when the cloud asks so (`answer: 'sealed'`): the answer opens only
 * under the request's answer key and carries the outcome out of the relay's sight.
 * Without the ask it still signs (clouds of earlier releases).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ReplayCache,
  publicKeyObject,
  sealRequestForSealedAnswer,
  verifyResponse,
  type OperationRequest,
} from '@writeback/protocol';
import { Clock } from '@writeback/testkit';
import { checkStateConsistency, createExecutor } from '../src/index.js';
import { FakeDirectory, alice, captureLog, makeCloud, makeState, request } from './fixtures.js';

const cloud = makeCloud();
const T0 = 1_750_000_000_000;

function setup() {
  const state = makeState(cloud);
  const directory = new FakeDirectory();
  const { log } = captureLog();
  const clock = new Clock(T0);
  const executor = createExecutor({
    directory,
    identity: { agentId: state.agentId, tenantId: state.tenantId, ...checkStateConsistency(state) },
    log,
    now: clock.now,
    startedAt: T0 - 1_000,
    replay: new ReplayCache(),
  });
  const ask = (req: OperationRequest) =>
    sealRequestForSealedAnswer({
      request: req,
      tenantId: state.tenantId,
      agentId: state.agentId,
      agentEncryptionKey: state.encryption.publicKey,
      cloudSigningKey: cloud.signingKey,
      deadline: T0 + 5_000,
      now: T0,
    });
  return { state, directory, executor, ask };
}

describe('sealed answers', () => {
  test('a reset and a policy read asked with answer: sealed are answered sealed, and open only with their key', async () => {
    const { executor, ask } = setup();
    for (const req of [
      {
        op: 'password.reset' as const,
        params: { user: alice, forceChange: false, unlock: false, enforceHistory: true },
        secret: { newPassword: 'Brand-New-Pass1' },
      },
      { op: 'policy.get' as const, params: { user: alice } },
    ]) {
      const { envelope, answerKey } = ask(req);
      const ex = await executor.execute(envelope);
      assert.equal(ex.kind, 'response');
      if (ex.kind !== 'response') continue;
      assert.ok('sealed' in ex.envelope, `${req.op}: answered sealed`);
      assert.ok(!JSON.stringify(ex.envelope).includes('succeeded'), `${req.op}: the outcome is not readable`);
      const expect = {
        requestId: envelope.requestId,
        tenantId: envelope.tenantId,
        agentId: envelope.agentId,
        op: req.op,
      };
      assert.equal(verifyResponse(ex.envelope, { ...expect, answerKey }).result.outcome, 'succeeded');
      const other = ask(req);
      assert.throws(() => verifyResponse(ex.envelope, { ...expect, answerKey: other.answerKey }));
    }
  });

  test('a request that does not ask is answered signed, as before', async () => {
    const { state, executor } = setup();
    const env = request(cloud, state, { op: 'policy.get', params: { user: alice } }, { now: T0 });
    const ex = await executor.execute(env);
    assert.equal(ex.kind, 'response');
    if (ex.kind !== 'response') return;
    assert.ok('sig' in ex.envelope);
    const verified = verifyResponse(ex.envelope, {
      ...env,
      agentVerifyKey: publicKeyObject('Ed25519', state.signing.publicKey),
    });
    assert.equal(verified.result.outcome, 'succeeded');
  });

  test('an agent that is stopping answers sealed too, and nothing reaches the directory', async () => {
    const { directory, executor, ask } = setup();
    executor.stopAccepting();
    const { envelope, answerKey } = ask({ op: 'policy.get', params: { user: alice } });
    const ex = await executor.execute(envelope);
    assert.equal(ex.kind, 'response');
    if (ex.kind !== 'response') return;
    const got = verifyResponse(ex.envelope, {
      requestId: envelope.requestId,
      tenantId: envelope.tenantId,
      agentId: envelope.agentId,
      op: 'policy.get',
      answerKey,
    });
    assert.equal(got.result.outcome, 'agent_unavailable');
    assert.deepEqual(directory.calls, []);
  });
});
