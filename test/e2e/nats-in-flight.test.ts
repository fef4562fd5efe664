/**
 * Issue 11 item 1, a request in flight when NATS dies: the agent holds a reset (its directory is
 * writing) when nats-server is killed. The answer can no longer reach the cloud node, so the
 * request ends promptly (the link's loss ends it, not the deadline) and truthfully: a write that
 * may have happened is `outcome_unknown`, never a success and never a hang past the deadline and
 * its grace. The audit record ends with the outcome the caller was told.
 *
 * Real parts: a nats-server of this test's own, a cloud node in RELAY_MODE=nats, the standalone
 * relay as its own process, and a real agent (in this process) over an embedded directory whose
 * resets this test can hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchJson, holdingResets, waitFor, type HeldResets } from '@writeback/testkit';
import { NATS_SERVER_BIN, startNatsSystem, type NatsSystem } from '@writeback/testkit/nats';

/** The cloud's deadline for a write: long, so an answer at the deadline cannot pass for a prompt one. */
const DEADLINE_MS = 12_000;
/** The gateway's own wait past the deadline (its default), the longest any request may take. */
const GRACE_MS = 2_000;
/** "Promptly": the request ends this soon after NATS died (a lost link is noticed at once on loopback). */
const PROMPT_MS = 3_000;

describe('issue 11 item 1: a write in flight when NATS dies', { skip: !NATS_SERVER_BIN }, () => {
  let sys: NatsSystem;
  let held: HeldResets;
  const reset = (newPassword: string) => sys.reset(newPassword);

  before(async () => {
    sys = await startNatsSystem({
      relayId: 'relay-in-flight',
      reconnectMaxMs: 100,
      deadlineMs: DEADLINE_MS,
      policy: { minLength: 10, complexity: true, historyLength: 0, minAgeSeconds: 0 },
      serve: (d) => {
        held = holdingResets(d);
        return held.dir;
      },
    });
  });

  after(async () => {
    held?.go();
    await sys?.stop();
  });

  test('ends outcome_unknown soon after NATS died, never a success, and the audit says the same', async () => {
    assert.equal((await reset('Tulip-Before-2025!')).body.outcome, 'succeeded');

    held.hold = true;
    const sentAt = Date.now();
    const inFlight = reset('Tulip-In-Flight-2025!');
    await waitFor(() => held.started === 2, { what: 'the reset to reach the directory' });

    const killedAt = Date.now();
    await sys.nats.stop();
    const answer = await inFlight;
    const answeredAt = Date.now();

    assert.equal(answer.status, 502, JSON.stringify(answer.body));
    assert.equal(answer.body.outcome, 'outcome_unknown');
    assert.ok(
      answeredAt - sentAt <= DEADLINE_MS + GRACE_MS,
      `answered ${answeredAt - sentAt} ms after it was sent, past the deadline and its grace`,
    );
    assert.ok(
      answeredAt - killedAt <= PROMPT_MS,
      `answered ${answeredAt - killedAt} ms after NATS died (deadline ${DEADLINE_MS} ms): not promptly`,
    );

    // The directory finishes the write afterwards: the caller was told outcome_unknown, rightly.
    held.hold = false;
    held.go();
    await waitFor(() => held.done === 2, { what: 'the held write to finish' });

    // The audit record of that request ends with the outcome the caller got.
    const requestId = String(answer.body.requestId);
    const record = async () => {
      const r = await fetchJson(`${sys.started.cloud.url}/api/v1/tenants/acme/audit?limit=50`, sys.apiKey);
      return (r.body.items as { requestId: string; outcome: string | null }[]).find((i) => i.requestId === requestId);
    };
    await waitFor(async () => (await record())?.outcome != null, { what: 'the audit record to be completed' });
    assert.equal((await record())?.outcome, 'outcome_unknown');

    // Once NATS is back (and the answer the relay kept for it has long lost its caller), a reset succeeds.
    await sys.nats.start();
    let again: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        again = await reset('Tulip-After-2025!');
        return again.body.outcome !== 'agent_unavailable';
      },
      { what: 'a reset to reach the agent again' },
    );
    assert.equal(again?.body.outcome, 'succeeded', JSON.stringify(again?.body));
    assert.equal((await record())?.outcome, 'outcome_unknown', 'the earlier record is not rewritten');
  });
});
