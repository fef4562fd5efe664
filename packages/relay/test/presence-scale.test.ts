/**
 * Issue 11 item 2: a relay holding more than ~2,600 agents stopped serving all of them. Presence
 * was one NATS message listing every agent of every tenant (~404 B each); over the server's
 * max_payload (1 MiB) the answer could not be published, the clouds heard no agent at all and
 * answered agent_unavailable, and the relay's /healthz said ok.
 *
 * Real parts: a nats-server of this test's own with a small max_payload (16 KiB, so 200 agents
 * are well over it, as 2,600 are over 1 MiB), the standalone relay as its own process, 200
 * agents that authenticate for real over WebSocket (one tenant of 60, whose own answer is over
 * the limit too, and 14 of 10), and two cloud-side relay clients. Each client finds and reaches
 * every agent; an agent answer too large for NATS is counted in the relay's /healthz and ends
 * its request `lost` at once instead of silencing the relay.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import {
  NATS_SERVER_BIN,
  startNatsServer,
  startRelayProcess,
  type NatsServer,
  type RelayProcess,
} from '@writeback/testkit/nats';
import { createNatsRelayClient, serveAgentGate, type RelayClient } from '../src/index.js';
import { presenceParts } from '../src/presence.js';
import {
  connectAgent,
  healthRequest,
  makeAgentIdentity,
  makeCloud,
  quietLog,
  waitFor,
  type AgentIdentity,
  type ScriptedAgent,
} from './helpers.js';

const MAX_PAYLOAD = 16 * 1024;
const ok = { outcome: 'succeeded' as const };

interface RelayHealth {
  ok: boolean;
  agents: number;
  nats: {
    status: string;
    publishErrors: number;
    lastPublishError: { at: number; what: string; code: string } | null;
    presence: string;
  };
}

describe('issue 11 item 2: presence does not grow with the fleet in one NATS message', {
  skip: !NATS_SERVER_BIN,
}, () => {
  const cloud = makeCloud();
  const prefix = `wbscale.${randomBytes(4).toString('hex')}`;
  const tenants: { tenantId: string; size: number }[] = [
    { tenantId: 'tenant-big', size: 60 },
    ...Array.from({ length: 14 }, (_, i) => ({ tenantId: `tenant.${i}`, size: 10 })),
  ];
  let nats: NatsServer;
  let relay: RelayProcess;
  let ncGate: NatsConnection;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let gate: { stop(): Promise<void> };
  let clientA: RelayClient;
  let clientB: RelayClient;
  const agents: { id: AgentIdentity; ws: ScriptedAgent }[] = [];

  const health = async (): Promise<{ status: number; body: RelayHealth }> => {
    const res = await fetch(relay.healthUrl);
    return { status: res.status, body: (await res.json()) as RelayHealth };
  };

  before(async () => {
    nats = await startNatsServer({ maxPayload: MAX_PAYLOAD });
    [ncGate, ncA, ncB] = await Promise.all([
      connect({ servers: nats.url }),
      connect({ servers: nats.url }),
      connect({ servers: nats.url }),
    ]);
    gate = serveAgentGate(ncGate, () => true, { prefix, log: quietLog() });
    relay = await startRelayProcess({
      natsUrl: nats.url,
      natsPrefix: prefix,
      cloudPublicKey: cloud.publicKey,
      relayId: 'relay-full',
    });
    const ids = tenants.flatMap(({ tenantId, size }) =>
      Array.from({ length: size }, (_, i) => makeAgentIdentity(cloud, tenantId, `${tenantId}-agent-${i}`)),
    );
    // A few at a time: the relay admits 64 pending authentications per address.
    for (let i = 0; i < ids.length; i += 32) {
      const batch = await Promise.all(ids.slice(i, i + 32).map((id) => connectAgent(relay.url, id)));
      for (const [j, ws] of batch.entries()) {
        ws.answer = () => ok;
        agents.push({ id: ids[i + j] as AgentIdentity, ws });
      }
    }
    clientA = createNatsRelayClient(ncA, { prefix, log: quietLog() });
    clientB = createNatsRelayClient(ncB, { prefix, log: quietLog() });
  });

  after(async () => {
    for (const a of agents) a.ws.close();
    await clientA?.close();
    await clientB?.close();
    await gate?.stop();
    await Promise.all([ncGate?.close(), ncA?.close(), ncB?.close()]);
    await relay?.stop();
    await nats?.stop();
  });

  test('the old single answer would not fit: 200 agents are far over max_payload', () => {
    const bytes = agents.length * 404;
    assert.ok(bytes > MAX_PAYLOAD * 4, `${bytes} bytes`);
  });

  test('both clouds list every agent of every tenant and reach each one', async () => {
    for (const [n, client] of [clientA, clientB].entries()) {
      for (const { tenantId, size } of tenants) {
        const listed = await client.listAgents(tenantId);
        assert.equal(listed.length, size, `cloud ${n} lists ${tenantId}`);
        assert.ok(
          listed.every((p) => p.tenantId === tenantId && p.relayId === 'relay-full'),
          'only the tenant, from the relay',
        );
      }
    }
    for (const [i, { id }] of agents.entries()) {
      const client = i % 2 === 0 ? clientA : clientB;
      const answer = await client.send(healthRequest(cloud, id));
      assert.equal(answer.kind, 'response', `agent ${id.agentId}`);
    }
  });

  test('every agent, for the health counts, arrives in parts', async () => {
    const all = await clientA.allAgents();
    assert.equal(all.length, agents.length);
    assert.equal(new Set(all.map((p) => p.agentId)).size, agents.length);
    assert.deepEqual(
      clientA.health?.().relays.map((r) => ({ relayId: r.relayId, agents: r.agents })),
      [{ relayId: 'relay-full', agents: agents.length }],
    );
  });

  test("an agent's answer too large for NATS: counted in /healthz, the request ends lost, the relay keeps serving", async () => {
    const before = await health();
    assert.equal(before.status, 200);
    assert.equal(before.body.agents, agents.length);
    assert.equal(before.body.nats.publishErrors, 0);

    const [big, next] = agents;
    assert.ok(big && next);
    big.ws.answer = () => ({ outcome: 'succeeded', data: { pad: 'x'.repeat(MAX_PAYLOAD + 4_096) } });
    assert.deepEqual(await clientA.send(healthRequest(cloud, big.id)), { kind: 'lost' });

    const after = await health();
    assert.equal(after.body.nats.publishErrors, 1);
    assert.equal(after.body.nats.lastPublishError?.what, 'answer');
    assert.equal(after.body.nats.lastPublishError?.code, 'MAX_PAYLOAD_EXCEEDED');
    // Only that request's fate: the node's presence still gets out, so it stays ready.
    assert.equal(after.status, 200);
    assert.equal(after.body.nats.presence, 'ok');
    await waitFor(() => relay.lines.some((l) => l.includes('NATS publish failed')), { what: 'the failure logged' });

    assert.equal((await clientB.send(healthRequest(cloud, next.id))).kind, 'response');
    assert.equal((await clientA.listAgents('tenant-big')).length, 60);
  });
});

describe('presence parts', () => {
  const agent = (i: number) => ({
    agentId: `a-${i}`,
    tenantId: 't',
    name: `agent ${i}`,
    agentVersion: '1',
    directory: 'embedded',
    capabilities: {},
    relayId: 'r',
    connections: 1,
    connectedAt: 1,
    lastSeenAt: 2,
    rttMs: null,
    inFlight: 0,
  });

  test('each part stays near the budget, and the parts together are the list', () => {
    const list = Array.from({ length: 100 }, (_, i) => agent(i));
    const parts = presenceParts({ kind: 'list', relayId: 'r' }, list, 2_048).map(
      (p) => JSON.parse(p) as { part: number; parts: number; agents: { agentId: string }[] },
    );
    assert.ok(parts.length > 1);
    assert.ok(parts.every((p, i) => p.part === i && p.parts === parts.length));
    assert.ok(parts.every((p) => JSON.stringify(p.agents).length <= 2_048));
    assert.deepEqual(
      parts.flatMap((p) => p.agents.map((a) => a.agentId)),
      list.map((a) => a.agentId),
    );
  });

  test('an empty list is one part', () => {
    assert.deepEqual(JSON.parse(presenceParts({ relayId: 'r' }, [], 1_024)[0] ?? ''), {
      relayId: 'r',
      part: 0,
      parts: 1,
      agents: [],
    });
  });
});
