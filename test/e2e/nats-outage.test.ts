/**
 * Issue 11 item 1: NATS down longer than nats.js's default reconnect budget (10 attempts, ~19 s)
 * broke every cloud node for good: the client gave up, and after NATS came back 100 % of resets
 * answered agent_unavailable while /healthz said ok.
 *
 * Real parts: a nats-server of this test's own, a cloud node in RELAY_MODE=nats, the standalone
 * relay as its own process, and a real agent (in this process) over the embedded directory. Both
 * NATS clients are given a 50 ms reconnect ceiling, so the old default budget of 10 attempts would
 * be spent within a second; the outage lasts until each side has made more than twice that many.
 * While NATS is down readiness is red on both sides and a reset fails at once as
 * agent_unavailable (not a hang to the deadline); once NATS is back a reset succeeds again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { capturingLogger, fetchJson, TEST_POLICY, waitFor } from '@writeback/testkit';
import { NATS_SERVER_BIN, startNatsSystem, type NatsSystem } from '@writeback/testkit/nats';

/** nats.js's default maxReconnectAttempts, after which the old clients gave up. */
const OLD_BUDGET = 10;

describe('issue 11 item 1: NATS down for longer than the old reconnect budget', { skip: !NATS_SERVER_BIN }, () => {
  let sys: NatsSystem;
  const cloudLog = capturingLogger('cloud', 'info');
  const reset = (newPassword: string) => sys.reset(newPassword);
  const cloudHealth = () => fetchJson(`${sys.started.cloud.url}/healthz`);
  const relayHealth = () => fetchJson(sys.relay.healthUrl);

  before(async () => {
    sys = await startNatsSystem({
      relayId: 'relay-outage',
      reconnectMaxMs: 50,
      deadlineMs: 5_000,
      log: cloudLog.log,
      policy: TEST_POLICY,
    });
  });
  after(() => sys?.stop());

  test('readiness is red during the outage, requests fail at once, and a reset succeeds once NATS is back', async () => {
    assert.equal((await reset('Tulip-Before-2025!')).body.outcome, 'succeeded');
    assert.equal((await cloudHealth()).status, 200);
    assert.equal((await relayHealth()).status, 200);

    await sys.nats.stop();

    // Readiness goes red on both sides (the cloud: relay link down; the relay: NATS down).
    await waitFor(
      async () => {
        const h = await cloudHealth();
        return h.status === 503 && h.body.relay === 'down';
      },
      { what: "the cloud's readiness to go red" },
    );
    await waitFor(
      async () => {
        const h = await relayHealth();
        return h.status === 503 && (h.body.nats as { status?: string } | undefined)?.status === 'down';
      },
      { what: "the relay's readiness to go red" },
    );

    // A request now is answered agent_unavailable at once: waiting for the deadline would say timeout.
    const during = await reset('Tulip-During-2025!');
    assert.equal(during.status, 503);
    assert.equal(during.body.outcome, 'agent_unavailable');
    const why = cloudLog.lines.find((l) => l.includes('"agent_unavailable"') && l.includes('"relayLink":"down"'));
    assert.ok(why, 'the agent_unavailable is logged with the link state');

    // Both keep trying well past the old budget.
    await waitFor(() => (sys.started.cloud.relayClient.health?.().reconnectAttempts ?? 0) > 2 * OLD_BUDGET, {
      what: 'the cloud to go on reconnecting past the old budget',
    });
    await waitFor(
      async () => {
        const nats = (await relayHealth()).body.nats as { attempts?: number } | undefined;
        return (nats?.attempts ?? 0) > 2 * OLD_BUDGET;
      },
      { what: 'the relay to go on reconnecting past the old budget' },
    );

    await sys.nats.start();
    await waitFor(async () => (await cloudHealth()).status === 200, { what: "the cloud's readiness to come back" });
    await waitFor(async () => (await relayHealth()).status === 200, { what: "the relay's readiness to come back" });
    // Right after both links are back, a relay's subscriptions may still be on their way to the
    // server: a reset may answer agent_unavailable (nothing sent, nothing written) until then. The
    // first answer that is not that must be a success.
    let again: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        again = await reset('Tulip-After-2025!');
        return again.body.outcome !== 'agent_unavailable';
      },
      { what: 'a reset to reach the agent again' },
    );
    assert.equal(again?.body.outcome, 'succeeded', JSON.stringify(again?.body));
    assert.equal(
      (await sys.directory.verifyCredentials({ by: 'login', value: 'alice' }, 'Tulip-After-2025!')).outcome,
      'succeeded',
    );

    // The loss is logged once and its end once, not a line per attempt.
    assert.equal(cloudLog.lines.filter((l) => l.includes('NATS link lost')).length, 1);
    assert.equal(cloudLog.lines.filter((l) => l.includes('NATS link back')).length, 1);
  });
});
