/**
 * Issue 11 item 3: under CPU load a relay's presence answer came after the cloud's 100 ms window;
 * the cloud then cached an empty list (up to 1 s) and answered agent_unavailable, logging nothing.
 * Now what each relay last said is kept until it says otherwise (stale-but-known beats empty;
 * a wrong guess costs one NATS "no responders" and fails over), and every agent_unavailable
 * logs which agents were known, from which relay, and how old that was.
 *
 * Real parts: a nats-server of this test's own, a cloud node in RELAY_MODE=nats, a relay hub with
 * its NATS bridge (whose presence answers the test holds back, past the window, with the bridge's
 * hook), and a real agent over the embedded directory.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import { publicKeyObject } from '@writeback/protocol';
import { createNatsGate, startNatsBridge, type NatsBridge } from '@writeback/relay';
import {
  agentConnected,
  capturingLogger,
  presenceEvents,
  quietLog,
  startCloud,
  startAcmeWithAgent,
  startHub,
  waitFor,
  type HubFixture,
  type StartedCloud,
  TEST_POLICY,
} from '@writeback/testkit';
import { NATS_SERVER_BIN, startNatsServer, type NatsServer } from '@writeback/testkit/nats';

describe('issue 11 item 3: a late presence answer never fails a request', { skip: !NATS_SERVER_BIN }, () => {
  let nats: NatsServer;
  let started: StartedCloud;
  let relayNc: NatsConnection;
  let testNc: NatsConnection;
  let node: HubFixture;
  let bridge: NatsBridge;
  let agent: RunningAgent;
  let directory: EmbeddedDirectory;
  let dir: string;
  let apiKey: string;
  let tenantId: string;
  const prefix = `wblate.${randomBytes(4).toString('hex')}`;
  const cloudLog = capturingLogger('cloud', 'info');

  /** While set, the relay's presence answers wait for it; `held` counts the questions kept waiting. */
  let hold: Promise<void> | null = null;
  let release = () => {};
  let held = 0;

  const reset = async (newPassword: string) => {
    const res = await fetch(`${started.cloud.url}/api/v1/tenants/acme/users/alice/password/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ newPassword, forceChange: false }),
    });
    return (await res.json()) as { outcome?: string; requestId?: string };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-presence-late-'));
    nats = await startNatsServer();
    started = await startCloud({
      config: { relayMode: 'nats', natsUrl: nats.url, natsPrefix: prefix },
      deps: { log: cloudLog.log },
    });
    [relayNc, testNc] = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
    node = await startHub(
      { verifyKey: publicKeyObject('Ed25519', started.cloud.cloudPublicKey) },
      { relayId: 'relay-late', gate: createNatsGate(relayNc, { prefix }) },
    );
    bridge = startNatsBridge(node.hub, relayNc, {
      prefix,
      log: quietLog(),
      beforePresenceReply: () => {
        if (!hold) return;
        held++;
        return hold;
      },
    });
    ({ apiKey, tenantId, directory, agent } = await startAcmeWithAgent(started.cloud, {
      dir,
      policy: TEST_POLICY,
      log: quietLog(),
      relayUrl: node.url,
    }));
    await agentConnected(started.cloud, { tenantId });
  });

  after(async () => {
    release();
    await agent?.stop();
    await bridge?.stop();
    await node?.close();
    await Promise.all([relayNc?.close(), testNc?.close()]);
    await started?.stop();
    await nats?.stop();
    await directory?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the relay answers presence late: the request still goes to the agent it last listed', async () => {
    assert.equal((await reset('Tulip-Before-2025!')).outcome, 'succeeded');

    hold = new Promise<void>((resolve) => (release = resolve));
    // Another relay's change makes the cloud ask again; this relay's answer is held past the window.
    testNc.publish(`${prefix}.presence.changed`);
    // A second question reaches the relay only once the cloud gave up waiting for the first (one
    // question at a time): by then a whole window has passed without this relay's answer.
    await waitFor(() => held >= 2, { what: 'two presence questions held at the relay' });

    const listed = await started.cloud.relayClient.listAgents(tenantId);
    assert.deepEqual(
      listed.map((p) => p.relayId),
      ['relay-late'],
      'the agent the relay last listed is still known',
    );
    const r = await reset('Tulip-During-2025!');
    assert.equal(r.outcome, 'succeeded', JSON.stringify(r));
  });

  test('a real agent_unavailable logs what was known, from which relay, and how old', async () => {
    await agent.stop();
    await waitFor(() => !node.hub.holds(agent.agentId), { on: presenceEvents(node.hub), what: 'the agent to go' });
    const r = await reset('Tulip-Gone-2025!');
    assert.equal(r.outcome, 'agent_unavailable');
    const line = cloudLog.lines.find((l) => l.includes('"agent_unavailable"') && l.includes(r.requestId ?? '-'));
    assert.ok(line, 'one line for the agent_unavailable');
    const entry = JSON.parse(line) as {
      known?: { agentId: string; relayId: string; ageMs: number }[];
      tried?: { agentId: string; answer: string }[];
      relays?: { relayId: string; answeredAgoMs: number }[];
    };
    // The relay's answer is still held: what was known is the old news, with its age.
    assert.equal(entry.known?.[0]?.agentId, agent.agentId);
    assert.equal(entry.known?.[0]?.relayId, 'relay-late');
    assert.equal(typeof entry.known?.[0]?.ageMs, 'number');
    assert.deepEqual(entry.tried, [{ agentId: agent.agentId, answer: 'unavailable' }]);
    assert.equal(entry.relays?.[0]?.relayId, 'relay-late');
    release();
  });
});
