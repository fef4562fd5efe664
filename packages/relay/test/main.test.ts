/**
 * The standalone relay process: its configuration, and one real process serving an agent that a
 * cloud client on NATS reaches.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { generateSigningKeyPair, privateKeyObject, publicKeyObject } from '@writeback/protocol';
import { createNatsRelayClient, loadRelayConfig, serveAgentGate } from '../src/index.js';
import { connectAgent, healthRequest, makeAgentIdentity, quietLog, waitFor } from './helpers.js';

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

/** Resolves when the process has written `text` to stderr; rejects if it exits first. `ms` is a safety net. */
function stderrLine(proc: ChildProcessByStdio<null, null, Readable>, text: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      proc.stderr.off('data', onData);
      proc.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) done();
    };
    const onExit = () => done(new Error(`the process exited before writing "${text}": ${seen}`));
    const timer = setTimeout(() => done(new Error(`no "${text}" within ${ms} ms: ${seen}`)), ms);
    proc.stderr.on('data', onData);
    proc.once('exit', onExit);
  });
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

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
    const pair = generateSigningKeyPair();
    const cloud = {
      signingKey: privateKeyObject(pair.privateJwk),
      verifyKey: publicKeyObject('Ed25519', pair.publicKey),
    };
    const prefix = `wbmain.${randomBytes(4).toString('hex')}`;
    const port = await freePort();
    const nc = await connect({ servers: NATS_URL });
    const gate = serveAgentGate(nc, () => true, { prefix, log: quietLog() });
    const client = createNatsRelayClient(nc, { prefix, presenceWindowMs: 50, log: quietLog() });
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const proc = spawn(process.execPath, ['--import', 'tsx', main], {
      env: {
        ...process.env,
        RELAY_PORT: String(port),
        NATS_URL,
        NATS_PREFIX: prefix,
        WRITEBACK_CLOUD_PUBLIC_KEY: pair.publicKey,
        RELAY_ID: 'standalone',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const listening = stderrLine(proc, 'relay listening');
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      // It logs "relay listening" once the port is bound: no need to retry the first connection.
      await listening;
      assert.ok(stderr.includes('INSECURE'), 'a loud warning when TLS is off');
      const id = makeAgentIdentity(cloud, 'tenant-m', 'agent-m');
      const connected = await connectAgent(`ws://127.0.0.1:${port}/agent`, id);
      connected.answer = () => ({ outcome: 'succeeded' });
      await waitFor(async () => (await client.listAgents('tenant-m')).length === 1, {
        timeoutMs: 10_000,
        what: 'presence',
      });
      assert.equal((await client.listAgents('tenant-m'))[0]?.relayId, 'standalone');
      assert.equal((await client.send(healthRequest(cloud, id))).kind, 'response');
      connected.close();
    } finally {
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      assert.equal(code, 0, stderr);
      await client.close();
      await gate.stop();
      await nc.close();
    }
  });

  test('bad configuration exits non-zero naming the variable', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const proc = spawn(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, NATS_URL, WRITEBACK_CLOUD_PUBLIC_KEY: 'nope' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code] = await once(proc, 'exit');
    assert.equal(code, 1);
    assert.ok(stderr.includes('WRITEBACK_CLOUD_PUBLIC_KEY'));
  });
});
