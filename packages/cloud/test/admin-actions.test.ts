/**
 * Admin actions that are not directory writes, through the API: issuing a registration token,
 * revoking an agent and changing the settings each leave one audit record attributed to the
 * caller, as the pages' do (issue 9: one use case for both doors, usecases/agents.ts and
 * usecases/settings.ts). The settings' rules beyond the schema (the pages' checks) hold on the API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getTenantSettings } from '../src/tenants/settings.js';
import { api, errorCode, field, startAcmeCloud, str, TestAgent, type AcmeCloud } from './helpers.js';

describe('admin actions through the API', () => {
  let acme: AcmeCloud;
  before(async () => {
    acme = await startAcmeCloud();
  });
  after(() => acme.s.stop());

  const adminRecords = async (action: string): Promise<unknown[]> => {
    const r = await api(acme.base, 'GET', '/api/v1/tenants/acme/audit?limit=500', { token: acme.apiKey });
    assert.equal(r.status, 200);
    const items = field(r.json, 'items');
    assert.ok(Array.isArray(items));
    return items.filter((i: unknown) => field(i, 'action') === action);
  };

  test('issuing a token and revoking an agent are audited, attributed to the API key; an unknown agent is not', async () => {
    const tok = await api(acme.base, 'POST', '/api/v1/tenants/acme/agent-tokens', { token: acme.apiKey });
    assert.equal(tok.status, 201);
    const [issued, ...more] = await adminRecords('admin.agent_token.issue');
    assert.equal(more.length, 0);
    assert.equal(field(issued, 'actor', 'kind'), 'api_key');
    assert.equal(field(issued, 'outcome'), 'succeeded');
    const tokenId = (str(tok.json, 'token').split('.')[0] ?? '').replace(/^wbt_/, '');
    assert.equal(field(issued, 'detail'), `token ${tokenId}`);
    assert.ok(!JSON.stringify(issued).includes(str(tok.json, 'token').split('.')[1] ?? 'x'), 'no secret');

    const agent = new TestAgent('audited');
    assert.equal((await agent.register(acme.base, str(tok.json, 'token'))).status, 201);
    const del = await api(acme.base, 'DELETE', `/api/v1/tenants/acme/agents/${agent.agentId}`, { token: acme.apiKey });
    assert.equal(del.status, 204);
    assert.deepEqual(acme.relay.revoked, [agent.agentId]);
    const revoked = await adminRecords('admin.agent.revoke');
    assert.equal(revoked.length, 1);
    assert.equal(field(revoked[0], 'detail'), `agent ${agent.agentId}`);
    assert.equal(field(revoked[0], 'actor', 'kind'), 'api_key');

    const again = await api(acme.base, 'DELETE', `/api/v1/tenants/acme/agents/${agent.agentId}`, {
      token: acme.apiKey,
    });
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), 'not_found');
    assert.equal((await adminRecords('admin.agent.revoke')).length, 1);
  });

  test('a settings change is audited; what the pages refuse the API refuses too, naming every path', async () => {
    const bad = await api(acme.base, 'PATCH', '/api/v1/tenants/acme/settings', {
      token: acme.apiKey,
      body: { sspr: { methods: ['email'], required: 2, attemptsPerHour: 500, notifyAdmins: ['not an address'] } },
    });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'invalid_request');
    assert.deepEqual(field(bad.json, 'error', 'details'), [
      { path: 'sspr.required', issue: 'more_than_methods' },
      { path: 'sspr.attemptsPerHour', issue: 'out_of_range' },
      { path: 'sspr.notifyAdmins', issue: 'invalid_email' },
    ]);
    assert.equal((await getTenantSettings(acme.s.cloud.store, acme.tenantId)).sspr.required, 1);
    assert.equal((await adminRecords('admin.settings.update')).length, 0);

    const schemaFirst = await api(acme.base, 'PATCH', '/api/v1/tenants/acme/settings', {
      token: acme.apiKey,
      body: { sspr: { attemptsPerHour: 0, methods: [] } },
    });
    assert.deepEqual(field(schemaFirst.json, 'error', 'details'), [
      { path: 'sspr.attemptsPerHour', issue: 'too_small' },
      { path: 'sspr.methods', issue: 'no_method' },
    ]);

    const good = await api(acme.base, 'PATCH', '/api/v1/tenants/acme/settings', {
      token: acme.apiKey,
      body: { sspr: { methods: ['email', 'totp'], required: 2 } },
    });
    assert.equal(good.status, 200);
    assert.equal(field(good.json, 'sspr', 'required'), 2);
    const records = await adminRecords('admin.settings.update');
    assert.equal(records.length, 1);
    assert.equal(field(records[0], 'actor', 'kind'), 'api_key');
    assert.equal(field(records[0], 'detail'), 'settings');
  });
});
