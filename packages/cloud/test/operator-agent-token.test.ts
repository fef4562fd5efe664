/**
 * The operator sets a tenant up, its first agent included (issue 12, docs/deploy.md): the operator
 * key issues agent registration tokens. Until then it got 403 forbidden there (the route asked for
 * agents.manage, which the operator lacks), so a deployment needed a tenant key made first. The
 * token registers an agent, and the issue is audited in the tenant as the operator key's action.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, errorCode, FakeRelay, field, startCloud, str, TestAgent, type Started } from './helpers.js';

describe('the operator key issues agent registration tokens', () => {
  let s: Started;
  let base: string;
  before(async () => {
    s = await startCloud({ deps: { relayClient: new FakeRelay() } });
    base = s.cloud.url;
  });
  after(() => s.stop());

  test('a tenant the operator created gets its first agent without a tenant key', async () => {
    const created = await api(base, 'POST', '/api/v1/tenants', {
      token: s.operatorKey,
      body: { slug: 'initech', name: 'Initech' },
    });
    assert.equal(created.status, 201);
    const tenantId = str(created.json, 'id');

    const issued = await api(base, 'POST', '/api/v1/tenants/initech/agent-tokens', { token: s.operatorKey });
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    const token = str(issued.json, 'token');
    const agent = new TestAgent('first-agent');
    assert.equal((await agent.register(base, token)).status, 201);
    assert.equal(agent.tenantId, tenantId);

    // The tenant's own record of it: the operator key's action, no secret.
    const key = await api(base, 'POST', '/api/v1/tenants/initech/api-keys', {
      token: s.operatorKey,
      body: { name: 'audit reader' },
    });
    assert.equal(key.status, 201);
    const audit = await api(base, 'GET', '/api/v1/tenants/initech/audit?limit=100', { token: str(key.json, 'key') });
    assert.equal(audit.status, 200);
    const items = field(audit.json, 'items');
    assert.ok(Array.isArray(items));
    const issues = items.filter((i: unknown) => field(i, 'action') === 'admin.agent_token.issue');
    assert.equal(issues.length, 1);
    assert.equal(field(issues[0], 'actor', 'kind'), 'api_key');
    assert.equal(field(issues[0], 'outcome'), 'succeeded');
    assert.ok(!JSON.stringify(issues).includes(token.split('.')[1] ?? 'no secret'), 'the secret is not audited');
  });

  test('the operator still cannot act on agents or users, and an unknown tenant is 404', async () => {
    await api(base, 'POST', '/api/v1/tenants', { token: s.operatorKey, body: { slug: 'hooli', name: 'Hooli' } });
    assert.equal(
      errorCode(await api(base, 'GET', '/api/v1/tenants/hooli/agents', { token: s.operatorKey })),
      'forbidden',
    );
    assert.equal(
      errorCode(await api(base, 'POST', '/api/v1/tenants/hooli/users/alice/unlock', { token: s.operatorKey })),
      'forbidden',
    );
    const missing = await api(base, 'POST', '/api/v1/tenants/no-such/agent-tokens', { token: s.operatorKey });
    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing), 'not_found');
  });
});
