/**
 * Issue 11 item 1, NATS down when a node starts: a cloud node in RELAY_MODE=nats awaited its first
 * NATS connection at start-up and threw when NATS was unreachable (systemd then restarted it in a
 * loop); the standalone relay exited the same way. Both must start, say on `/healthz` (readiness)
 * that they cannot serve, answer `/livez` (liveness) 200 all the same, fail a write at once as
 * agent_unavailable (not a hang to the deadline), and work once NATS is there.
 *
 * Real parts: a nats-server of this test's own (started, then stopped before anything else, so its
 * port is known and nothing listens on it), a cloud node, the standalone relay as its own process,
 * and a real agent (in this process) that dials the relay while NATS is still down.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import {
  agentConnected,
  capturingLogger,
  quietLog,
  startAcmeWithAgent,
  fetchJson,
  waitFor,
  type StartedCloud,
} from '@writeback/testkit';
import {
  NATS_SERVER_BIN,
  startCloudOverNats,
  startNatsServer,
  type NatsServer,
  type RelayProcess,
} from '@writeback/testkit/nats';

/** A write's deadline: long, so an answer at once cannot be mistaken for one at the deadline. */
const DEADLINE_MS = 8_000;
/** "At once". */
const AT_ONCE_MS = 1_000;

describe('issue 11 item 1: a cloud node and a relay started while NATS is down', { skip: !NATS_SERVER_BIN }, () => {
  let nats: NatsServer;
  let started: StartedCloud | undefined;
  let relay: RelayProcess | undefined;
  let agent: RunningAgent | undefined;
  let directory: EmbeddedDirectory | undefined;
  let dir: string;
  const prefix = `wbstart.${randomBytes(4).toString('hex')}`;
  const cloudLog = capturingLogger('cloud', 'info');

  const cloudUrl = () => started?.cloud.url ?? '';
  const relayLive = () => fetchJson(relay?.healthUrl.replace(/\/healthz$/, '/livez') ?? '');
  const relayHealth = () => fetchJson(relay?.healthUrl ?? '');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-nats-down-at-start-'));
    nats = await startNatsServer();
    await nats.stop();
    assert.equal(nats.running(), false);
  });

  after(async () => {
    await agent?.stop();
    await relay?.stop('SIGKILL');
    await started?.stop();
    await nats?.stop();
    await directory?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('both start, are alive but not ready, fail writes at once, and serve once NATS is up', async () => {
    ({ started, relay } = await startCloudOverNats({
      natsUrl: nats.url,
      natsPrefix: prefix,
      relayId: 'relay-late-nats',
      reconnectMaxMs: 100,
      deadlineMs: DEADLINE_MS,
      log: cloudLog.log,
    }));

    // Alive (liveness 200) but not ready (readiness 503), on both.
    const live = await fetchJson(`${cloudUrl()}/livez`);
    assert.equal(live.status, 200);
    assert.equal(live.body.status, 'ok');
    const health = await fetchJson(`${cloudUrl()}/healthz`);
    assert.equal(health.status, 503);
    assert.equal(health.body.relay, 'down');
    assert.equal(health.body.store, 'ok');
    assert.equal((await relayLive()).status, 200);
    const rh = await relayHealth();
    assert.equal(rh.status, 503);
    assert.notEqual((rh.body.nats as { status?: string }).status, 'up');

    // It keeps trying in the background, counted for health.
    await waitFor(() => (started?.cloud.relayClient.health?.().reconnectAttempts ?? 0) >= 3, {
      what: 'the cloud to go on dialing NATS',
    });
    await waitFor(async () => (((await relayHealth()).body.nats as { attempts?: number }).attempts ?? 0) >= 3, {
      what: 'the relay to go on dialing NATS',
    });

    // The tenant and its agent are set up through the API meanwhile; the agent dials the relay,
    // which cannot ask the cloud about it yet: it waits (and retries) until NATS is there.
    const boot = await started.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true });
    const apiKey = boot.apiKey ?? '';
    const agentStarting = startAcmeWithAgent(started.cloud, {
      dir,
      policy: { minLength: 10, complexity: true, historyLength: 0, minAgeSeconds: 0 },
      log: quietLog(),
      relayUrl: relay.url,
    });
    await waitFor(
      async () => {
        const r = await fetchJson(`${cloudUrl()}/api/v1/tenants/acme/agents`, apiKey);
        return r.status === 200 && (r.body.agents as unknown[]).length === 1;
      },
      { what: 'the agent to be registered' },
    );

    // A write now is answered agent_unavailable at once, not at its deadline.
    const t0 = Date.now();
    const during = await fetchJson(`${cloudUrl()}/api/v1/tenants/acme/users/alice/password/reset`, apiKey, {
      newPassword: 'Tulip-During-2025!',
      forceChange: false,
    });
    const took = Date.now() - t0;
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.equal(during.body.outcome, 'agent_unavailable');
    assert.ok(took < AT_ONCE_MS, `answered in ${took} ms`);
    // Still alive while not ready, after serving that request.
    assert.equal((await fetchJson(`${cloudUrl()}/livez`)).status, 200);
    assert.equal((await fetchJson(`${cloudUrl()}/healthz`)).status, 503);

    // NATS comes up: both connect by themselves, become ready, and the agent gets in.
    await nats.start();
    await waitFor(async () => (await fetchJson(`${cloudUrl()}/healthz`)).status === 200, {
      what: "the cloud's readiness",
    });
    await waitFor(async () => (await relayHealth()).status === 200, { what: "the relay's readiness" });
    let tenantId: string;
    ({ agent, directory, tenantId } = await agentStarting);
    await agentConnected(started.cloud, { tenantId });

    let answered: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        answered = await fetchJson(`${cloudUrl()}/api/v1/tenants/acme/users/alice/password/reset`, apiKey, {
          newPassword: 'Tulip-After-2025!',
          forceChange: false,
        });
        return answered.body.outcome !== 'agent_unavailable';
      },
      { what: 'a reset to reach the agent' },
    );
    assert.equal(answered?.body.outcome, 'succeeded', JSON.stringify(answered?.body));
    assert.equal(
      (await directory.verifyCredentials({ by: 'login', value: 'alice' }, 'Tulip-After-2025!')).outcome,
      'succeeded',
    );
    assert.equal((await fetchJson(`${cloudUrl()}/livez`)).status, 200);
    assert.equal((await relayLive()).status, 200);

    // The wait is logged once at its start and once at its end, never a line per attempt.
    assert.equal(cloudLog.lines.filter((l) => l.includes('NATS not reachable')).length, 1);
    assert.equal(cloudLog.lines.filter((l) => l.includes('NATS link up')).length, 1);
  });
});

describe('liveness is not readiness', { skip: !NATS_SERVER_BIN }, () => {
  test('/livez answers 200 while /healthz answers 503 (NATS down after a good start)', async () => {
    const nats = await startNatsServer();
    const prefix = `wblive.${randomBytes(4).toString('hex')}`;
    const { started, relay } = await startCloudOverNats({
      natsUrl: nats.url,
      natsPrefix: prefix,
      relayId: 'relay-livez',
      reconnectMaxMs: 100,
      deadlineMs: 10_000,
    });
    const relayLivez = relay.healthUrl.replace(/\/healthz$/, '/livez');
    try {
      await waitFor(async () => (await fetchJson(`${started.cloud.url}/healthz`)).status === 200, {
        what: "the cloud's readiness",
      });
      await waitFor(async () => (await fetchJson(relay.healthUrl)).status === 200, { what: "the relay's readiness" });
      assert.equal((await fetchJson(`${started.cloud.url}/livez`)).status, 200);
      assert.equal((await fetchJson(relayLivez)).status, 200);

      await nats.stop();
      await waitFor(async () => (await fetchJson(`${started.cloud.url}/healthz`)).status === 503, {
        what: "the cloud's readiness to go red",
      });
      await waitFor(async () => (await fetchJson(relay.healthUrl)).status === 503, {
        what: "the relay's readiness to go red",
      });
      const cloudLive = await fetchJson(`${started.cloud.url}/livez`);
      assert.equal(cloudLive.status, 200);
      assert.deepEqual(cloudLive.body, { status: 'ok' });
      const relayLive = await fetchJson(relayLivez);
      assert.equal(relayLive.status, 200);
      assert.deepEqual(relayLive.body, { ok: true });

      // The liveness route is in the OpenAPI document, like every route of the cloud.
      const doc = await fetchJson(`${started.cloud.url}/openapi.json`);
      const paths = doc.body.paths as Record<string, { get?: { operationId?: string } }>;
      assert.equal(paths['/livez']?.get?.operationId, 'liveness');
      assert.equal(paths['/healthz']?.get?.operationId, 'health');
    } finally {
      await relay.stop('SIGKILL');
      await started.stop();
      await nats.stop();
    }
  });
});
