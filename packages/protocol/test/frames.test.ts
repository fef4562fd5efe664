import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AgentToRelayFrameSchema,
  MAX_FRAME_BYTES,
  createLogger,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  issueAgentCertificate,
  parseFrame,
  privateKeyObject,
  publicKeyObject,
  signAuthProof,
  verifyAgentCertificate,
  verifyAuthProof,
} from '@writeback/protocol';
import { errorCode } from './helpers.js';

const code = errorCode;

describe('frames', () => {
  it('rejects oversized, non-JSON, wrong-version and wrong-shape frames with codes', () => {
    assert.equal(
      code(() => parseFrame('x'.repeat(MAX_FRAME_BYTES + 1), AgentToRelayFrameSchema)),
      'frame_too_large',
    );
    assert.equal(
      code(() => parseFrame('{not json', AgentToRelayFrameSchema)),
      'malformed_frame',
    );
    assert.equal(
      code(() => parseFrame('{"v":2,"t":"pong","ts":1}', AgentToRelayFrameSchema)),
      'unsupported_version',
    );
    assert.equal(
      code(() => parseFrame('{"v":1,"t":"pong","ts":"x"}', AgentToRelayFrameSchema)),
      'malformed_frame',
    );
    assert.deepEqual(parseFrame('{"v":1,"t":"pong","ts":5}', AgentToRelayFrameSchema), { v: 1, t: 'pong', ts: 5 });
  });

  it('verifies agent certificates and auth proofs', () => {
    const cloud = generateSigningKeyPair();
    const agent = generateSigningKeyPair();
    const cert = issueAgentCertificate(
      {
        agentId: 'a1',
        tenantId: 't1',
        name: 'dc-agent',
        signingKey: agent.publicKey,
        encryptionKey: generateEncryptionKeyPair().publicKey,
        issuedAt: 1,
      },
      privateKeyObject(cloud.privateJwk),
    );
    const cloudPub = publicKeyObject('Ed25519', cloud.publicKey);
    assert.equal(verifyAgentCertificate(cert, cloudPub), true);
    assert.equal(verifyAgentCertificate({ ...cert, tenantId: 't2' }, cloudPub), false);
    const proof = signAuthProof('n'.repeat(43), 'relay1', cert, privateKeyObject(agent.privateJwk));
    assert.equal(verifyAuthProof('n'.repeat(43), 'relay1', cert, proof), true);
    assert.equal(verifyAuthProof('m'.repeat(43), 'relay1', cert, proof), false);
  });
});

describe('logger', () => {
  it('redacts secret-looking fields whatever the caller passes', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 't', sink: (l) => lines.push(l) });
    log.info('x', {
      newPassword: 'Hunter2!!',
      nested: { currentPassword: 'Old-Pass-1', token: 'wbt_a.b' },
      user: 'alice',
    });
    const out = lines.join('\n');
    assert.equal(out.includes('Hunter2!!'), false);
    assert.equal(out.includes('Old-Pass-1'), false);
    assert.equal(out.includes('wbt_a.b'), false);
    assert.equal(out.includes('alice'), true);
  });
});
