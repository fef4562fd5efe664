/**
 * The relay's position, taken by a man in the middle: it sees every frame, and tries to read,
 * alter, forge, replay and delay requests. Nothing it does may write to the directory or be
 * reported as success, and no password may appear in any frame or any log line of the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { generateSigningKeyPair, privateKeyObject, signStatement } from '@writeback/protocol';
import { startMitm, type Mitm } from './mitm.js';
import { PASSWORDS, capturedLogs, findSecrets, startSystem, waitFor, type System } from './harness.js';

let sys: System;
let mitm: Mitm;
const T = '/api/v1/tenants/acme';
const used = new Set<string>(Object.values(PASSWORDS));

function pw(p: string): string {
  used.add(p);
  return p;
}

before(async () => {
  let relayUrl = '';
  mitm = await startMitm(() => relayUrl);
  sys = await startSystem({
    rateLimitPerUser: 100,
    agentRelayUrl: (real) => {
      relayUrl = real;
      return mitm.url;
    },
  });
});
after(async () => {
  await sys?.stop();
  await mitm?.close();
});

/** An admin reset of `login` (not forcing a change) with a new password of the test's, through the relay. */
function reset(login: 'alice' | 'bob', newPassword: string) {
  return sys.api('POST', `${T}/users/${login}/password/reset`, { newPassword: pw(newPassword), forceChange: false });
}

/** Give bob his known password again (after a test that really changed it), for the checks below. */
async function putBobBack(): Promise<void> {
  await sys.directory.resetPassword({ by: 'login', value: 'bob' }, PASSWORDS.bob, {
    forceChange: false,
    unlock: false,
    enforceHistory: false,
  });
}

/** The user's password is still the one we know: nothing was written. */
async function unchanged(login: 'alice' | 'bob') {
  const r = await sys.directory.verifyCredentials({ by: 'login', value: login }, PASSWORDS[login]);
  assert.equal(r.outcome, 'succeeded', `${login}'s password must be unchanged`);
}

describe('through a hostile relay', () => {
  it('carries sealed requests it cannot read', async () => {
    const res = await reset('bob', 'Maple-Through-Mitm-1!');
    assert.equal(res.body.outcome, 'succeeded');
    assert.ok(mitm.frames.some((f) => f.text.includes('"t":"request"')));
    assert.deepEqual(
      findSecrets(
        mitm.frames.map((f) => f.text),
        used,
      ),
      [],
    );
    await putBobBack();
  });

  it('cannot alter the ciphertext: the agent rejects it and nothing is written', async () => {
    mitm.onRequest = (frame, send) => {
      const env = frame.envelope as { sealed: { ct: string } };
      const ct = Buffer.from(env.sealed.ct, 'base64url');
      ct[0] = (ct[0] ?? 0) ^ 0xff;
      env.sealed.ct = ct.toString('base64url');
      send(frame);
    };
    const res = await reset('alice', 'Tulip-Tampered-1!');
    assert.equal(res.body.outcome, 'request_rejected');
    await unchanged('alice');
    assert.ok(mitm.frames.some((f) => f.dir === 'to-relay' && f.text.includes('"code":"bad_signature"')));
  });

  it('cannot retarget a request to another user', async () => {
    mitm.onRequest = (frame, send) => {
      const env = frame.envelope as { params: { user: { value: string } } };
      env.params.user.value = 'bob';
      send(frame);
    };
    const res = await reset('alice', 'Tulip-Retarget-1!');
    assert.equal(res.body.outcome, 'request_rejected');
    await unchanged('bob');
    await unchanged('alice');
  });

  it('cannot forge a request with its own key', async () => {
    const forger = privateKeyObject(generateSigningKeyPair().privateJwk);
    mitm.onRequest = (frame, send) => {
      const env = frame.envelope as Record<string, unknown>;
      const { sig: _sig, ...unsigned } = env;
      env.sig = signStatement('request', unsigned, forger).slice(0, 86);
      send(frame);
    };
    const res = await reset('alice', 'Tulip-Forged-1!');
    assert.equal(res.body.outcome, 'request_rejected');
    await unchanged('alice');
  });

  it('cannot replay a request: the second delivery is refused as replayed', async () => {
    mitm.onRequest = (frame, send) => {
      send(frame);
      setTimeout(() => send(frame), 200);
    };
    const res = await reset('bob', 'Maple-Replayed-1!');
    assert.equal(res.body.outcome, 'succeeded');
    await waitFor(() => mitm.frames.some((f) => f.dir === 'to-relay' && f.text.includes('"code":"replayed"')), {
      timeoutMs: 3_000,
      what: 'the replay to be refused',
    });
    await putBobBack();
  });

  it('cannot deliver a request after its deadline: refused as expired, reported as timeout', async () => {
    mitm.onRequest = (frame, send) => {
      const env = frame.envelope as { deadline: number };
      setTimeout(() => send(frame), Math.max(0, env.deadline - Date.now()) + 100);
    };
    const res = await reset('alice', 'Tulip-Late-1!!');
    assert.equal(res.body.outcome, 'timeout');
    await waitFor(() => mitm.frames.some((f) => f.dir === 'to-relay' && f.text.includes('"code":"expired"')), {
      timeoutMs: 8_000,
      what: 'the late request to be refused',
    });
    await unchanged('alice');
  });

  it('cannot read an answer: every answer it carries is sealed, no outcome in sight', async () => {
    const before = mitm.frames.length;
    const res = await sys.api('POST', `${T}/users/alice/password/reset`, { newPassword: pw('Qz9#kw') });
    assert.equal(res.body.outcome, 'policy_violation');
    const answers = mitm.frames
      .slice(before)
      .filter((f) => f.dir === 'to-relay' && f.text.includes('"t":"response"'))
      .map((f) => JSON.parse(f.text) as { envelope: Record<string, unknown> });
    assert.ok(answers.length >= 1);
    for (const a of answers) {
      assert.ok(a.envelope.sealed, 'sealed');
      assert.equal(a.envelope.result, undefined);
      assert.ok(!JSON.stringify(a).includes('policy_violation'));
    }
    await unchanged('alice');
  });

  it('cannot turn a refusal into success: a rewritten sealed answer does not open', async () => {
    mitm.onResponse = (frame, send) => {
      const env = frame.envelope as { sealed: { ct: string } };
      const ct = Buffer.from(env.sealed.ct, 'base64url');
      ct[ct.length - 20] = (ct[ct.length - 20] ?? 0) ^ 0x01;
      env.sealed.ct = ct.toString('base64url');
      send(frame);
    };
    const res = await sys.api('POST', `${T}/users/alice/password/reset`, { newPassword: pw('Qz9#kx') });
    assert.equal(res.body.outcome, 'outcome_unknown');
    await unchanged('alice');
  });

  it('cannot downgrade an answer to a signed one: a signed success is refused where a sealed answer was asked', async () => {
    const forger = generateSigningKeyPair();
    mitm.onResponse = (frame, send) => {
      const { sealed: _s, ...header } = frame.envelope as Record<string, unknown>;
      const unsigned = { ...header, completedAt: Date.now(), result: { outcome: 'succeeded' } };
      send({
        ...frame,
        envelope: { ...unsigned, sig: signStatement('response', unsigned, privateKeyObject(forger.privateJwk)) },
      });
    };
    const res = await sys.api('POST', `${T}/users/alice/password/reset`, { newPassword: pw('Qz9#ky') });
    assert.equal(res.body.outcome, 'outcome_unknown');
    await unchanged('alice');
  });
});

describe('malformed frames at the relay', () => {
  async function rawSocket(): Promise<{ ws: WebSocket; frames: string[]; closed: Promise<number> }> {
    const ws = new WebSocket(`${sys.cloud.url.replace('http', 'ws')}/agent`);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    await waitFor(() => frames.length > 0, { timeoutMs: 2_000, what: 'the challenge' });
    return { ws, frames, closed };
  }

  for (const [name, payload, code] of [
    ['not JSON', '{{{', 'malformed_frame'],
    ['wrong version', JSON.stringify({ v: 9, t: 'pong', ts: 1 }), 'unsupported_version'],
    ['oversized', JSON.stringify({ v: 1, t: 'pong', pad: 'x'.repeat(70_000) }), 'frame_too_large'],
    ['response before auth', JSON.stringify({ v: 1, t: 'pong', ts: 1 }), 'unexpected_frame'],
  ] as const) {
    it(`answers ${name} with ${code} and closes, and the service keeps working`, async () => {
      const { ws, frames, closed } = await rawSocket();
      ws.send(payload);
      await closed;
      assert.ok(
        frames.some((f) => f.includes(`"code":"${code}"`)),
        `${name}: ${frames.join(' | ')}`,
      );
      const health = await sys.api('GET', '/healthz', undefined, null);
      assert.equal(health.status, 200);
      assert.equal(health.body.agentsConnected, 1);
    });
  }
});

describe('secrets', () => {
  it('no password used in this run appears in any log line or relayed frame', () => {
    assert.ok(capturedLogs.length > 0);
    assert.deepEqual(findSecrets(capturedLogs, used), []);
    assert.deepEqual(
      findSecrets(
        mitm.frames.map((f) => f.text),
        used,
      ),
      [],
    );
  });
});
