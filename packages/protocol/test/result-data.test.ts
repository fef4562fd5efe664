import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OPERATIONS,
  OPERATION_RESULT_DATA,
  generateSigningKeyPair,
  privateKeyObject,
  responseData,
  resultData,
  signResponse,
} from '@writeback/protocol';

describe('typed result data', () => {
  it('has a success-data schema for every operation', () => {
    for (const op of OPERATIONS) assert.ok(OPERATION_RESULT_DATA[op], op);
  });

  it('parses credentials.verify data, dropping fields it does not know', () => {
    const d = resultData('credentials.verify', {
      outcome: 'succeeded',
      data: { mustChange: true, expired: false, dc: 'dc1' },
    });
    assert.deepEqual(d, { mustChange: true, expired: false });
    // No data is "nothing to report" for an operation whose fields are all optional.
    assert.deepEqual(resultData('credentials.verify', { outcome: 'succeeded' }), {});
  });

  it('is null when the outcome is not succeeded or the data does not match', () => {
    assert.equal(resultData('credentials.verify', { outcome: 'account_locked', data: { mustChange: true } }), null);
    assert.equal(resultData('credentials.verify', { outcome: 'succeeded', data: { expired: 'yes' } }), null);
    assert.equal(resultData('sync.pull', { outcome: 'succeeded' }), null);
    assert.equal(resultData('sync.anchors', { outcome: 'succeeded', data: { anchors: ['a'], cursor: 5 } }), null);
  });

  it('types the sync answers', () => {
    const pull = resultData('sync.pull', {
      outcome: 'succeeded',
      data: { changes: [{ kind: 'delete', anchor: 'g1' }], cursor: 'seq:2', more: false },
    });
    assert.equal(pull?.changes[0]?.kind, 'delete');
    assert.equal(pull?.cursor, 'seq:2');
    assert.deepEqual(resultData('sync.anchors', { outcome: 'succeeded', data: { anchors: ['g1'], cursor: null } }), {
      anchors: ['g1'],
      cursor: null,
    });
  });

  it('reads a signed answer only for the operation asked', () => {
    const key = privateKeyObject(generateSigningKeyPair().privateJwk);
    const env = signResponse({
      request: { requestId: 'r1', tenantId: 't1', agentId: 'a1', op: 'account.unlock' },
      result: { outcome: 'succeeded', data: { wasLocked: true } },
      agentSigningKey: key,
    });
    assert.deepEqual(responseData(env, 'account.unlock'), { wasLocked: true });
    assert.equal(responseData(env, 'credentials.verify'), null);
  });
});
