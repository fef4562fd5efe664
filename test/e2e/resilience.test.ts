/**
 * Failures in the middle: the agent process killed while a write is at the directory, and the
 * relay (here: the cloud process that hosts it) restarted under a running agent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capturedLogs, findSecrets, PASSWORDS, startSystem, waitFor } from './harness.js';

const T = '/api/v1/tenants/acme';

describe('agent killed mid-request', () => {
  it('reports outcome_unknown or timeout, never success, with exactly one audit record', async () => {
    // A slow hash (scrypt N=2^17, r=8: a few hundred ms) keeps the write at the directory long
    // enough to kill the agent process in the middle of it.
    const sys = await startSystem({ agent: 'process', hash: { N: 2 ** 17, r: 8, p: 1 }, deadlineMs: 5_000 });
    try {
      const pending = sys.api('POST', `${T}/users/alice/password/reset`, {
        newPassword: 'Tulip-Killed-2025!',
        forceChange: false,
      });
      // Wait until the agent has the request (it logs nothing with the password; the relay counts it in flight).
      await waitFor(async () => (await sys.cloud.relayClient.listAgents(sys.tenantId)).some((a) => a.inFlight > 0), {
        timeoutMs: 5_000,
        what: 'the request to be in flight',
      });
      sys.agentProcess?.kill('SIGKILL');
      const res = await pending;
      assert.ok(res.body.outcome === 'outcome_unknown' || res.body.outcome === 'timeout', JSON.stringify(res.body));
      assert.notEqual(res.status, 200);
      const audit = await sys.api('GET', `${T}/audit?limit=50`);
      const mine = (audit.body.items as { requestId: string; outcome: string }[]).filter(
        (i) => i.requestId === res.body.requestId,
      );
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.outcome, res.body.outcome);
      assert.deepEqual(findSecrets(capturedLogs, ['Tulip-Killed-2025!', ...Object.values(PASSWORDS)]), []);
    } finally {
      await sys.stop();
    }
  });
});

describe('relay restart', () => {
  it('the agent comes back by itself and the next request succeeds', async () => {
    const sys = await startSystem({ rateLimitPerUser: 100 });
    try {
      assert.equal(
        (
          await sys.api('POST', `${T}/users/alice/password/reset`, {
            newPassword: 'Tulip-Before-2025!',
            forceChange: false,
          })
        ).body.outcome,
        'succeeded',
      );
      await sys.restartCloud();
      await waitFor(async () => (await sys.cloud.relayClient.listAgents(sys.tenantId)).length > 0, {
        timeoutMs: 15_000,
        what: 'the agent to reconnect',
      });
      const res = await sys.api('POST', `${T}/users/alice/password/reset`, {
        newPassword: 'Tulip-After-2025!',
        forceChange: false,
      });
      assert.equal(res.body.outcome, 'succeeded');
      const health = await sys.api('GET', '/healthz', undefined, null);
      assert.equal(health.body.agentsConnected, 1);
    } finally {
      await sys.stop();
    }
  });
});
