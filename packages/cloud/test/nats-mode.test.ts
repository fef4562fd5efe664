/**
 * RELAY_MODE=nats against the real NATS server (NATS_URL, default nats://127.0.0.1:4222): the
 * cloud runs no hub; a separate relay node (the relay package's hub + NATS bridge, asking the
 * cloud's gate over NATS) holds the agent's connection. Registration, a reset and revocation all
 * cross NATS. Each run uses its own subject prefix.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { AgentCertificateSchema, createLogger, publicKeyObject } from '@writeback/protocol';
import { createNatsGate, createRelayHub, startNatsBridge, type NatsBridge, type RelayHub } from '@writeback/relay';
import { api, field, startCloud, str, TestAgent, waitFor, WireAgent, type Started } from './helpers.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

async function natsAvailable(): Promise<boolean> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 1_000, maxReconnectAttempts: 0 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

describe('nats relay mode', async () => {
  if (!(await natsAvailable())) {
    test('NATS server', (t) => t.skip(`no NATS server at ${NATS_URL}`));
    return;
  }
  const prefix = `wbcloud.${randomBytes(4).toString('hex')}`;
  const quiet = createLogger({ name: 'relay-node', level: 'error' });
  let s: Started;
  let nodeNc: NatsConnection;
  let hub: RelayHub;
  let bridge: NatsBridge;
  let server: Server;
  let nodeUrl: string;
  let apiKey: string;
  const agent = new TestAgent('nats-agent');
  let wire: WireAgent;

  before(async () => {
    s = await startCloud({ config: { relayMode: 'nats', natsUrl: NATS_URL, natsPrefix: prefix } });
    nodeNc = await connect({ servers: NATS_URL });
    hub = createRelayHub({
      cloudVerifyKey: publicKeyObject('Ed25519', s.cloud.cloudPublicKey),
      gate: createNatsGate(nodeNc, { prefix, log: quiet }),
      log: quiet,
    });
    bridge = startNatsBridge(hub, nodeNc, { prefix, log: quiet });
    server = createServer((_req, res) => res.writeHead(404).end());
    hub.attach(server, '/agent');
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const addr = server.address();
    nodeUrl = `ws://127.0.0.1:${addr !== null && typeof addr === 'object' ? (addr satisfies AddressInfo).port : 0}/agent`;
    const b = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true, agentToken: true });
    apiKey = b.apiKey ?? '';
    assert.equal((await agent.register(s.cloud.url, b.agentToken?.token ?? '')).status, 201);
  });
  after(async () => {
    wire?.ws.close();
    await bridge?.stop();
    await hub?.close();
    server?.close();
    await nodeNc?.close();
    await s?.stop();
  });

  test('the gate is answered by the cloud over NATS and the agent is seen through the node', async () => {
    wire = new WireAgent(nodeUrl, agent, AgentCertificateSchema.parse(agent.certificate));
    await waitFor(wire.welcomed, { timeoutMs: 5_000, what: 'welcome' });
    await waitFor(async () => field((await api(s.cloud.url, 'GET', '/healthz')).json, 'agentsConnected') === 1, {
      timeoutMs: 5_000,
      what: 'presence over NATS',
    });
  });

  test('a reset crosses NATS to the node and back', async () => {
    agent.script = (req) =>
      req.op === 'password.reset' && req.secret.newPassword === 'Over-NATS-Secret-1'
        ? { outcome: 'succeeded' }
        : { outcome: 'access_denied' };
    const r = await api(s.cloud.url, 'POST', '/api/v1/tenants/acme/users/alice/password/reset', {
      token: apiKey,
      body: { newPassword: 'Over-NATS-Secret-1' },
    });
    assert.equal(r.status, 200);
    assert.equal(str(r.json, 'outcome'), 'succeeded');
  });

  test('revocation reaches the node: the connection closes and the gate refuses a new one', async () => {
    assert.equal(
      (await api(s.cloud.url, 'DELETE', `/api/v1/tenants/acme/agents/${agent.agentId}`, { token: apiKey })).status,
      204,
    );
    await wire.closed;
    const again = new WireAgent(nodeUrl, agent, AgentCertificateSchema.parse(agent.certificate));
    await again.closed;
    assert.equal(again.welcomed(), false);
  });
});
