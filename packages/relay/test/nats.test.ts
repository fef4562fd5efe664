/**
 * Relay nodes over the real NATS server (NATS_URL, default nats://127.0.0.1:4222): two hub nodes,
 * a cloud client on a third connection. Each run uses its own subject prefix, so runs sharing the
 * server do not see each other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import {
  createNatsGate,
  createNatsRelayClient,
  RelayError,
  serveAgentGate,
  startNatsBridge,
  type NatsBridge,
} from '../src/index.js';
import type { RelayClient } from '../src/index.js';
import {
  ScriptedAgent,
  connectAgent,
  healthRequest,
  makeAgentIdentity,
  makeCloud,
  quietLog,
  startHub,
  waitFor,
  type HubFixture,
} from './helpers.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const cloud = makeCloud();
const ok = { outcome: 'succeeded' as const };

async function tryConnect(): Promise<NatsConnection | null> {
  try {
    return await connect({ servers: NATS_URL, timeout: 1_000, maxReconnectAttempts: 0 });
  } catch {
    return null;
  }
}

describe('relay nodes over NATS', async () => {
  const probe = await tryConnect();
  if (!probe) {
    test('NATS server', (t) => t.skip(`no NATS server at ${NATS_URL}`));
    return;
  }
  await probe.close();

  const prefix = `wbtest.${randomBytes(4).toString('hex')}`;
  const denied = new Set<string>();
  let ncA: NatsConnection, ncB: NatsConnection, ncCloud: NatsConnection;
  let nodeA: HubFixture, nodeB: HubFixture;
  let bridgeA: NatsBridge, bridgeB: NatsBridge;
  let client: RelayClient;
  let gateService: { stop(): Promise<void> };

  before(async () => {
    [ncA, ncB, ncCloud] = await Promise.all([
      connect({ servers: NATS_URL }),
      connect({ servers: NATS_URL }),
      connect({ servers: NATS_URL }),
    ]);
    // The cloud answers the gate; node B asks it over NATS, node A has a local gate.
    gateService = serveAgentGate(ncCloud, (agentId) => !denied.has(agentId), { prefix, log: quietLog() });
    nodeA = await startHub(cloud, { relayId: 'node-a' });
    nodeB = await startHub(cloud, { relayId: 'node-b', gate: createNatsGate(ncB, { prefix, log: quietLog() }) });
    bridgeA = startNatsBridge(nodeA.hub, ncA, { prefix, log: quietLog() });
    bridgeB = startNatsBridge(nodeB.hub, ncB, { prefix, log: quietLog() });
    client = createNatsRelayClient(ncCloud, { prefix, presenceWindowMs: 50, refreshMs: 500, log: quietLog() });
  });
  after(async () => {
    await client.close();
    await bridgeA.stop();
    await bridgeB.stop();
    await gateService.stop();
    await nodeA.close();
    await nodeB.close();
    await Promise.all([ncA.close(), ncB.close(), ncCloud.close()]);
  });

  test('a request reaches the node holding the agent and comes back', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-n', 'agent-on-a');
    const agent = await connectAgent(nodeA.url, id);
    agent.answer = () => ok;
    await waitFor(async () => (await client.listAgents('tenant-n')).some((p) => p.agentId === 'agent-on-a'), {
      timeoutMs: 10_000,
      what: 'presence',
    });
    const [p] = await client.listAgents('tenant-n');
    assert.equal(p?.relayId, 'node-a');
    assert.equal(p?.connections, 1);

    const env = healthRequest(cloud, id);
    const answer = await client.send(env);
    assert.equal(answer.kind, 'response');
    if (answer.kind === 'response') assert.equal(answer.envelope.requestId, env.requestId);
    agent.close();
    await waitFor(async () => !(await client.listAgents('tenant-n')).some((p) => p.agentId === 'agent-on-a'), {
      timeoutMs: 10_000,
      what: 'gone',
    });
  });

  test('an agent on both nodes is one presence with its connections summed, and gets each request once', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-n2', 'agent.on.both');
    const onA = await connectAgent(nodeA.url, id);
    const onB = await connectAgent(nodeB.url, id);
    let answered = 0;
    onA.answer = onB.answer = () => {
      answered++;
      return ok;
    };
    await waitFor(async () => (await client.listAgents('tenant-n2'))[0]?.connections === 2, {
      timeoutMs: 10_000,
      what: 'both connections',
    });
    for (let i = 0; i < 4; i++) assert.equal((await client.send(healthRequest(cloud, id))).kind, 'response');
    assert.equal(answered, 4);
    onA.close();
    onB.close();
  });

  test('no node holds the agent → unavailable (NATS no-responders), not a timeout', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-n', 'agent-nowhere');
    // The kind tells them apart without a stopwatch: waiting out the deadline would give `timeout`.
    assert.deepEqual(await client.send(healthRequest(cloud, id)), { kind: 'unavailable' });
  });

  test('no answer by the deadline → timeout', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-n', 'agent-mute');
    const agent = await connectAgent(nodeB.url, id);
    await waitFor(() => nodeB.hub.holds('agent-mute'), { timeoutMs: 10_000, what: 'held' });
    await waitFor(async () => (await client.listAgents('tenant-n')).some((p) => p.agentId === 'agent-mute'), {
      timeoutMs: 10_000,
      what: 'presence',
    });
    // Long enough that the trip over NATS to the node never eats the whole deadline on a busy
    // machine (the node would then refuse it as `expired`), short enough to wait out.
    assert.deepEqual(await client.send(healthRequest(cloud, id, 1_500)), { kind: 'timeout' });
    agent.close();
  });

  test('revoke through the client cuts the agent off on whichever node holds it', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-n', 'agent-to-revoke');
    const agent = await connectAgent(nodeB.url, id);
    await waitFor(async () => (await client.listAgents('tenant-n')).some((p) => p.agentId === 'agent-to-revoke'), {
      timeoutMs: 10_000,
      what: 'presence',
    });
    await client.revoke('agent-to-revoke');
    assert.equal((await agent.next('error')).code, 'agent_revoked');
    await agent.closed;
    await waitFor(async () => !(await client.listAgents('tenant-n')).some((p) => p.agentId === 'agent-to-revoke'), {
      timeoutMs: 10_000,
      what: 'gone',
    });
  });

  test('the NATS gate: the cloud refuses a revoked agent at connection time', async () => {
    denied.add('agent-denied-by-cloud');
    const agent = new ScriptedAgent(nodeB.url, makeAgentIdentity(cloud, 'tenant-n', 'agent-denied-by-cloud'));
    await agent.authenticate();
    assert.equal((await agent.next('error')).code, 'agent_revoked');
  });

  test('the NATS gate fails closed when no cloud answers: it cannot tell, so it throws (never "revoked")', async () => {
    const nc = await connect({ servers: NATS_URL });
    try {
      const gate = createNatsGate(nc, { prefix: `${prefix}.nobody`, timeoutMs: 300, log: quietLog() });
      await assert.rejects(
        Promise.resolve(gate('any', 'any')),
        (e: unknown) => RelayError.is(e) && e.code === 'gate_failed',
      );
    } finally {
      await nc.close();
    }
  });
});
