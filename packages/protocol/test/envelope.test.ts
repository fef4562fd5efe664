import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AgentToRelayFrameSchema,
  EphemeralPool,
  MAX_FRAME_BYTES,
  MAX_SYNC_BATCH_BYTES,
  encodeFrame,
  parseFrame,
  ReplayCache,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  openRequest,
  privateKeyObject,
  publicKeyObject,
  sealRequest,
  sealRequestForSealedAnswer,
  sealResponse,
  signResponse,
  signStatement,
  verifyResponse,
  type OperationRequest,
  type OperationResult,
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

describe('sealed answers', () => {
  const policyRead: OperationRequest = { op: 'policy.get', params: { user: { by: 'login', value: 'alice' } } };
  const agentKey = privateKeyObject(agentSig.privateJwk);
  /** A request asking for a sealed answer, as the agent opens it, and the cloud's answer key. */
  function exchange(request: OperationRequest = reset, requestId = 'r1') {
    const { envelope, answerKey } = sealRequestForSealedAnswer({
      request,
      tenantId: 't1',
      agentId: 'a1',
      agentEncryptionKey: agentEnc.publicKey,
      cloudSigningKey: cloudKey,
      deadline: NOW + 10_000,
      now: NOW,
      requestId,
    });
    const opened = open(envelope);
    assert.ok(opened.answerKey, 'the agent derives an answer key');
    return { envelope, answerKey, opened, agentAnswerKey: opened.answerKey };
  }
  const expectFor = (env: RequestEnvelope, answerKey: Buffer) => ({
    requestId: env.requestId,
    tenantId: 't1',
    agentId: 'a1',
    op: env.op,
    answerKey,
  });
  const refused: OperationResult = { outcome: 'policy_violation', reasons: ['too_short'] };

  it('the agent derives the same answer key; the answer opens and hides the outcome', () => {
    const { envelope, answerKey, opened } = exchange();
    assert.ok(opened.answerKey);
    assert.deepEqual(opened.answerKey, answerKey);
    const resp = sealResponse({ request: envelope, result: refused, answerKey: opened.answerKey, now: NOW });
    const text = JSON.stringify(resp);
    assert.ok(!text.includes('policy_violation') && !text.includes('too_short'), 'the outcome travels sealed');
    const got = verifyResponse(JSON.parse(text), expectFor(envelope, answerKey));
    assert.deepEqual(got.result, refused);
    assert.equal(got.completedAt, NOW);
  });

  it('a request without a secret carries a sealed null, so every operation gets an answer key', () => {
    const { envelope, answerKey, opened, agentAnswerKey } = exchange(policyRead);
    assert.ok(envelope.sealed);
    assert.equal(envelope.answer, 'sealed');
    assert.equal(opened.secret, undefined);
    const resp = sealResponse({
      request: envelope,
      result: { outcome: 'succeeded' },
      answerKey: agentAnswerKey,
      now: NOW,
    });
    assert.equal(verifyResponse(resp, expectFor(envelope, answerKey)).result.outcome, 'succeeded');
  });

  it('a full sync batch fits a sealed answer inside one frame', () => {
    const pull: OperationRequest = { op: 'sync.pull', params: { cursor: null, limit: 500 } };
    const { envelope, answerKey, agentAnswerKey } = exchange(pull);
    const changes = [];
    let bytes = 0;
    for (let i = 0; bytes < MAX_SYNC_BATCH_BYTES - 2048; i++) {
      const c = {
        kind: 'upsert' as const,
        user: { anchor: `anchor-${i}`, login: `user${i}`, displayName: 'x'.repeat(40) },
      };
      bytes += JSON.stringify(c).length + 1;
      changes.push(c);
    }
    const result: OperationResult = { outcome: 'succeeded', data: { changes, cursor: 'seq:1', more: true } };
    const resp = sealResponse({ request: envelope, result, answerKey: agentAnswerKey, now: NOW });
    const frame = encodeFrame({ v: 1, t: 'response', envelope: resp });
    assert.ok(Buffer.byteLength(frame) <= MAX_FRAME_BYTES, `${Buffer.byteLength(frame)} bytes`);
    const parsed = parseFrame(frame, AgentToRelayFrameSchema);
    assert.equal(parsed.t, 'response');
    if (parsed.t !== 'response') return;
    const got = verifyResponse(parsed.envelope, expectFor(envelope, answerKey));
    assert.equal(got.result.outcome, 'succeeded');
  });

  it('refuses an altered, moved, relabelled or downgraded answer', () => {
    const { envelope, answerKey, agentAnswerKey } = exchange();
    const resp = sealResponse({ request: envelope, result: refused, answerKey: agentAnswerKey, now: NOW });
    const expect = expectFor(envelope, answerKey);
    // One byte of the ciphertext flipped.
    const ct = Buffer.from(resp.sealed.ct, 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    assert.equal(
      code(() => verifyResponse({ ...resp, sealed: { ...resp.sealed, ct: ct.toString('base64url') } }, expect)),
      'bad_ciphertext',
    );
    // The header is bound as associated data: another agent id does not open.
    assert.equal(
      code(() => verifyResponse({ ...resp, agentId: 'a2' }, { ...expect, agentId: 'a2' })),
      'bad_ciphertext',
    );
    // An answer sealed for another request does not open under this request's key.
    const other = exchange(reset, 'r2');
    const moved = sealResponse({
      request: other.envelope,
      result: { outcome: 'succeeded' },
      answerKey: other.agentAnswerKey,
      now: NOW,
    });
    assert.equal(
      code(() => verifyResponse({ ...moved, requestId: 'r1' }, expect)),
      'bad_ciphertext',
    );
    // A signed answer (even by the agent's own key) is refused where a sealed one was asked for.
    const signed = signResponse({
      request: envelope,
      result: { outcome: 'succeeded' },
      agentSigningKey: agentKey,
      now: NOW,
    });
    assert.equal(
      code(() => verifyResponse(signed, expect)),
      'bad_signature',
    );
    // And a sealed answer is refused where a signed one was expected.
    assert.equal(
      code(() =>
        verifyResponse(resp, {
          requestId: 'r1',
          tenantId: 't1',
          agentId: 'a1',
          op: 'password.reset',
          agentVerifyKey: publicKeyObject('Ed25519', agentSig.publicKey),
        }),
      ),
      'bad_signature',
    );
  });

  it('refuses requests whose answer and seal do not agree', () => {
    const { envelope } = exchange(policyRead);
    const unsealed = { ...envelope };
    delete (unsealed as { sealed?: unknown }).sealed;
    // The relay cannot strip the seal (the signature covers it) ...
    assert.equal(refusal(unsealed), 'bad_signature');
    // ... and the cloud never signs a sealed secret for an operation without one unless it asks for the answer sealed.
    const { answer: _a, sig: _s, ...header } = envelope;
    const resigned = { ...header, sig: signStatement('request', header, cloudKey) };
    assert.equal(refusal(resigned), 'invalid_params');
  });
});
