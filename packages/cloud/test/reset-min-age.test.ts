/**
 * Issue 12: the pages said a reset is never bound by the minimum password age, while a Windows
 * Server 2016+ DC applies it to a reset carrying LDAP_SERVER_POLICY_HINTS (which the AD adapter
 * sends on resets that enforce history). The directory now says which it is in policy.get's data
 * (`resetHonoursMinAge`, decided from the control the DC takes: packages/directory ad-rules and
 * ad.test.ts); the API's policy answer carries it and the reset page's rules panel shows the wait
 * only when it applies. Both branches here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OperationResult } from '@writeback/protocol';
import { policyPanel } from '../src/web/policy-view.js';
import { api, effectivePolicy, field, startScriptedCloud, type Started, type TestAgent } from './helpers.js';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const policy = effectivePolicy({
  source: 'domain',
  minLength: 7,
  minAgeSeconds: 86_400,
  passwordLastSetAt: new Date(NOW - 3_600_000).toISOString(),
  nextChangeAllowedAt: new Date(NOW + 23 * 3_600_000).toISOString(),
});
const person = { login: 'alice', displayName: 'Alice Doe' };

describe('the API says whether a reset is held back by the minimum age', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  let agent: TestAgent;
  before(async () => {
    ({ s, base, apiKey, agent } = await startScriptedCloud());
  });
  after(() => s.stop());

  const read = async (data: OperationResult['data']) => {
    agent.script = (req) =>
      req.op === 'policy.get' ? { outcome: 'succeeded', policy, ...(data ? { data } : {}) } : { outcome: 'succeeded' };
    const r = await api(base, 'GET', '/api/v1/tenants/acme/users/alice/policy', { token: apiKey });
    assert.equal(r.status, 200);
    return r.json;
  };

  test('a DC with policy hints (Windows 2016+): resetHonoursMinAge true', async () => {
    const json = await read({ resetHonoursMinAge: true });
    assert.equal(field(json, 'resetHonoursMinAge'), true);
    assert.equal(field(json, 'policy', 'minAgeSeconds'), 86_400);
  });

  test('a DC without them (Samba): resetHonoursMinAge false; an adapter that does not say: absent', async () => {
    assert.equal(field(await read({ resetHonoursMinAge: false }), 'resetHonoursMinAge'), false);
    assert.equal(field(await read(undefined), 'resetHonoursMinAge'), undefined);
  });
});

describe('the reset page shows the minimum age only when a reset is bound by it', () => {
  test('resets bound by it (policy hints): the wait is shown, as on the change page', () => {
    const reset = String(policyPanel(policy, person, { now: NOW, forReset: true, resetHonoursMinAge: true }));
    const change = String(policyPanel(policy, person, { now: NOW, forReset: false }));
    assert.match(reset, /data-min-age="2030-01-16T11:00:00.000Z"/);
    assert.match(change, /data-min-age="2030-01-16T11:00:00.000Z"/);
    // Past the wait, the rule is listed as met.
    const later = String(
      policyPanel(policy, person, { now: NOW + 24 * 3_600_000, forReset: true, resetHonoursMinAge: true }),
    );
    assert.doesNotMatch(later, /data-min-age/);
    assert.match(later, /minimum age/);
  });

  test('resets not bound by it (no policy hints, or not said): no wait and no minimum-age rule', () => {
    for (const o of [{ resetHonoursMinAge: false }, {}]) {
      const page = String(policyPanel(policy, person, { now: NOW, forReset: true, ...o }));
      assert.doesNotMatch(page, /data-min-age/);
      assert.doesNotMatch(page, /minimum age/);
      assert.match(page, /data-min-length="7"/);
    }
  });
});
