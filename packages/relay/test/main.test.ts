/**
 * The standalone relay process: its configuration, and one real process serving an agent that a
 * cloud client on NATS reaches.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { generateSigningKeyPair } from '@writeback/protocol';
import { runEntry } from '@writeback/testkit';
import { RELAY_MAIN, startRelayProcess } from '@writeback/testkit/nats';
import { createNatsRelayClient, loadRelayConfig, serveAgentGate } from '../src/index.js';
import { connectAgent, healthRequest, makeAgentIdentity, makeCloud, quietLog, waitFor } from './helpers.js';

const key = generateSigningKeyPair().publicKey;
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

describe('relay configuration', () => {
  test('defaults, frozen, with a loud warning when TLS is off', () => {
    const c = loadRelayConfig({ NATS_URL: 'nats://127.0.0.1:4222', WRITEBACK_CLOUD_PUBLIC_KEY: key });
    assert.equal(c.port, 8443);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.path, '/agent');
    assert.equal(c.tls, null);
    assert.equal(c.maxPendingAuth, 1_024);
    assert.equal(c.maxPendingAuthPerIp, 64);
    assert.equal(c.warnings.length, 1);
    assert.ok(Object.isFrozen(c));
  });

  test('TLS when both files are named', () => {
    const c = loadRelayConfig({
      NATS_URL: 'nats://n:4222',
      WRITEBACK_CLOUD_PUBLIC_KEY: key,
      TLS_CERT: '/c.pem',
      TLS_KEY: '/k.pem',
      RELAY_PORT: '9000',
      RELAY_MAX_PENDING_AUTH_PER_IP: '500',
    });
    assert.deepEqual(c.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
    assert.equal(c.maxPendingAuthPerIp, 500);
    assert.equal(c.port, 9000);
    assert.equal(c.warnings.length, 0);
  });

  const bad: Array<[string, Record<string, string>]> = [
    ['WRITEBACK_CLOUD_PUBLIC_KEY', { NATS_URL: 'nats://n:4222', WRITEBACK_CLOUD_PUBLIC_KEY: 'short' }],
    ['NATS_URL', { WRITEBACK_CLOUD_PUBLIC_KEY: key }],
    ['RELAY_PORT', { NATS_URL: 'nats://n:4222', WRITEBACK_CLOUD_PUBLIC_KEY: key, RELAY_PORT: '70000' }],
    ['TLS_KEY', { NATS_URL: 'nats://n:4222', WRITEBACK_CLOUD_PUBLIC_KEY: key, TLS_CERT: '/c.pem' }],
  ];
  for (const [name, env] of bad) {
    test(`a bad ${name} is a TypeError naming it`, () => {
      assert.throws(
        () => loadRelayConfig(env),
        (e: unknown) => e instanceof TypeError && e.message.includes(name),
      );
    });
  }
});

describe('standalone relay process', async () => {
  let probe: NatsConnection;
  try {
    probe = await connect({ servers: NATS_URL, timeout: 1_000, maxReconnectAttempts: 0 });
  } catch {
    test('NATS server', (t) => t.skip(`no NATS server at ${NATS_URL}`));
    return;
  }
  await probe.close();

  test('serves agents and answers the cloud over NATS', async () => {
    const cloud = makeCloud();
    const prefix = `wbmain.${randomBytes(4).toString('hex')}`;
    const nc = await connect({ servers: NATS_URL });
    const gate = serveAgentGate(nc, () => true, { prefix, log: quietLog() });
    const client = createNatsRelayClient(nc, { prefix, presenceWindowMs: 50, log: quietLog() });
    // It logs "relay listening" once the port is bound: no need to retry the first connection.
    const relay = await startRelayProcess({
      natsUrl: NATS_URL,
      natsPrefix: prefix,
      cloudPublicKey: cloud.publicKey,
      relayId: 'standalone',
    });
    try {
      assert.ok(
        relay.lines.some((l) => l.includes('INSECURE')),
        'a loud warning when TLS is off',
      );
      const id = makeAgentIdentity(cloud, 'tenant-m', 'agent-m');
      const connected = await connectAgent(relay.url, id);
      connected.answer = () => ({ outcome: 'succeeded' });
      await waitFor(async () => (await client.listAgents('tenant-m')).length === 1, {
        timeoutMs: 10_000,
        what: 'presence',
      });
      assert.equal((await client.listAgents('tenant-m'))[0]?.relayId, 'standalone');
      assert.equal((await client.send(healthRequest(cloud, id))).kind, 'response');
      connected.close();
    } finally {
      await relay.stop('SIGTERM');
      assert.equal(relay.child.exitCode, 0, relay.lines.join('\n'));
      await client.close();
      await gate.stop();
      await nc.close();
    }
  });

  test('bad configuration exits non-zero naming the variable', async () => {
    const { code, stderr } = await runEntry(RELAY_MAIN, [], {
      ...process.env,
      NATS_URL,
      WRITEBACK_CLOUD_PUBLIC_KEY: 'nope',
    });
    assert.equal(code, 1);
    assert.ok(stderr.includes('WRITEBACK_CLOUD_PUBLIC_KEY'));
  });
});
