/**
 * Issue 12: the executor's defensive check for an adapter echoing a password matched substrings, so
 * the README's own example (the password `short`, refused with the reason `too_short`) logged an
 * ERROR and lost its detail. A secret now counts only as a whole token of a free-text value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReplayCache, sealRequest, verifyResponse, publicKeyObject } from '@writeback/protocol';
import { checkStateConsistency, createExecutor } from '../src/index.js';
import { echoesSecret } from '../src/executor.js';
import { FakeDirectory, alice, captureLog, makeCloud, makeState } from './fixtures.js';

describe('echoesSecret', () => {
  test('reason codes and words that merely contain the password are not echoes', () => {
    assert.equal(echoesSecret({ outcome: 'policy_violation', reasons: ['too_short'] }, ['short']), false);
    assert.equal(
      echoesSecret({ outcome: 'policy_violation', reasons: ['too_short'], detail: 'shorter than 8' }, ['short']),
      false,
    );
    assert.equal(echoesSecret({ outcome: 'succeeded', detail: 'history_reuse' }, ['history']), false);
  });

  test('the password as a value or a whole token of free text is an echo, at any depth', () => {
    assert.equal(echoesSecret({ outcome: 'policy_violation', detail: 'short' }, ['short']), true);
    assert.equal(echoesSecret({ outcome: 'policy_violation', detail: 'password "short" refused' }, ['short']), true);
    assert.equal(
      echoesSecret({ outcome: 'policy_violation', detail: 'pw=Tulip-2025!; rejected' }, ['Tulip-2025!']),
      true,
    );
    assert.equal(
      echoesSecret({ outcome: 'succeeded', data: { nested: ['x', { y: 'was P@ss-w0rd#' }] } } as never, ['P@ss-w0rd#']),
      true,
    );
    // A password that ends in punctuation is found even glued to the next word.
    assert.equal(echoesSecret({ outcome: 'policy_violation', detail: 'got Pass!word' }, ['Pass!']), true);
  });
});

describe('the executor with the README example', () => {
  test('a password `short` refused as too_short is answered whole and logs no error', async () => {
    const cloud = makeCloud();
    const state = makeState(cloud);
    const directory = new FakeDirectory();
    const { log, lines } = captureLog();
    const executor = createExecutor({
      directory,
      identity: { agentId: state.agentId, tenantId: state.tenantId, ...checkStateConsistency(state) },
      log,
      replay: new ReplayCache(),
    });
    const env = sealRequest({
      request: {
        op: 'password.reset',
        params: { user: alice, forceChange: false, unlock: false, enforceHistory: true },
        secret: { newPassword: 'short' },
      },
      tenantId: state.tenantId,
      agentId: state.agentId,
      agentEncryptionKey: state.encryption.publicKey,
      cloudSigningKey: cloud.signingKey,
      deadline: Date.now() + 5_000,
    });
    const ex = await executor.execute(env);
    assert.equal(ex.kind, 'response');
    if (ex.kind !== 'response') return;
    const { result } = verifyResponse(ex.envelope, {
      ...env,
      agentVerifyKey: publicKeyObject('Ed25519', state.signing.publicKey),
    });
    assert.deepEqual(result.reasons, ['too_short']);
    assert.equal(result.policy?.minLength, 8);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      lines.filter((l) => /"level":"(error|warn)"/.test(l)),
      [],
    );
  });
});
