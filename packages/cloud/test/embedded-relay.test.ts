/**
 * The cloud with its real embedded relay hub on `/agent` of its own HTTP server: an agent
 * registers over HTTP, dials the relay URL it was given, authenticates with its certificate, and
 * answers a real reset; revocation cuts it off at once and the gate refuses it afterwards.
 * (The real agent process is tested end to end by the lead; this one speaks the frames directly.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentCertificateSchema, type AgentCertificate } from '@writeback/protocol';
import { api, field, startCloud, str, TestAgent, waitFor, WireAgent, type Started } from './helpers.js';

describe('embedded relay', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  const agent = new TestAgent('wire-agent');
  let cert: AgentCertificate;
  let wire: WireAgent;
  before(async () => {
    s = await startCloud({ config: { relayMode: 'embedded' } });
    base = s.cloud.url;
    const b = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true, agentToken: true });
    apiKey = b.apiKey ?? '';
    const r = await agent.register(base, b.agentToken?.token ?? '');
    assert.equal(r.status, 201);
    cert = AgentCertificateSchema.parse(agent.certificate);
  });
  after(async () => {
    wire?.ws.close();
    await s.stop();
  });

  test('the agent dials the relay URL from registration and is seen as connected', async () => {
    assert.equal(agent.relayUrl, `${base.replace('http', 'ws')}/agent`);
    wire = new WireAgent(agent.relayUrl, agent, cert);
    await waitFor(wire.welcomed, { timeoutMs: 3_000, what: 'welcome' });
    await waitFor(async () => field((await api(base, 'GET', '/healthz')).json, 'agentsConnected') === 1, {
      timeoutMs: 3_000,
      what: 'presence',
    });
    const list = await api(base, 'GET', '/api/v1/tenants/acme/agents', { token: apiKey });
    const agents = field(list.json, 'agents');
    assert.ok(Array.isArray(agents));
    assert.equal(field(agents[0], 'agentId'), agent.agentId);
    assert.equal(field(agents[0], 'connected'), true);
    assert.equal(field(agents[0], 'connections'), 1);
  });

  test('a reset travels through the hub, sealed, and the signed answer comes back', async () => {
    agent.script = (req) =>
      req.op === 'password.reset' && req.secret.newPassword === 'Through-The-Hub-1'
        ? { outcome: 'succeeded' }
        : { outcome: 'access_denied' };
    const r = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/password/reset', {
      token: apiKey,
      body: { newPassword: 'Through-The-Hub-1' },
    });
    assert.equal(r.status, 200);
    assert.equal(str(r.json, 'outcome'), 'succeeded');
    const audit = await api(base, 'GET', '/api/v1/tenants/acme/audit', { token: apiKey });
    const items = field(audit.json, 'items');
    assert.ok(Array.isArray(items) && items.length === 1);
    assert.equal(field(items[0], 'agentId'), agent.agentId);
    assert.equal(field(items[0], 'state'), 'done');
  });

  test('revoking the agent closes its connection at once; it cannot come back', async () => {
    const del = await api(base, 'DELETE', `/api/v1/tenants/acme/agents/${agent.agentId}`, { token: apiKey });
    assert.equal(del.status, 204);
    await wire.closed;
    assert.ok(wire.errorCodes().includes('agent_revoked'));
    const r = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/password/reset', {
      token: apiKey,
      body: { newPassword: 'Through-The-Hub-2' },
    });
    assert.equal(r.status, 503);
    assert.equal(str(r.json, 'outcome'), 'agent_unavailable');
    const again = new WireAgent(agent.relayUrl, agent, cert);
    await again.closed;
    assert.equal(again.welcomed(), false);
    assert.ok(again.errorCodes().length > 0);
  });
});
