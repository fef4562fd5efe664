/**
 * Agent registration tokens and registration over HTTP (single use, expiry, the same 401 for every
 * bad token, concurrent use), the certificate, the agent list with presence, and revocation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentCertificateSchema, publicKeyObject, verifyAgentCertificate } from '@writeback/protocol';
import { agentGate } from '../src/agents/registry.js';
import { api, errorCode, field, startAcmeCloud, str, TestAgent, type AcmeCloud } from './helpers.js';

describe('agents', () => {
  let acme: AcmeCloud;
  before(async () => {
    acme = await startAcmeCloud();
  });
  after(() => acme.s.stop());

  const issue = async (body?: unknown): Promise<string> => {
    const r = await api(acme.base, 'POST', '/api/v1/tenants/acme/agent-tokens', {
      token: acme.apiKey,
      ...(body !== undefined ? { body } : {}),
    });
    assert.equal(r.status, 201);
    return str(r.json, 'token');
  };

  test('an issued token registers one agent, once; the certificate verifies with the cloud key', async () => {
    const r0 = await api(acme.base, 'POST', '/api/v1/tenants/acme/agent-tokens', { token: acme.apiKey });
    assert.equal(r0.status, 201);
    const token = str(r0.json, 'token');
    assert.match(token, /^wbt_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(Date.parse(str(r0.json, 'expiresAt')), acme.clock.now() + 3_600_000);

    const agent = new TestAgent('dc1-agent');
    const r = await agent.register(acme.base, token);
    assert.equal(r.status, 201);
    assert.equal(agent.cloudSigningKey, acme.s.cloud.cloudPublicKey);
    assert.equal(agent.relayUrl, `${acme.s.cloud.url.replace('http', 'ws')}/agent`);
    assert.equal(Reflect.get(Object(r.json), 'relayUrls'), undefined, 'one relay: relayUrl alone, as before');
    const cert = AgentCertificateSchema.parse(field(r.json, 'certificate'));
    assert.equal(cert.agentId, agent.agentId);
    assert.equal(cert.tenantId, agent.tenantId);
    assert.equal(cert.signingKey, agent.signing.publicKey);
    assert.equal(cert.encryptionKey, agent.encryption.publicKey);
    assert.ok(verifyAgentCertificate(cert, publicKeyObject('Ed25519', acme.s.cloud.cloudPublicKey)));
    assert.equal(await agentGate(acme.s.cloud.store)(agent.agentId, agent.tenantId), true);
    assert.equal(await agentGate(acme.s.cloud.store)(agent.agentId, 't-0000000000000000'), false);

    const again = await new TestAgent('copy').register(acme.base, token);
    assert.equal(again.status, 401);
    assert.equal(errorCode(again), 'invalid_token');
  });

  test('expired, unknown, malformed and wrong-secret tokens all get the same 401 invalid_token', async () => {
    const expiring = await issue({ ttlSeconds: 60 });
    acme.clock.advance(61_000);
    const valid = await issue();
    const wrongSecret = valid.replace(/\.(.)/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
    const answers = [];
    for (const token of [
      expiring,
      `wbt_0123456789abcdef.${'A'.repeat(43)}`,
      'not-a-token',
      wrongSecret,
      valid.replace('wbt_', 'wbk_'),
    ]) {
      const r = await new TestAgent('x').register(acme.base, token);
      assert.equal(r.status, 401, token);
      answers.push(r.json);
    }
    for (const a of answers) assert.deepEqual(a, answers[0]);
    // The wrong-secret attempt did not burn the real token.
    assert.equal((await new TestAgent('real').register(acme.base, valid)).status, 201);
  });

  test('concurrent registrations with one token: exactly one wins', async () => {
    const token = await issue();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => new TestAgent(`racer-${i}`).register(acme.base, token)),
    );
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    assert.ok(results.filter((r) => r.status !== 201).every((r) => errorCode(r) === 'invalid_token'));
  });

  test('bad registration bodies are invalid_request with the field path', async () => {
    const token = await issue();
    const r = await api(acme.base, 'POST', '/api/v1/agents/register', {
      body: {
        token,
        name: 'x',
        signingKey: 'short',
        encryptionKey: 'A'.repeat(43),
        agentVersion: '1',
        directory: 'embedded',
      },
    });
    assert.equal(r.status, 400);
    assert.equal(errorCode(r), 'invalid_request');
    assert.ok(JSON.stringify(field(r.json, 'error', 'details')).includes('body.signingKey'));
    // The token was not consumed by a refused body.
    assert.equal((await new TestAgent('after-bad-body').register(acme.base, token)).status, 201);
  });

  test('a signing key can be registered only once', async () => {
    const first = new TestAgent('twin');
    assert.equal((await first.register(acme.base, await issue())).status, 201);
    const second = new TestAgent('twin-2');
    Object.assign(second, { signing: first.signing });
    const r = await second.register(acme.base, await issue());
    assert.equal(r.status, 409);
    assert.equal(errorCode(r), 'conflict');
  });

  test('the list merges registered agents with live presence; revoke cuts the agent off', async () => {
    const live = new TestAgent('live-one');
    assert.equal((await live.register(acme.base, await issue())).status, 201);
    acme.relay.connect(live, undefined, {
      connections: 2,
      rttMs: 7,
      inFlight: 1,
      lastSeenAt: acme.clock.now(),
      agentVersion: '9.9.9',
    });
    const r = await api(acme.base, 'GET', '/api/v1/tenants/acme/agents', { token: acme.apiKey });
    assert.equal(r.status, 200);
    const agents = field(r.json, 'agents');
    assert.ok(Array.isArray(agents));
    const me = agents.find((a: unknown) => field(a, 'agentId') === live.agentId);
    assert.equal(field(me, 'connected'), true);
    assert.equal(field(me, 'connections'), 2);
    assert.equal(field(me, 'rttMs'), 7);
    assert.equal(field(me, 'inFlight'), 1);
    assert.equal(field(me, 'agentVersion'), '9.9.9');
    const idle = agents.find((a: unknown) => field(a, 'connected') === false);
    assert.ok(idle, 'registered agents without a connection are listed as not connected');

    const del = await api(acme.base, 'DELETE', `/api/v1/tenants/acme/agents/${live.agentId}`, { token: acme.apiKey });
    assert.equal(del.status, 204);
    assert.deepEqual(acme.relay.revoked, [live.agentId]);
    assert.equal(await agentGate(acme.s.cloud.store)(live.agentId, live.tenantId), false);
    const after = await api(acme.base, 'GET', '/api/v1/tenants/acme/agents', { token: acme.apiKey });
    assert.ok(!after.text.includes(live.agentId));
    assert.equal(
      (await api(acme.base, 'DELETE', `/api/v1/tenants/acme/agents/${live.agentId}`, { token: acme.apiKey })).status,
      404,
    );
    // Health counts connected agents across tenants.
    const h = await api(acme.base, 'GET', '/healthz');
    assert.deepEqual(h.json, { status: 'ok', agentsConnected: 0, agentsDirectoryDown: 0, store: 'ok', relay: 'ok' });
  });
});

describe('several relays (RELAY_URLS)', () => {
  test('registration hands agents every relay, RELAY_URL first, once each', async () => {
    const relays = ['wss://relay-a.example/agent', 'wss://relay-b.example/agent'];
    const acme = await startAcmeCloud({ relayUrl: relays[1], relayUrls: relays });
    try {
      const r0 = await api(acme.base, 'POST', '/api/v1/tenants/acme/agent-tokens', { token: acme.apiKey });
      const agent = new TestAgent('multi-relay');
      const r = await agent.register(acme.base, str(r0.json, 'token'));
      assert.equal(r.status, 201);
      assert.equal(agent.relayUrl, relays[1]);
      assert.deepEqual(field(r.json, 'relayUrls'), [relays[1], relays[0]]);
    } finally {
      await acme.s.stop();
    }
  });
});
