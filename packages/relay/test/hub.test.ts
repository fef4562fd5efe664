/**
 * The relay hub over real WebSockets with real keys: handshake, protocol violations, heartbeats,
 * routing and what each request resolves to.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FRAME_BYTES, generateSigningKeyPair, privateKeyObject, signResponse } from '@writeback/protocol';
import type { PresenceEvent } from '../src/index.js';
import {
  ScriptedAgent,
  agentWithPendingRequest,
  connectAgent,
  healthRequest,
  makeAgentIdentity,
  makeCloud,
  presenceEvent,
  settlesWithoutIo,
  startHub,
  waitFor,
  type HubFixture,
} from './helpers.js';

const cloud = makeCloud();
const ok = { outcome: 'succeeded' as const };

describe('handshake', () => {
  let fx: HubFixture;
  const events: PresenceEvent[] = [];
  const denied = new Set<string>();
  before(async () => {
    // The agents here answer the challenge at once; only the auth_timeout test waits it out (its own hub).
    fx = await startHub(cloud, {
      authTimeoutMs: 10_000,
      gate: (agentId) => !denied.has(agentId),
      onPresence: (e) => events.push(e),
    });
  });
  after(() => fx.close());

  test('a valid certificate and proof get a welcome, and the agent becomes present', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-a', 'agent-ok');
    const agent = new ScriptedAgent(fx.url, id);
    const challenge = await agent.authenticate();
    assert.equal(challenge.relayId, fx.hub.relayId);
    assert.match(challenge.nonce, /^[A-Za-z0-9_-]{43}$/);
    const welcome = await agent.next('welcome');
    assert.ok(welcome.heartbeatMs > 0);
    const agents = await fx.hub.client().listAgents('tenant-a');
    assert.equal(agents.length, 1);
    assert.equal(agents[0]?.agentId, 'agent-ok');
    assert.equal(agents[0]?.connections, 1);
    assert.equal(agents[0]?.directory, 'embedded');
    assert.deepEqual(await fx.hub.client().listAgents('tenant-b'), []);
    assert.ok(events.some((e) => e.type === 'connected' && e.agentId === 'agent-ok'));
    // Wait for the event itself: holds() turns false as soon as the socket is closing, while the
    // 'disconnected' event comes with the socket's close (a CI run under load failed in between).
    const gone = presenceEvent(fx.hub, (e) => e.type === 'disconnected' && e.agentId === 'agent-ok');
    agent.close();
    assert.equal((await gone).connections, 0);
    assert.equal(fx.hub.holds('agent-ok'), false);
    assert.ok(events.some((e) => e.type === 'disconnected' && e.agentId === 'agent-ok' && e.connections === 0));
  });

  test('a certificate not signed by the cloud is refused with auth_failed', async () => {
    const otherCloud = generateSigningKeyPair();
    const id = makeAgentIdentity(cloud, 'tenant-a', 'agent-forged', privateKeyObject(otherCloud.privateJwk));
    const agent = new ScriptedAgent(fx.url, id);
    await agent.authenticate();
    assert.equal((await agent.next('error')).code, 'auth_failed');
    await agent.closed;
    assert.equal(fx.hub.holds('agent-forged'), false);
  });

  test('a certificate whose fields were altered is refused with auth_failed', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-a', 'agent-altered');
    const agent = new ScriptedAgent(fx.url, id);
    await agent.authenticate({ certificate: { ...id.certificate, tenantId: 'tenant-b' } });
    assert.equal((await agent.next('error')).code, 'auth_failed');
    await agent.closed;
  });

  test('a proof signed with a key other than the certificate key is refused with auth_failed', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-a', 'agent-wrong-proof');
    const agent = new ScriptedAgent(fx.url, id);
    await agent.authenticate({ signWith: privateKeyObject(generateSigningKeyPair().privateJwk) });
    assert.equal((await agent.next('error')).code, 'auth_failed');
    await agent.closed;
  });

  test('an agent the gate refuses gets agent_revoked', async () => {
    denied.add('agent-denied');
    const agent = new ScriptedAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-denied'));
    await agent.authenticate();
    assert.equal((await agent.next('error')).code, 'agent_revoked');
    await agent.closed;
  });

  test('no auth frame in time gives auth_timeout', async () => {
    // A hub of its own with a short timeout: on a loaded machine a 150 ms budget could also time out
    // the agents of the other tests, which answer at once.
    const quick = await startHub(cloud, { authTimeoutMs: 150 });
    try {
      const agent = new ScriptedAgent(quick.url);
      await agent.next('challenge');
      assert.equal((await agent.next('error', 5_000)).code, 'auth_timeout');
      await agent.closed;
    } finally {
      await quick.close();
    }
  });

  test('any frame other than auth before authentication is refused', async () => {
    const agent = new ScriptedAgent(fx.url);
    await agent.next('challenge');
    agent.send({ v: 1, t: 'pong', ts: 1 });
    assert.equal((await agent.next('error')).code, 'unexpected_frame');
    await agent.closed;
  });

  test('revoke() cuts a connected agent off at once, fails its pending request as lost, and refuses it afterwards', async () => {
    const { id, agent, pending } = await agentWithPendingRequest(fx, cloud, 'tenant-a', 'agent-revoked-live');
    await fx.hub.client().revoke('agent-revoked-live');
    assert.equal((await agent.next('error')).code, 'agent_revoked');
    assert.deepEqual(await pending, { kind: 'lost' });
    await agent.closed;
    assert.equal(fx.hub.holds('agent-revoked-live'), false);
    // The gate still says yes (stale), the hub remembers the revocation.
    const again = new ScriptedAgent(fx.url, id);
    await again.authenticate();
    assert.equal((await again.next('error')).code, 'agent_revoked');
  });
});

describe('protocol violations close the connection with a code', () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub(cloud);
  });
  after(() => fx.close());

  const violations: Array<[string, (a: ScriptedAgent) => void, string]> = [
    ['malformed JSON', (a) => a.sendRaw('{"v":1,"t":'), 'malformed_frame'],
    ['a frame that is not in the schema', (a) => a.sendRaw(JSON.stringify({ v: 1, t: 'bogus' })), 'malformed_frame'],
    [
      'an unsupported protocol version',
      (a) => a.sendRaw(JSON.stringify({ v: 2, t: 'pong', ts: 1 })),
      'unsupported_version',
    ],
    [
      'a frame over MAX_FRAME_BYTES',
      (a) => a.sendRaw(JSON.stringify({ v: 1, t: 'pong', ts: 1, pad: 'x'.repeat(MAX_FRAME_BYTES) })),
      'frame_too_large',
    ],
    ['a binary frame', (a) => a.sendRaw(Buffer.from('{"v":1,"t":"pong","ts":1}')), 'malformed_frame'],
  ];
  for (const [name, act, code] of violations) {
    test(`${name} → ${code}`, async () => {
      const { agent, pending } = await agentWithPendingRequest(fx, cloud, 'tenant-v', `agent-${code}`);
      act(agent);
      assert.equal((await agent.next('error')).code, code);
      await agent.closed;
      assert.deepEqual(await pending, { kind: 'lost' });
    });
  }

  test('a frame far above the limit is cut off by ws before buffering (close 1009)', async () => {
    const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-v', 'agent-huge'));
    agent.sendRaw('x'.repeat(MAX_FRAME_BYTES * 3));
    const { code } = await agent.closed;
    assert.equal(code, 1009);
  });

  test('a response claiming another tenant gets wrong_tenant and is never delivered', async () => {
    const { id, agent, env, pending } = await agentWithPendingRequest(fx, cloud, 'tenant-v', 'agent-cross');
    const forged = signResponse({
      request: { ...env, tenantId: 'tenant-other' },
      result: ok,
      agentSigningKey: id.signingKey,
    });
    agent.send({ v: 1, t: 'response', envelope: forged });
    assert.equal((await agent.next('error')).code, 'wrong_tenant');
    assert.deepEqual(await pending, { kind: 'lost' });
  });

  test('the hub keeps serving other agents after violations', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-v', 'agent-after');
    const agent = await connectAgent(fx.url, id);
    agent.answer = () => ok;
    const answer = await fx.hub.send(healthRequest(cloud, id));
    assert.equal(answer.kind, 'response');
    agent.close();
  });
});

describe('requests', () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub(cloud);
  });
  after(() => fx.close());

  test('a response from the agent resolves the request', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-answers');
    const agent = await connectAgent(fx.url, id);
    agent.answer = () => ok;
    const env = healthRequest(cloud, id);
    const answer = await fx.hub.client().send(env);
    assert.equal(answer.kind, 'response');
    if (answer.kind === 'response') {
      assert.equal(answer.envelope.requestId, env.requestId);
      assert.ok('result' in answer.envelope, 'this test agent signs its answers');
      if ('result' in answer.envelope) assert.equal(answer.envelope.result.outcome, 'succeeded');
    }
    agent.close();
  });

  test('a reject frame resolves rejected with its code', async () => {
    const { agent, env, pending } = await agentWithPendingRequest(fx, cloud, 'tenant-r', 'agent-rejects');
    agent.send({ v: 1, t: 'reject', requestId: env.requestId, code: 'replayed', message: 'seen' });
    const answer = await pending;
    assert.equal(answer.kind, 'rejected');
    if (answer.kind === 'rejected') assert.equal(answer.code, 'replayed');
    agent.close();
  });

  test('no connection of the agent → unavailable at once, nothing sent', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-absent');
    // "At once" as in: before any timer or socket could play a part, however busy the machine.
    assert.deepEqual(await settlesWithoutIo(fx.hub.send(healthRequest(cloud, id))), { value: { kind: 'unavailable' } });
  });

  test('a request naming another tenant than the connected agent has is never sent to it', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-isolated');
    const agent = await connectAgent(fx.url, id);
    const env = healthRequest(cloud, { ...id, tenantId: 'tenant-s' });
    assert.deepEqual(await fx.hub.send(env), { kind: 'unavailable' });
    // Frames arrive in order: if the first request the agent gets is a later one, the other was never sent.
    const later = healthRequest(cloud, id);
    const pending = fx.hub.send(later);
    assert.equal((await agent.next('request')).envelope.requestId, later.requestId);
    agent.close();
    assert.deepEqual(await pending, { kind: 'lost' });
  });

  test('no answer by the deadline → timeout; a late answer is ignored and the connection stays', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-slow');
    const agent = await connectAgent(fx.url, id);
    const env = healthRequest(cloud, id, 150);
    assert.deepEqual(await fx.hub.send(env), { kind: 'timeout' });
    // Not before the deadline (a timer may fire up to a millisecond early against the wall clock).
    assert.ok(Date.now() >= env.deadline - 2, `timeout ${env.deadline - Date.now()} ms before the deadline`);
    agent.send({
      v: 1,
      t: 'response',
      envelope: signResponse({ request: env, result: ok, agentSigningKey: id.signingKey }),
    });
    // The hub reads frames in order: once the next request is answered, the late one was ignored.
    agent.answer = () => ok;
    assert.equal((await fx.hub.send(healthRequest(cloud, id))).kind, 'response');
    assert.equal(agent.ws.readyState, agent.ws.OPEN);
    assert.equal(fx.hub.holds('agent-slow'), true);
    agent.close();
  });

  test('a deadline already past → rejected expired, not sent', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-past');
    const agent = await connectAgent(fx.url, id);
    const answer = await fx.hub.send(healthRequest(cloud, id, -1));
    assert.equal(answer.kind, 'rejected');
    if (answer.kind === 'rejected') assert.equal(answer.code, 'expired');
    agent.close();
  });

  test('two agents of one tenant: healthiest first, requests spread, failover after one goes', async () => {
    const a = makeAgentIdentity(cloud, 'tenant-ha', 'agent-ha-1');
    const b = makeAgentIdentity(cloud, 'tenant-ha', 'agent-ha-2');
    const agentA = await connectAgent(fx.url, a);
    const agentB = await connectAgent(fx.url, b);
    const client = fx.hub.client();
    assert.deepEqual((await client.listAgents('tenant-ha')).map((p) => p.agentId).sort(), ['agent-ha-1', 'agent-ha-2']);

    // A request in flight on A makes B the healthiest: the cloud's pick spreads the load.
    const slow = client.send(healthRequest(cloud, a));
    await agentA.next('request');
    const ranked = await client.listAgents('tenant-ha');
    assert.deepEqual(
      ranked.map((p) => [p.agentId, p.inFlight]),
      [
        ['agent-ha-2', 0],
        ['agent-ha-1', 1],
      ],
    );
    agentB.answer = () => ok;
    const pick = ranked[0]?.agentId === 'agent-ha-2' ? b : a;
    assert.equal((await client.send(healthRequest(cloud, pick))).kind, 'response');

    // A dies mid-request: its request is lost, B is still there and answers.
    const aGone = presenceEvent(fx.hub, (e) => e.type === 'disconnected' && e.agentId === 'agent-ha-1');
    agentA.ws.terminate();
    assert.deepEqual(await slow, { kind: 'lost' });
    await aGone;
    assert.equal((await client.listAgents('tenant-ha'))[0]?.agentId, 'agent-ha-2');
    assert.deepEqual(await client.send(healthRequest(cloud, a)), { kind: 'unavailable' });
    assert.equal((await client.send(healthRequest(cloud, b))).kind, 'response');
    agentB.close();
  });

  test('one agent with two connections: concurrent requests go to the least-loaded connection', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-two-conns');
    const c1 = await connectAgent(fx.url, id);
    const c2 = await connectAgent(fx.url, id);
    assert.equal((await fx.hub.client().listAgents('tenant-r')).find((p) => p.agentId === id.agentId)?.connections, 2);
    const r1 = fx.hub.send(healthRequest(cloud, id));
    const r2 = fx.hub.send(healthRequest(cloud, id));
    await c1.next('request');
    await c2.next('request');
    c1.ws.terminate();
    c2.ws.terminate();
    assert.deepEqual(await r1, { kind: 'lost' });
    assert.deepEqual(await r2, { kind: 'lost' });
  });

  test('a handshake probe (doctor) gets the verdict and is closed: never present, never routed to, takes no slot', async () => {
    const small = await startHub(cloud, {
      maxConnectionsPerAgent: 1,
      gate: (agentId) => agentId !== 'agent-probed-revoked',
    });
    try {
      const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-probed');
      const events: string[] = [];
      small.hub.onPresence((e) => events.push(`${e.type}:${e.agentId}`));
      const running = await connectAgent(small.url, id);
      running.answer = () => ok;
      // The running agent holds the only slot: a probe still gets its welcome, then the relay closes it.
      const probe = new ScriptedAgent(small.url, id);
      await probe.authenticate({ probe: true });
      assert.ok((await probe.next('welcome')).heartbeatMs > 0);
      assert.equal((await probe.closed).code, 1000);
      const present = await small.hub.client().listAgents('tenant-r');
      assert.equal(present.length, 1);
      assert.equal(present[0]?.connections, 1);
      assert.deepEqual(events, ['connected:agent-probed']);
      // Requests keep going to the running agent (the probe never joined its connections).
      for (let i = 0; i < 3; i++)
        assert.equal((await small.hub.client().send(healthRequest(cloud, id))).kind, 'response');
      const gone = presenceEvent(small.hub, (e) => e.type === 'disconnected' && e.agentId === 'agent-probed');
      running.close();
      await gone;
      // With no agent connected, a probe does not make it present: a request is unavailable at once.
      const alone = new ScriptedAgent(small.url, id);
      await alone.authenticate({ probe: true });
      await alone.next('welcome');
      assert.equal((await small.hub.client().send(healthRequest(cloud, id))).kind, 'unavailable');
      await alone.closed;
      assert.deepEqual(await small.hub.client().listAgents('tenant-r'), []);
      // A revoked agent's probe gets the same refusal as the agent.
      const revoked = new ScriptedAgent(small.url, makeAgentIdentity(cloud, 'tenant-r', 'agent-probed-revoked'));
      await revoked.authenticate({ probe: true });
      assert.equal((await revoked.next('error')).code, 'agent_revoked');
    } finally {
      await small.close();
    }
  });

  test('more connections than maxConnectionsPerAgent are refused with overloaded', async () => {
    const small = await startHub(cloud, { maxConnectionsPerAgent: 1 });
    try {
      const id = makeAgentIdentity(cloud, 'tenant-r', 'agent-greedy');
      const first = await connectAgent(small.url, id);
      const second = new ScriptedAgent(small.url, id);
      await second.authenticate();
      assert.equal((await second.next('error')).code, 'overloaded');
      first.close();
    } finally {
      await small.close();
    }
  });
});

describe('connection limit', () => {
  test('at the limit, a connection silent for a heartbeat gives its slot to a newcomer', async () => {
    // The hub's clock is moved instead of waiting; a heartbeat of a minute never ticks during the test.
    let skew = 0;
    const heartbeatMs = 60_000;
    const fx = await startHub(cloud, { maxConnectionsPerAgent: 1, heartbeatMs, now: () => Date.now() + skew });
    try {
      const id = makeAgentIdentity(cloud, 'tenant-l', 'agent-redial');
      const old = await connectAgent(fx.url, id);
      skew = heartbeatMs + 1; // the old connection has now been silent for more than a heartbeat
      const fresh = await connectAgent(fx.url, id);
      await old.closed;
      fresh.answer = () => ok;
      // Deadlines are wall-clock: this one is still ahead of the hub's moved clock.
      assert.equal((await fx.hub.send(healthRequest(cloud, id, skew + 30_000))).kind, 'response');
      assert.equal(fx.hub.presence()[0]?.connections, 1);
    } finally {
      await fx.close();
    }
  });
});

describe('heartbeats', () => {
  test('pongs record rtt; a silent agent is terminated after two intervals and its pending request is lost', async () => {
    // Real 50 ms ticks, but the hub's clock is ours: stopped while the agent must stay alive (a
    // starved test process must not look like a dead peer), then running a thousand times fast, so
    // the first tick after the agent falls silent finds it silent for more than two intervals.
    const start = Date.now();
    let clock = () => start;
    const fx = await startHub(cloud, { heartbeatMs: 50, now: () => clock() });
    try {
      const id = makeAgentIdentity(cloud, 'tenant-h', 'agent-heart');
      const agent = await connectAgent(fx.url, id);
      await agent.next('ping');
      await waitFor(() => (fx.hub.presence()[0]?.rttMs ?? null) !== null, { timeoutMs: 10_000, what: 'rtt' });
      assert.equal(fx.hub.presence()[0]?.rttMs, 0); // a stopped clock: no time between ping and pong
      const pending = fx.hub.send(healthRequest(cloud, id));
      await agent.next('request');

      agent.autoPong = false;
      clock = () => start + (Date.now() - start) * 1_000;
      assert.deepEqual(await pending, { kind: 'lost' });
      assert.equal(fx.hub.holds('agent-heart'), false);
    } finally {
      await fx.close();
    }
  });

  test('closing the hub resolves pending requests as lost and refuses new ones as unavailable', async () => {
    const fx = await startHub(cloud);
    const { id, pending } = await agentWithPendingRequest(fx, cloud, 'tenant-h', 'agent-closing');
    await fx.close();
    assert.deepEqual(await pending, { kind: 'lost' });
    assert.deepEqual(await fx.hub.send(healthRequest(cloud, id)), { kind: 'unavailable' });
    await fx.hub.close(); // idempotent
  });
});

describe('configuration', () => {
  test('bad options throw TypeError naming the option', async () => {
    const { createRelayHub } = await import('../src/index.js');
    assert.throws(
      () => createRelayHub({ cloudVerifyKey: cloud.signingKey, gate: () => true }),
      (e: unknown) => e instanceof TypeError && /cloudVerifyKey/.test(e.message),
    );
    assert.throws(
      () => createRelayHub({ cloudVerifyKey: cloud.verifyKey, gate: () => true, heartbeatMs: 0 }),
      (e: unknown) => e instanceof TypeError && /heartbeatMs/.test(e.message),
    );
  });
});
