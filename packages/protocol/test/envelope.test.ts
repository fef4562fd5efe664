import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EphemeralPool,
  ReplayCache,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  openRequest,
  privateKeyObject,
  publicKeyObject,
  sealRequest,
  signResponse,
  verifyResponse,
  type OperationRequest,
  type RequestEnvelope,
} from '@writeback/protocol';
import { errorCode } from './helpers.js';

const cloud = generateSigningKeyPair();
const agentEnc = generateEncryptionKeyPair();
const agentSig = generateSigningKeyPair();
const cloudKey = privateKeyObject(cloud.privateJwk);
const NOW = 1_800_000_000_000;
const SECRET = 'Correct-Horse-42!';

const reset: OperationRequest = {
  op: 'password.reset',
  params: { user: { by: 'login', value: 'alice' }, forceChange: true, unlock: false, enforceHistory: true },
  secret: { newPassword: SECRET },
};

/** The reset sealed for agent a1 of tenant t1 by the cloud at NOW; `over` changes one part. */
function seal(over: Partial<Parameters<typeof sealRequest>[0]> = {}): RequestEnvelope {
  return sealRequest({
    request: reset,
    tenantId: 't1',
    agentId: 'a1',
    agentEncryptionKey: agentEnc.publicKey,
    cloudSigningKey: cloudKey,
    deadline: NOW + 10_000,
    now: NOW,
    ...over,
  });
}

function open(env: unknown, replay = new ReplayCache(), now = NOW) {
  return openRequest(JSON.parse(JSON.stringify(env)), {
    cloudVerifyKey: publicKeyObject('Ed25519', cloud.publicKey),
    agentDecryptionKey: privateKeyObject(agentEnc.privateJwk),
    agentEncryptionPublicKey: agentEnc.publicKey,
    agentId: 'a1',
    tenantId: 't1',
    replay,
    now,
  });
}

const code = errorCode;
/** The ProtocolError code opening `env` throws ('no error' when it opens). */
const refusal = (env: unknown, replay?: ReplayCache, now?: number) => code(() => open(env, replay, now));

describe('envelope', () => {
  it('seals with precomputed ephemeral agreements: each used once, ready again after a turn of the event loop', async () => {
    const pool = new EphemeralPool();
    const withPool = () => seal({ ephemeral: pool });
    const first = withPool(); // nothing ready yet: computed inline, the next one scheduled
    assert.equal(pool.size, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(pool.size, 1);
    const second = withPool();
    assert.equal(pool.size, 0);
    const third = withPool(); // taken before the refill ran: inline again, never the same key twice
    const epks = [first, second, third].map((e) => e.sealed?.epk);
    assert.equal(new Set(epks).size, 3);
    const replay = new ReplayCache();
    for (const env of [first, second, third]) {
      const opened = open(env, replay);
      assert.equal(opened.op === 'password.reset' && opened.secret.newPassword, SECRET);
    }
    await new Promise((r) => setImmediate(r));
    pool.clear();
    assert.equal(pool.size, 0);
  });

  it('round-trips a sealed request and never carries the password in clear', () => {
    const env = seal();
    assert.equal(JSON.stringify(env).includes(SECRET), false);
    const opened = open(env);
    assert.equal(opened.op, 'password.reset');
    assert.deepEqual(opened.secret, { newPassword: SECRET });
  });

  it('refuses a forged signature', () => {
    const other = generateSigningKeyPair();
    const forged = seal({ cloudSigningKey: privateKeyObject(other.privateJwk), deadline: NOW + 1000 });
    assert.equal(refusal(forged), 'bad_signature');
  });

  it('refuses altered metadata (params bound by the signature)', () => {
    const env = seal();
    const altered = { ...env, params: { ...env.params, user: { by: 'login', value: 'administrator' } } };
    assert.equal(refusal(altered), 'bad_signature');
  });

  it('refuses tampered ciphertext', () => {
    const env = seal();
    const ct = Buffer.from(env.sealed?.ct ?? '', 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    const tampered = { ...env, sealed: { ...env.sealed, ct: ct.toString('base64url') } };
    // The signature covers the ciphertext, so tampering is caught there first.
    assert.equal(refusal(tampered), 'bad_signature');
  });

  it('refuses ciphertext sealed to another agent key even when signed', () => {
    const otherEnc = generateEncryptionKeyPair();
    const env = seal({ agentEncryptionKey: otherEnc.publicKey, deadline: NOW + 1000 });
    assert.equal(refusal(env), 'bad_ciphertext');
  });

  it('refuses expired, future, too-long-lived, other-tenant and other-agent requests', () => {
    assert.equal(refusal(seal({ deadline: NOW - 1 })), 'expired');
    assert.equal(refusal(seal(), new ReplayCache(), NOW - 10 * 60_000), 'not_yet_valid');
    assert.equal(refusal(seal({ deadline: NOW + 60 * 60_000 })), 'deadline_too_far');
    assert.equal(refusal(seal({ tenantId: 't2' })), 'wrong_tenant');
    assert.equal(refusal(seal({ agentId: 'a2' })), 'wrong_agent');
  });

  it('refuses a replayed request id', () => {
    const replay = new ReplayCache();
    const env = seal();
    open(env, replay);
    assert.equal(refusal(env, replay), 'replayed');
  });

  it('refuses malformed envelopes and wrong types', () => {
    assert.equal(refusal({}), 'malformed_frame');
    assert.equal(refusal({ ...seal(), deadline: 'soon' }), 'malformed_frame');
    assert.equal(refusal(null), 'malformed_frame');
  });

  it('signs responses so the relay cannot forge an outcome', () => {
    const agentKey = privateKeyObject(agentSig.privateJwk);
    const req = { requestId: 'r1', tenantId: 't1', agentId: 'a1', op: 'password.reset' as const };
    const resp = signResponse({
      request: req,
      result: { outcome: 'policy_violation', reasons: ['too_short'] },
      agentSigningKey: agentKey,
      now: NOW,
    });
    const expect = { ...req, agentVerifyKey: publicKeyObject('Ed25519', agentSig.publicKey) };
    assert.equal(verifyResponse(JSON.parse(JSON.stringify(resp)), expect).result.outcome, 'policy_violation');
    const forged = { ...resp, result: { outcome: 'succeeded' } };
    assert.equal(
      code(() => verifyResponse(forged, expect)),
      'bad_signature',
    );
    assert.equal(
      code(() => verifyResponse(resp, { ...expect, requestId: 'r2' })),
      'malformed_frame',
    );
  });
});
