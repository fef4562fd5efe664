/**
 * The agent daemon against a real relay hub on a real port: requests over the wire, refusals,
 * reconnects, heartbeats, several links, revocation and graceful stop.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import {
  AgentToRelayFrameSchema,
  parseFrame,
  publicKeyObject,
  verifyResponse,
  type RequestEnvelope,
} from '@writeback/protocol';
import type { RelayAnswer } from '@writeback/relay';
import {
  AgentError,
  runCli,
  startAgent,
  writeState,
  type AgentState,
  type ConnectionStatus,
  type RunningAgent,
  type StartAgentOptions,
} from '../src/index.js';
import {
  FakeDirectory,
  alice,
  captureCliIo,
  captureLog,
  makeCloud,
  makeState,
  request,
  startHub,
  startTlsHub,
  tempDir,
  waitFor,
  type HubFixture,
} from './fixtures.js';

const cloud = makeCloud();
const fastBackoff = { baseMs: 20, capMs: 100, stableMs: 10_000 };
const resetReq = (newPassword: string) => ({
  op: 'password.reset' as const,
  params: { user: alice, forceChange: false, unlock: false, enforceHistory: true },
  secret: { newPassword },
});

/** The outcome of a health request to the agent of `state`, sent through the hub's `client`. */
async function healthOutcome(
  client: { send(env: RequestEnvelope): Promise<RelayAnswer> },
  state: AgentState,
): Promise<string> {
  const env = request(cloud, state, { op: 'health', params: {} });
  return outcome(state, env, await client.send(env));
}

function outcome(state: AgentState, env: RequestEnvelope, answer: RelayAnswer): string {
  assert.equal(answer.kind, 'response', JSON.stringify(answer));
  if (answer.kind !== 'response') throw new Error('unreachable');
  return verifyResponse(answer.envelope, {
    ...env,
    agentVerifyKey: publicKeyObject('Ed25519', state.signing.publicKey),
  }).result.outcome;
}

/**
 * Operations that reached the directory, not counting `health`: the daemon checks its directory's
 * health on its own every few seconds (issue 12), whatever the test sends.
 */
const operationsAt = (directory: FakeDirectory): number => directory.calls.filter((c) => c.method !== 'health').length;

function rejectedWith(answer: RelayAnswer): string {
  assert.equal(answer.kind, 'rejected', JSON.stringify(answer));
  return answer.kind === 'rejected' ? answer.code : '';
}

/**
 * An agent of a fresh state (`ids`) dialling `relay`, started with a FakeDirectory and `options`;
 * `body` runs, then the agent stops and the relay closes, whatever the outcome.
 */
async function withAgent<R extends { url: string; close(): Promise<void> }>(
  relay: R,
  o: { agentId?: string; tenantId?: string; options?: Omit<StartAgentOptions, 'state' | 'directory' | 'log'> },
  body: (t: { state: AgentState; agent: RunningAgent; directory: FakeDirectory }) => Promise<void>,
): Promise<void> {
  const state = makeState(cloud, { relayUrl: relay.url, agentId: o.agentId, tenantId: o.tenantId });
  const directory = new FakeDirectory();
  const agent = await startAgent({ state, directory, log: captureLog().log, ...o.options });
  try {
    await body({ state, agent, directory });
  } finally {
    await agent.stop();
    await relay.close();
  }
}

describe('an agent connected to a real relay', () => {
  let fx: HubFixture;
  let state: AgentState;
  let directory: FakeDirectory;
  let agent: RunningAgent;
  let skewMs = 0;

  before(async () => {
    fx = await startHub(cloud);
    state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-d', tenantId: 'tenant-d' });
    directory = new FakeDirectory();
    agent = await startAgent({
      state,
      directory,
      log: captureLog().log,
      backoff: fastBackoff,
      now: () => Date.now() + skewMs,
    });
    await agent.ready();
  });
  after(async () => {
    await agent.stop();
    await fx.close();
  });

  test('it is present with its directory kind and capabilities', async () => {
    const [p] = await fx.hub.client().listAgents('tenant-d');
    assert.equal(p?.agentId, 'agent-d');
    assert.equal(p?.directory, 'embedded');
    assert.equal(p?.capabilities.unlock, true);
    assert.equal(agent.status()[0]?.status, 'ready');
  });

  test('it executes every operation and answers signed', async () => {
    const client = fx.hub.client();
    const ops = [
      [request(cloud, state, resetReq('Over-The-Wire-1')), 'succeeded'],
      [
        request(cloud, state, {
          op: 'password.change',
          params: { user: alice },
          secret: { currentPassword: 'Over-The-Wire-1', newPassword: 'Over-The-Wire-2' },
        }),
        'succeeded',
      ],
      [
        request(cloud, state, { op: 'credentials.verify', params: { user: alice }, secret: { password: 'wrong' } }),
        'wrong_current_password',
      ],
      [request(cloud, state, { op: 'account.unlock', params: { user: alice } }), 'succeeded'],
      [request(cloud, state, { op: 'policy.get', params: { user: alice } }), 'succeeded'],
      [request(cloud, state, { op: 'health', params: {} }), 'succeeded'],
    ] as const;
    for (const [env, expected] of ops) assert.equal(outcome(state, env, await client.send(env)), expected, env.op);
    assert.equal(directory.passwords.get('alice'), 'Over-The-Wire-2');
  });

  test('refusals come back as rejected with their code and leave the directory untouched', async () => {
    const client = fx.hub.client();
    const before = operationsAt(directory);
    const forger = makeCloud();
    assert.equal(rejectedWith(await client.send(request(forger, state, resetReq('Forged-Pass-1')))), 'bad_signature');

    const env = request(cloud, state, resetReq('Tampered-Pass-1'));
    assert.ok(env.sealed);
    const tampered = {
      ...env,
      sealed: { ...env.sealed, ct: `${env.sealed.ct.startsWith('A') ? 'B' : 'A'}${env.sealed.ct.slice(1)}` },
    };
    assert.equal(rejectedWith(await client.send(tampered)), 'bad_signature');
    assert.equal(operationsAt(directory), before);

    const once = request(cloud, state, { op: 'account.unlock', params: { user: alice } });
    assert.equal(outcome(state, once, await client.send(once)), 'succeeded');
    assert.equal(rejectedWith(await client.send(once)), 'replayed');
    assert.equal(operationsAt(directory), before + 1);
  });

  test('a deadline that has passed on the agent clock → expired, nothing done', async () => {
    const before = operationsAt(directory);
    skewMs = 10_000;
    try {
      assert.equal(
        rejectedWith(
          await fx.hub.client().send(request(cloud, state, resetReq('Late-Pass-123'), { deadlineInMs: 2_000 })),
        ),
        'expired',
      );
    } finally {
      skewMs = 0;
    }
    assert.equal(operationsAt(directory), before);
  });

  test('a directory that fails mid-write → outcome_unknown, never success', async () => {
    directory.failing.add('resetPassword');
    try {
      const env = request(cloud, state, resetReq('Half-Written-1'));
      assert.equal(outcome(state, env, await fx.hub.client().send(env)), 'outcome_unknown');
    } finally {
      directory.failing.delete('resetPassword');
    }
  });
});

describe('links', () => {
  test('the agent comes back by itself when the relay restarts on the same port', async () => {
    let fx = await startHub(cloud);
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-r', tenantId: 'tenant-r' });
    const agent = await startAgent({
      state,
      directory: new FakeDirectory(),
      log: captureLog().log,
      backoff: fastBackoff,
    });
    try {
      await agent.ready();
      const port = fx.port;
      await fx.close();
      await waitFor(() => agent.status()[0]?.status !== 'ready', { timeoutMs: 2_000, what: 'link down' });
      fx = await startHub(cloud, {}, port);
      await waitFor(() => fx.hub.holds('agent-r') && agent.status()[0]?.status === 'ready', {
        timeoutMs: 3_000,
        what: 'agent back',
      });
      assert.equal(await healthOutcome(fx.hub.client(), state), 'succeeded');
    } finally {
      await agent.stop();
      await fx.close();
    }
  });

  test('several links to the relay are one agent with several connections', async () => {
    const fx = await startHub(cloud);
    await withAgent(
      fx,
      { agentId: 'agent-m', tenantId: 'tenant-m', options: { connections: 3 } },
      async ({ state, agent }) => {
        await waitFor(() => agent.status().every((s) => s.status === 'ready'), {
          timeoutMs: 3_000,
          what: 'three links',
        });
        assert.equal((await fx.hub.client().listAgents('tenant-m'))[0]?.connections, 3);
        assert.equal(await healthOutcome(fx.hub.client(), state), 'succeeded');
      },
    );
  });

  /** A fake relay that welcomes with a 40 ms heartbeat and then stays silent. */
  async function silentRelay() {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    let accepted = 0;
    wss.on('connection', (ws) => {
      accepted++;
      ws.send(
        JSON.stringify({ v: 1, t: 'challenge', nonce: 'n'.repeat(43), relayId: 'silent', serverTime: Date.now() }),
      );
      ws.on('message', (data) => {
        const frame = parseFrame(Buffer.isBuffer(data) ? data : Buffer.from(String(data)), AgentToRelayFrameSchema);
        if (frame.t === 'auth')
          ws.send(JSON.stringify({ v: 1, t: 'welcome', connectionId: `c${accepted}`, heartbeatMs: 40 }));
      });
    });
    const port = (wss.address() as AddressInfo).port;
    return {
      url: `ws://127.0.0.1:${port}/agent`,
      accepted: () => accepted,
      close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
    };
  }

  test('a relay that stops sending heartbeats is dropped after two intervals and redialled; a flapping link backs off further', async () => {
    const relay = await silentRelay();
    await withAgent(relay, { options: { backoff: fastBackoff } }, async ({ agent }) => {
      await agent.ready();
      await waitFor(() => relay.accepted() >= 3, { timeoutMs: 3_000, what: 'redials' });
      // Never stable for stableMs: each drop counts as one more failed attempt.
      await waitFor(
        () => {
          const s = agent.status()[0];
          return s?.status === 'backoff' && s.attempt >= 2 && s.lastError === 'heartbeat_missed';
        },
        { timeoutMs: 3_000, what: 'growing backoff' },
      );
    });
  });

  test('a link that was stable starts its backoff over', async () => {
    const attempts: number[] = [];
    const onStatus = (links: ConnectionStatus[]) => {
      const s = links[0];
      if (s?.status === 'backoff') attempts.push(s.attempt);
    };
    await withAgent(
      await silentRelay(),
      { options: { backoff: { ...fastBackoff, stableMs: 0 }, onStatus } },
      async () => {
        await waitFor(() => attempts.length >= 3, { timeoutMs: 3_000, what: 'redials' });
        assert.deepEqual(new Set(attempts), new Set([0]));
      },
    );
  });

  test('a revoked agent is cut off and waits the longest backoff before trying again', async () => {
    const fx = await startHub(cloud);
    const ids = { agentId: 'agent-x', tenantId: 'tenant-x' };
    await withAgent(fx, { ...ids, options: { backoff: { baseMs: 20, capMs: 60_000 } } }, async ({ agent }) => {
      await agent.ready();
      await fx.hub.client().revoke('agent-x');
      await waitFor(() => agent.status()[0]?.status === 'backoff', { timeoutMs: 2_000, what: 'backoff' });
      const s = agent.status()[0];
      assert.equal(s?.lastError, 'agent_revoked');
      assert.ok(s?.status === 'backoff' && s.attempt >= 30);
    });
  });

  test('a plain ws:// relay URL to a remote host is refused unless explicitly allowed', async () => {
    const state = makeState(cloud, { relayUrl: 'ws://relay.example.test/agent' });
    await assert.rejects(
      startAgent({ state, directory: new FakeDirectory(), log: captureLog().log }),
      (e: unknown) => e instanceof AgentError && e.code === 'insecure_url',
    );
    await assert.rejects(
      startAgent({ state, log: captureLog().log }),
      (e: unknown) => e instanceof AgentError && e.code === 'directory_not_configured',
    );
  });
});

describe('graceful stop', () => {
  test('in-flight work finishes and is answered; later requests find no agent', async () => {
    const fx = await startHub(cloud);
    await withAgent(fx, { agentId: 'agent-s', tenantId: 'tenant-s' }, async ({ state, agent, directory }) => {
      await agent.ready();
      directory.delayMs = 150;
      const env = request(cloud, state, resetReq('During-Stop-1'));
      const pending = fx.hub.client().send(env);
      await waitFor(() => operationsAt(directory) === 1, { timeoutMs: 2_000, what: 'request at the directory' });
      const stopped = agent.stop();
      assert.equal(outcome(state, env, await pending), 'succeeded');
      await stopped;
      assert.equal(agent.status()[0]?.status, 'closed');
      // The hub has let the connection go (its event, not a pause).
      await waitFor(async () => (await fx.hub.client().listAgents('tenant-s')).length === 0, {
        timeoutMs: 5_000,
        what: 'the hub to drop the stopped agent',
      });
      assert.deepEqual(await fx.hub.client().send(request(cloud, state, { op: 'health', params: {} })), {
        kind: 'unavailable',
      });
    });
  });

  test('the running daemon writes a 0600 status file that `status` reports', async () => {
    const fx = await startHub(cloud);
    const dir = await tempDir();
    const statePath = join(dir.path, 'agent.json');
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-st', tenantId: 'tenant-st' });
    await writeState(statePath, state);
    const agent = await startAgent({
      statePath,
      statusPath: `${statePath}.status`,
      directory: new FakeDirectory(),
      log: captureLog().log,
    });
    try {
      await agent.ready();
      const cli = captureCliIo();
      const Status = z.object({
        agentId: z.string(),
        daemon: z.object({ pid: z.number(), links: z.array(z.object({ status: z.string() })) }).nullable(),
      });
      await waitFor(
        async () => {
          cli.out = '';
          if ((await runCli(['status', '--state', statePath, '--json'], cli.io)) !== 0) return false;
          return Status.parse(JSON.parse(cli.out)).daemon?.links[0]?.status === 'ready';
        },
        { timeoutMs: 3_000, what: 'status file' },
      );
      assert.equal(Status.parse(JSON.parse(cli.out)).daemon?.pid, process.pid);
      assert.equal((await stat(`${statePath}.status`)).mode & 0o777, 0o600);
    } finally {
      await agent.stop();
      await fx.close();
      await dir.remove();
    }
  });

  test('wss:// with a private CA: trusted with --ca, refused without it', async (t) => {
    const dir = await tempDir();
    try {
      const tls = await startTlsHub(cloud, dir.path);
      if (!tls) return t.skip('openssl not available');
      const { hub } = tls;
      const state = makeState(cloud, {
        relayUrl: `wss://localhost:${tls.port}/agent`,
        agentId: 'agent-tls',
        tenantId: 'tenant-tls',
      });
      const untrusting = await startAgent({
        state,
        directory: new FakeDirectory(),
        log: captureLog().log,
        backoff: fastBackoff,
      });
      const trusting = await startAgent({
        state,
        directory: new FakeDirectory(),
        log: captureLog().log,
        caFile: tls.caFile,
      });
      try {
        await trusting.ready();
        assert.equal(await healthOutcome(hub.client(), state), 'succeeded');
        await waitFor(() => untrusting.status()[0]?.lastError === 'socket_error', {
          timeoutMs: 3_000,
          what: 'TLS refusal',
        });
        assert.notEqual(untrusting.status()[0]?.status, 'ready');
        assert.equal((await hub.client().listAgents('tenant-tls'))[0]?.connections, 1);
      } finally {
        await untrusting.stop();
        await trusting.stop();
        await tls.close();
      }
    } finally {
      await dir.remove();
    }
  });
});
