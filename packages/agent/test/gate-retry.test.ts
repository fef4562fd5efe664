/**
 * Issue 11 item 6: a gate that could not check an agent (the cloud's store failed, NATS did not
 * answer in time, no cloud node listening) was told to the agent as `agent_revoked`; the agent
 * then logged "must be registered again" and waited 30 s. Now the relay says `auth_unavailable`,
 * the agent keeps its normal short backoff and gets in on its next attempt; only a real refusal
 * is `agent_revoked`.
 *
 * Real parts: a nats-server of this test's own, the relay hub asking the gate over NATS
 * (createNatsGate), the cloud side answering it (serveAgentGate, as the cloud node runs it), and the
 * real agent's relay links. The in-process hub (whose gate is the cloud's store) is checked too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { createNatsGate, serveAgentGate, type AgentGate } from '@writeback/relay';
import { quietLog } from '@writeback/testkit';
import { NATS_SERVER_BIN, startNatsServer, type NatsServer } from '@writeback/testkit/nats';
import { startAgent, type ConnectionStatus, type RunningAgent } from '../src/index.js';
import { captureLog, FakeDirectory, makeCloud, makeState, startHub, waitFor, type HubFixture } from './fixtures.js';

const cloud = makeCloud();

interface Run {
  agent: RunningAgent;
  /** Every state the agent's one link went through. */
  states: ConnectionStatus[];
  lines: string[];
}

function runAgent(hub: HubFixture, agentId: string): Promise<Run> {
  const states: ConnectionStatus[] = [];
  const { log, lines } = captureLog();
  return startAgent({
    state: makeState(cloud, { agentId, relayUrl: hub.url }),
    directory: new FakeDirectory(),
    allowPlaintext: true,
    log,
    // Short, so "its next attempt" comes quickly; a revocation still jumps to the cap.
    backoff: { baseMs: 50, capMs: 60_000 },
    onStatus: (links) => {
      if (links[0]) states.push(links[0]);
    },
  }).then((agent) => ({ agent, states, lines }));
}

const backoffs = (r: Run) => r.states.filter((s) => s.status === 'backoff');
const told = (r: Run, text: string) => r.lines.some((l) => l.includes(text));

describe('issue 11 item 6: a gate that cannot check is not a revocation', { skip: !NATS_SERVER_BIN }, () => {
  let nats: NatsServer;
  let relayNc: NatsConnection;
  let cloudNc: NatsConnection;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    nats = await startNatsServer();
    [relayNc, cloudNc] = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
  });
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
    await Promise.all([relayNc?.close(), cloudNc?.close()]);
    await nats?.stop();
  });

  /** A relay hub whose gate asks over NATS; the cloud side answers with `gate` unless it is null. */
  async function relayAskingOverNats(gate: AgentGate | null) {
    const prefix = `wbgate.${randomBytes(4).toString('hex')}`;
    const hub = await startHub(cloud, { gate: createNatsGate(relayNc, { prefix, timeoutMs: 500 }) });
    cleanup.push(() => hub.close());
    const serve = (g: AgentGate) => {
      const served = serveAgentGate(cloudNc, g, { prefix, log: quietLog() });
      cleanup.push(() => served.stop());
    };
    if (gate) serve(gate);
    return { hub, serve };
  }

  test('the cloud could not check once (its gate threw) → auth_unavailable, then in on the next attempt', async () => {
    let asked = 0;
    const { hub } = await relayAskingOverNats(async () => {
      asked++;
      if (asked === 1) throw new Error('store unavailable');
      return true;
    });
    const run = await runAgent(hub, 'agent-store-blip');
    cleanup.push(() => run.agent.stop());
    await run.agent.ready();
    assert.equal(asked, 2);
    assert.deepEqual(
      backoffs(run).map((s) => [s.lastError, s.status === 'backoff' ? s.attempt : -1]),
      [['auth_unavailable', 0]],
      'one normal backoff (attempt 0), not the 30 s a revocation gets',
    );
    assert.ok(told(run, 'could not check this agent right now'));
    assert.ok(!told(run, 'registered again'));
  });

  test('the cloud did not answer in time once → auth_unavailable, then in on the next attempt', async () => {
    let asked = 0;
    let unstick = () => {};
    cleanup.push(async () => unstick());
    const { hub } = await relayAskingOverNats(() => {
      asked++;
      // The first question is never answered in time: the relay's gate times out.
      if (asked === 1) return new Promise<boolean>((resolve) => (unstick = () => resolve(true)));
      return true;
    });
    const run = await runAgent(hub, 'agent-gate-timeout');
    cleanup.push(() => run.agent.stop());
    await run.agent.ready();
    assert.deepEqual(
      backoffs(run).map((s) => [s.lastError, s.status === 'backoff' ? s.attempt : -1]),
      [['auth_unavailable', 0]],
    );
    assert.ok(!told(run, 'registered again'));
  });

  test('no cloud node answers the gate at all → auth_unavailable with the normal backoff until one does', async () => {
    const { hub, serve } = await relayAskingOverNats(null);
    const run = await runAgent(hub, 'agent-no-cloud');
    cleanup.push(() => run.agent.stop());
    await waitFor(() => backoffs(run).length > 0, { what: 'a first refusal' });
    serve(() => true);
    await run.agent.ready();
    for (const s of backoffs(run)) {
      assert.equal(s.lastError, 'auth_unavailable');
      assert.ok(s.status === 'backoff' && s.attempt < 30, `attempt ${JSON.stringify(s)} kept the short backoff`);
    }
    assert.ok(!told(run, 'registered again'));
  });

  test('a real refusal is still agent_revoked, with the long wait', async () => {
    const { hub } = await relayAskingOverNats(() => false);
    const run = await runAgent(hub, 'agent-revoked-for-real');
    cleanup.push(() => run.agent.stop());
    await waitFor(() => backoffs(run).length > 0, { what: 'the refusal' });
    const [first] = backoffs(run);
    assert.equal(first?.lastError, 'agent_revoked');
    assert.equal(first?.status === 'backoff' ? first.attempt : -1, 30);
    assert.ok(told(run, 'registered again'));
  });
});

describe('issue 11 item 6: the in-process hub, whose gate is the cloud store', () => {
  test('a store error while checking → auth_unavailable; then in on the next attempt', async () => {
    let asked = 0;
    const hub = await startHub(cloud, {
      gate: () => {
        asked++;
        if (asked === 1) throw new Error('SQLITE_BUSY: database is locked');
        return true;
      },
    });
    const run = await runAgent(hub, 'agent-embedded-blip');
    try {
      await run.agent.ready();
      assert.deepEqual(
        backoffs(run).map((s) => [s.lastError, s.status === 'backoff' ? s.attempt : -1]),
        [['auth_unavailable', 0]],
      );
    } finally {
      await run.agent.stop();
      await hub.close();
    }
  });
});
