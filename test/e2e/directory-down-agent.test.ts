/**
 * Issue 12 item 1: an agent that cannot reach its directory still took requests. With one healthy
 * agent and one pointed at a wrong port, 10–15 % of resets, policy reads and changes failed 503
 * `directory_unavailable`, and the broken agent was listed as connected.
 *
 * - Routing: a real second agent, as its own OS process, configured for an OpenLDAP directory on
 *   a closed port, reports its directory down with its heartbeat; 50 resets, policy reads and
 *   changes all succeed (none answers directory_unavailable), the agents API and the admin agents
 *   page show it "directory unreachable since …", and /healthz counts it.
 * - Failover: a second agent whose report is stale (its health check says ok) but whose every
 *   operation answers directory_unavailable: each request it gets is tried on the other agent
 *   within its deadline, so every one succeeds.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Directory } from '@writeback/directory';
import type { OperationResult } from '@writeback/protocol';
import { freePort, registerTestAgent, startAgentProcess, startTestAgent, type AgentProcess } from '@writeback/testkit';
import { AdminClient } from './browser/admin-client.js';
import { changeOwnPassword, PASSWORDS, startSystem, waitFor, type System } from './harness.js';

const T = '/api/v1/tenants/acme';
const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' } as const;

interface ListedAgent {
  agentId: string;
  name: string;
  connected: boolean;
  directoryHealth: { ok: boolean; since: string; detail?: string } | null;
}

async function listAgents(sys: System): Promise<ListedAgent[]> {
  const r = await sys.api('GET', `${T}/agents`);
  assert.equal(r.status, 200);
  return r.body.agents as ListedAgent[];
}

/** A one-time registration token of tenant acme, through the API. */
async function agentToken(sys: System): Promise<string> {
  const r = await sys.api('POST', `${T}/agent-tokens`, {});
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return String(r.body.token);
}

describe('an agent whose directory is on a closed port', () => {
  let sys: System;
  let broken: AgentProcess;
  const output: string[] = [];

  before(async () => {
    sys = await startSystem({ rateLimitPerUser: 1_000, deadlineMs: 10_000 });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, admin: { ...ADMIN, role: 'admin' } });
    // Nothing listens there: the port was free a moment ago and is not bound again.
    const closedPort = await freePort();
    const passwordFile = join(sys.dir, 'broken-bind-password');
    await writeFile(passwordFile, 'not-used-nothing-answers\n', { mode: 0o600 });
    const statePath = join(sys.dir, 'broken-agent.json');
    await registerTestAgent({
      cloud: sys.cloud,
      token: await agentToken(sys),
      statePath,
      name: 'broken-agent',
      directory: {
        kind: 'openldap',
        urls: [`ldap://127.0.0.1:${closedPort}`],
        allowPlaintext: true,
        bindDn: 'cn=writeback,dc=example,dc=org',
        bindPasswordFile: passwordFile,
        baseDn: 'dc=example,dc=org',
      },
    });
    broken = await startAgentProcess({ statePath, cloud: sys.cloud, tenantId: sys.tenantId, output });
    // Both connected, and the broken one has said its directory is down.
    await waitFor(
      async () => {
        const agents = await listAgents(sys);
        return (
          agents.length === 2 &&
          agents.every((a) => a.connected) &&
          agents.some((a) => a.name === 'broken-agent' && a.directoryHealth?.ok === false)
        );
      },
      { timeoutMs: 30_000, what: 'the broken agent to report its directory down' },
    );
  });
  after(async () => {
    await broken?.stop();
    await sys?.stop();
  });

  test('50 resets, policy reads and changes: none answers directory_unavailable', async () => {
    const outcomes = new Map<string, number>();
    const count = (o: unknown) => outcomes.set(String(o), (outcomes.get(String(o)) ?? 0) + 1);
    let bob: string = PASSWORDS.bob;
    for (let i = 0; i < 50; i++) {
      // A few at a time, so the relay's least-loaded order would pick the idle broken agent.
      const batch = await Promise.all([
        sys.api('POST', `${T}/users/alice/password/reset`, {
          newPassword: `Tulip-Reset-${i}-2025!`,
          forceChange: false,
        }),
        sys.api('GET', `${T}/users/alice/policy`),
        sys.api('GET', `${T}/users/erin/policy`),
      ]);
      for (const r of batch) count(r.body.outcome);
      if (i % 10 === 0) {
        const next = `Maple-Change-${i}-2025!`;
        const change = await changeOwnPassword(sys, 'bob', bob, next);
        count(change.body.outcome);
        if (change.body.outcome === 'succeeded') bob = next;
      }
    }
    assert.deepEqual(Object.fromEntries(outcomes), { succeeded: 155 });
    // Routed around, not merely failed over: the broken agent was sent none of them.
    assert.deepEqual(
      output.filter((l) => l.includes('"msg":"request executed"')),
      [],
      'the agent whose directory is down was sent requests',
    );
  });

  test('the agents API, the admin agents page and /healthz say "connected, directory unreachable since …"', async () => {
    const agents = await listAgents(sys);
    const bad = agents.find((a) => a.name === 'broken-agent');
    const good = agents.find((a) => a.name !== 'broken-agent');
    assert.equal(bad?.connected, true);
    assert.equal(bad?.directoryHealth?.ok, false);
    assert.ok(!Number.isNaN(Date.parse(bad?.directoryHealth?.since ?? '')));
    assert.equal(good?.connected, true);
    assert.equal(good?.directoryHealth?.ok, true);

    const admin = new AdminClient(sys.url);
    assert.equal((await admin.signIn('acme', ADMIN.login, ADMIN.password)).status, 303);
    const page = await admin.get('/t/acme/admin/agents');
    assert.equal(page.status, 200);
    const row = new RegExp(`<tr data-agent-id="${bad?.agentId}">[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
    assert.match(row, /data-status="connected"/);
    assert.match(row, /data-directory="unreachable"/);
    assert.match(row, /directory unreachable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    const goodRow = new RegExp(`<tr data-agent-id="${good?.agentId}">[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
    assert.match(goodRow, /data-status="connected"/);
    assert.doesNotMatch(goodRow, /data-directory/);

    const health = await sys.api('GET', '/healthz', undefined, null);
    assert.equal(health.status, 200, 'information, not readiness');
    assert.equal(health.body.agentsConnected, 2);
    assert.equal(health.body.agentsDirectoryDown, 1);
  });
});

describe('an agent whose report is stale (its health says ok, its operations cannot reach the directory)', () => {
  let sys: System;
  let calls = 0;

  before(async () => {
    sys = await startSystem({ rateLimitPerUser: 1_000, deadlineMs: 10_000 });
    const state = await registerTestAgent({
      cloud: sys.cloud,
      token: await agentToken(sys),
      statePath: join(sys.dir, 'stale-agent.json'),
      name: 'stale-agent',
      directory: { kind: 'embedded', path: join(sys.dir, 'unused') },
    });
    const unreachable = async (): Promise<OperationResult> => {
      calls++;
      return { outcome: 'directory_unavailable', detail: 'connect ECONNREFUSED' };
    };
    const stale: Directory = {
      kind: 'openldap',
      capabilities: sys.directory.capabilities,
      resetPassword: unreachable,
      changePassword: unreachable,
      unlock: unreachable,
      getPolicy: unreachable,
      verifyCredentials: unreachable,
      findUser: async () => null,
      health: async () => ({ ok: true, kind: 'openldap', latencyMs: 1 }),
      close: async () => {},
    };
    const agent = await startTestAgent({ state, directory: stale });
    const previous = sys.stop;
    sys.stop = async () => {
      await agent.stop();
      await previous();
    };
    await waitFor(async () => (await listAgents(sys)).filter((a) => a.connected).length === 2, {
      what: 'both agents connected',
    });
  });
  after(() => sys?.stop());

  test('each request it answers directory_unavailable is tried on the other agent and succeeds', async () => {
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const batch = await Promise.all([
        sys.api('POST', `${T}/users/alice/password/reset`, {
          newPassword: `Tulip-Stale-${i}-2025!`,
          forceChange: false,
        }),
        sys.api('GET', `${T}/users/alice/policy`),
        sys.api('GET', `${T}/users/bob/policy`),
      ]);
      for (const r of batch) outcomes.set(String(r.body.outcome), (outcomes.get(String(r.body.outcome)) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(outcomes), { succeeded: 30 });
    // The stale agent was asked (the least-loaded order gives it requests), so failover happened.
    assert.ok(calls > 0, 'the stale agent never got a request: nothing was failed over');
    // One audit record per request, saying succeeded.
    const audit = await sys.api('GET', `${T}/audit?limit=100`);
    const items = audit.body.items as { outcome: string }[];
    assert.ok(items.length >= 30);
    assert.ok(items.every((i) => i.outcome !== 'directory_unavailable'));
  });
});
