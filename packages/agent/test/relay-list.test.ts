/**
 * Issue 11 item 8: an agent was pinned to one relay URL. It now takes a list (the state's
 * relayUrls, or the operator's), spreads its links over them (link i on relay i), and a link whose
 * relay goes away comes back on the next one. A state with one relayUrl keeps working. Killing one
 * of two real relay processes (cloud in RELAY_MODE=nats, nats-server) under a stream of resets
 * fails no reset started after the kill; the ones the dead relay held end `timeout` (their write
 * may have happened): making those succeed too is the `todo` test (gateway resend + agent answer
 * cache, outside the agent's connection code).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HASH_COST, openEmbeddedDirectory, type EmbeddedDirectory } from '@writeback/directory';
import { ALICE, quietLog, registerTestAgent, startCloud, type StartedCloud } from '@writeback/testkit';
import {
  NATS_SERVER_BIN,
  startNatsServer,
  startRelayProcess,
  type NatsServer,
  type RelayProcess,
} from '@writeback/testkit/nats';
import { loadState, startAgent, writeState, type RunningAgent } from '../src/index.js';
import { relayUrlsOf, spreadLookup } from '../src/relays.js';
import {
  FakeDirectory,
  captureLog,
  makeCloud,
  makeState,
  resetOutcome,
  startHub,
  tempDir,
  waitFor,
} from './fixtures.js';

const cloud = makeCloud();
const fastBackoff = { baseMs: 20, capMs: 200, stableMs: 10_000 };

describe('the relays of an agent', () => {
  test('the operator list wins, then the state list, then the single relayUrl of an older state; duplicates go', () => {
    const one = { relayUrl: 'wss://r1.example/agent' };
    assert.deepEqual(relayUrlsOf(one), ['wss://r1.example/agent']);
    const listed = {
      ...one,
      relayUrls: ['wss://r1.example/agent', 'wss://r2.example/agent', 'wss://r1.example/agent'],
    };
    assert.deepEqual(relayUrlsOf(listed), ['wss://r1.example/agent', 'wss://r2.example/agent']);
    assert.deepEqual(relayUrlsOf(listed, ['wss://mine.example/agent']), ['wss://mine.example/agent']);
    assert.deepEqual(relayUrlsOf(listed, []), ['wss://r1.example/agent', 'wss://r2.example/agent']);
  });

  test('a state file written before lists (relayUrl alone) loads and runs; one with relayUrls round-trips', async () => {
    const dir = await tempDir();
    const fx = await startHub(cloud);
    try {
      const old = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-old', tenantId: 'tenant-old' });
      assert.equal('relayUrls' in old, false);
      const path = join(dir.path, 'old.json');
      await writeState(path, old);
      const agent = await startAgent({ statePath: path, directory: new FakeDirectory(), log: captureLog().log });
      try {
        await agent.ready();
        assert.equal(agent.status().length, 1);
        assert.equal(agent.status()[0]?.relayUrl, fx.url);
      } finally {
        await agent.stop();
      }
      const listedPath = join(dir.path, 'listed.json');
      await writeState(listedPath, { ...old, relayUrls: [fx.url, 'wss://r2.example/agent'] });
      assert.deepEqual((await loadState(listedPath)).relayUrls, [fx.url, 'wss://r2.example/agent']);
    } finally {
      await fx.close();
      await dir.remove();
    }
  });

  test('one name with several addresses: each link dials its own address, and the next one after a failure', async () => {
    const resolve = (
      _host: string,
      _o: { all: true },
      cb: (err: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void,
    ) =>
      cb(null, [
        { address: '10.0.0.2', family: 4 },
        { address: '2001:db8::1', family: 6 },
        { address: '10.0.0.1', family: 4 },
      ]);
    const pick = (index: number, moves: number) =>
      new Promise<string>((done) =>
        spreadLookup(index, moves, resolve)('relays.example', {}, (_err, address) => done(String(address))),
      );
    assert.equal(await pick(0, 0), '10.0.0.1');
    assert.equal(await pick(1, 0), '10.0.0.2');
    assert.equal(await pick(0, 1), '10.0.0.2');
    assert.equal(await pick(2, 0), '10.0.0.1', 'IPv4 first: the IPv6 address is not in the spread');
    const all = await new Promise<unknown>((done) =>
      spreadLookup(1, 0, resolve)('relays.example', { all: true }, (_e, a) => done(a)),
    );
    assert.deepEqual(all, [{ address: '10.0.0.2', family: 4 }]);
  });

  test('two relays: one link on each; when one closes, its link comes back on the other and requests keep working', async () => {
    const h1 = await startHub(cloud);
    const h2 = await startHub(cloud);
    const state = makeState(cloud, { relayUrl: h1.url, agentId: 'agent-two', tenantId: 'tenant-two' });
    const agent = await startAgent({
      state: { ...state, relayUrls: [h1.url, h2.url] },
      directory: new FakeDirectory(),
      log: captureLog().log,
      backoff: fastBackoff,
    });
    try {
      await waitFor(() => agent.status().every((l) => l.status === 'ready'), { what: 'both links' });
      assert.deepEqual(
        agent.status().map((l) => l.relayUrl),
        [h1.url, h2.url],
      );
      assert.equal((await h1.hub.client().listAgents('tenant-two'))[0]?.connections, 1);
      assert.equal((await h2.hub.client().listAgents('tenant-two'))[0]?.connections, 1);
      await h1.close();
      await waitFor(() => agent.status().every((l) => l.status === 'ready' && l.relayUrl === h2.url), {
        what: 'both links on the second relay',
      });
      assert.equal((await h2.hub.client().listAgents('tenant-two'))[0]?.connections, 2);
      assert.equal(await resetOutcome(cloud, h2.hub.client(), state), 'succeeded');
    } finally {
      await agent.stop();
      await h2.close();
    }
  });
});

describe('two relay processes behind a cloud over NATS: killing one fails only the resets it held', {
  skip: !NATS_SERVER_BIN && 'nats-server is not on PATH',
}, () => {
  let nats: NatsServer;
  let started: StartedCloud;
  let r1: RelayProcess;
  let r2: RelayProcess;
  let agent: RunningAgent;
  let directory: EmbeddedDirectory;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let apiKey: string;
  let tenantId: string;
  const prefix = `wbrl.${randomBytes(4).toString('hex')}`;
  /** Resets in flight at the kill that did not succeed (set by the kill test). */
  let inFlightFailures: number | null = null;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    started = await startCloud({
      config: { relayMode: 'nats', natsUrl: nats.url, natsPrefix: prefix, writebackDeadlineMs: 5_000 },
    });
    const relay = (relayId: string) =>
      startRelayProcess({
        natsUrl: nats.url,
        natsPrefix: prefix,
        cloudPublicKey: started.cloud.cloudPublicKey,
        relayId,
      });
    [r1, r2] = await Promise.all([relay('relay-one'), relay('relay-two')]);
    const boot = await started.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true, agentToken: true });
    apiKey = boot.apiKey ?? '';
    tenantId = boot.tenant?.id ?? '';
    const config = {
      kind: 'embedded' as const,
      path: join(dir.path, 'directory'),
      hash: { ...HASH_COST.fast },
      policy: { minLength: 10, complexity: true, historyLength: 0, minAgeSeconds: 0 },
    };
    directory = await openEmbeddedDirectory(config);
    await directory.createUser(ALICE);
    const state = await registerTestAgent({
      cloud: started.cloud,
      token: boot.agentToken?.token ?? '',
      statePath: join(dir.path, 'agent.json'),
      directory: config,
      log: quietLog(),
    });
    agent = await startAgent({
      state,
      relayUrls: [r1.url, r2.url],
      directory,
      allowPlaintext: true,
      log: quietLog(),
      backoff: fastBackoff,
    });
    await waitFor(() => agent.status().every((l) => l.status === 'ready'), { what: 'a link on each relay' });
    await waitFor(async () => (await started.cloud.relayClient.listAgents(tenantId))[0]?.connections === 2, {
      what: 'the cloud to see both links',
    });
  });

  after(async () => {
    await agent?.stop();
    await r1?.stop('SIGKILL');
    await r2?.stop('SIGKILL');
    await started?.stop();
    await nats?.stop();
    await directory?.close();
    await dir?.remove();
  });

  /**
   * Resets from two callers, one after another each, across `kill` of relay one: each reset's
   * outcome and whether it started before the kill and ended after it (in flight at the kill).
   */
  async function resetsAcross(kill: () => Promise<void>) {
    const done: { outcome: string; inFlightAtKill: boolean }[] = [];
    let killedAt: number | null = null;
    let stop = false;
    const reset = async () => {
      const startedAt = Date.now();
      const res = await fetch(`${started.cloud.url}/api/v1/tenants/acme/users/alice/password/reset`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ newPassword: `Tulip-${randomBytes(6).toString('hex')}-2025!`, forceChange: false }),
      });
      const body = (await res.json()) as { outcome?: string; error?: { code?: string } };
      done.push({
        outcome: body.outcome ?? body.error?.code ?? `http_${res.status}`,
        inFlightAtKill: killedAt !== null && startedAt <= killedAt,
      });
    };
    const callers = [0, 1].map(async () => {
      while (!stop) await reset();
    });
    await waitFor(() => done.length >= 20, { what: '20 resets before the kill' });
    await kill();
    // Once the process is gone: a reset started before then may have reached it.
    killedAt = Date.now();
    const before = done.length;
    await waitFor(() => agent.status().every((l) => l.status === 'ready' && l.relayUrl === r2.url), {
      what: 'both links on the surviving relay',
    });
    await waitFor(() => done.length >= before + 40, { what: '40 resets after the kill' });
    stop = true;
    await Promise.all(callers);
    return done;
  }

  test('a stream of resets across kill -9 of one relay: no reset that started after the kill fails, none is told agent_unavailable, the agent ends with both links on the other relay', async () => {
    assert.deepEqual(
      agent.status().map((l) => l.relayUrl),
      [r1.url, r2.url],
    );
    const done = await resetsAcross(() => r1.stop('SIGKILL'));
    const failedAfter = done.filter((d) => !d.inFlightAtKill && d.outcome !== 'succeeded');
    assert.deepEqual(failedAfter, [], `${failedAfter.length} of ${done.length} resets failed`);
    // A reset the dead relay held (at most one per caller) is never told succeeded or agent_unavailable:
    // the write may have happened, the answer died with the relay.
    const inFlight = done.filter((d) => d.inFlightAtKill && d.outcome !== 'succeeded');
    assert.ok(inFlight.length <= 2, JSON.stringify(inFlight));
    for (const d of inFlight) assert.ok(['timeout', 'outcome_unknown'].includes(d.outcome), d.outcome);
    assert.equal(done.filter((d) => d.outcome === 'agent_unavailable').length, 0);
    inFlightFailures = inFlight.length;
  });

  test('the resets the killed relay held succeed too', {
    todo:
      'needs the gateway to send a request lost with its relay again through another relay before the deadline, ' +
      'and the agent to answer a repeated requestId with its first answer (executor) instead of refusing it as a replay',
  }, () => {
    assert.equal(inFlightFailures, 0);
  });
});
