/**
 * Issue 12 item 1: an agent's report of its directory (carried by its pongs) becomes part of its
 * presence, in the hub and over NATS, and a change is announced like a connection is; an agent
 * that never reports (older than issue 12) is listed without it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { UNSOLICITED_PONG_TS } from '@writeback/protocol';
import { startNatsServer, type NatsServer } from '@writeback/testkit/nats';
import {
  createNatsRelayClient,
  startNatsBridge,
  type NatsBridge,
  type PresenceEvent,
  type RelayClient,
} from '../src/index.js';
import {
  connectAgent,
  makeAgentIdentity,
  makeCloud,
  presenceEvent,
  quietLog,
  startHub,
  waitFor,
  type HubFixture,
} from './helpers.js';

const cloud = makeCloud();
const down = { ok: false, since: 1_700_000_000_000, detail: 'connect ECONNREFUSED 127.0.0.1:1' };
const up = { ok: true, since: 1_700_000_060_000 };

describe('directory health in the hub presence', () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub(cloud);
  });
  after(() => fx.close());

  test('an agent that never reports is listed without it', async () => {
    const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-old', 'agent-old'));
    try {
      const [p] = await fx.hub.client().listAgents('tenant-old');
      assert.equal(p?.agentId, 'agent-old');
      assert.equal(p?.directoryHealth, undefined);
    } finally {
      agent.close();
    }
  });

  test('a report is kept, announced when ok flips (not on every pong), and an unsolicited pong measures no rtt', async () => {
    const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-dh', 'agent-dh'));
    const events: PresenceEvent[] = [];
    const off = fx.hub.onPresence((e) => events.push(e));
    try {
      const first = presenceEvent(fx.hub, (e) => e.type === 'directory' && e.agentId === 'agent-dh');
      agent.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: down });
      assert.equal((await first).tenantId, 'tenant-dh');
      let [p] = await fx.hub.client().listAgents('tenant-dh');
      assert.deepEqual(p?.directoryHealth, down);
      assert.equal(p?.rttMs, null, 'a pong that echoes no ping measures nothing');

      // The same state again: kept, not announced.
      agent.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: down });
      const flipped = presenceEvent(fx.hub, (e) => e.type === 'directory' && e.agentId === 'agent-dh');
      agent.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: up });
      await flipped;
      [p] = await fx.hub.client().listAgents('tenant-dh');
      assert.deepEqual(p?.directoryHealth, up);
      assert.equal(events.filter((e) => e.type === 'directory').length, 2);
    } finally {
      off();
      agent.close();
    }
  });

  test('two connections of one agent: the newer state wins', async () => {
    const id = makeAgentIdentity(cloud, 'tenant-two', 'agent-two');
    const a = await connectAgent(fx.url, id);
    const b = await connectAgent(fx.url, id);
    try {
      const flipped = presenceEvent(fx.hub, (e) => e.type === 'directory' && e.agentId === 'agent-two');
      a.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: down });
      await flipped;
      const back = presenceEvent(fx.hub, (e) => e.type === 'directory' && e.agentId === 'agent-two');
      b.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: up });
      await back;
      const [p] = await fx.hub.client().listAgents('tenant-two');
      assert.equal(p?.connections, 2);
      assert.deepEqual(p?.directoryHealth, up);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('directory health over NATS', () => {
  let nats: NatsServer;
  let ncHub: NatsConnection;
  let ncCloud: NatsConnection;
  let fx: HubFixture;
  let bridge: NatsBridge;
  let client: RelayClient;
  const prefix = `wbtest.${randomBytes(4).toString('hex')}`;

  before(async () => {
    nats = await startNatsServer();
    [ncHub, ncCloud] = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
    fx = await startHub(cloud, { relayId: 'node-dh' });
    bridge = startNatsBridge(fx.hub, ncHub, { prefix, log: quietLog() });
    // A long refresh: only the change announcement can make the client ask again in time.
    client = createNatsRelayClient(ncCloud, { prefix, presenceWindowMs: 50, refreshMs: 60_000, log: quietLog() });
  });
  after(async () => {
    await client?.close();
    await bridge?.stop();
    await fx?.close();
    await Promise.all([ncHub?.close(), ncCloud?.close()]);
    await nats?.stop();
  });

  test("a cloud client hears the agent's report, and its change at once", async () => {
    const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-n', 'agent-n'));
    try {
      await waitFor(async () => (await client.listAgents('tenant-n')).length === 1, { what: 'the agent listed' });
      agent.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: down });
      await waitFor(async () => (await client.listAgents('tenant-n'))[0]?.directoryHealth?.ok === false, {
        what: 'the down report over NATS',
      });
      assert.deepEqual((await client.listAgents('tenant-n'))[0]?.directoryHealth, down);
      agent.send({ v: 1, t: 'pong', ts: UNSOLICITED_PONG_TS, directoryHealth: up });
      await waitFor(async () => (await client.listAgents('tenant-n'))[0]?.directoryHealth?.ok === true, {
        what: 'the up report over NATS',
      });
    } finally {
      agent.close();
    }
  });
});
