/**
 * Issue 12: a failed sign-in was audited as `wrong_current_password` while the API answered
 * `invalid_credentials`. One code for one event: the audit record of a pass-through sign-in says
 * the code the person got, through the API and through the sign-in page, and keeps the
 * directory's own answer in its detail. A successful one says `succeeded`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient } from './web-client.js';

interface AuditItem {
  requestId: string;
  action: string;
  target: string | null;
  outcome: string | null;
  detail: string | null;
}

describe('the audit record of a sign-in says what the person was told', () => {
  let sys: System;
  before(async () => {
    // No sync: every sign-in is a pass-through (credentials.verify through the agent).
    sys = await startSystem({ rateLimitPerUser: 1_000 });
  });
  after(() => sys?.stop());

  /** The sign-in records of `login`, newest first. */
  const signIns = async (login: string): Promise<AuditItem[]> => {
    const r = await sys.api('GET', `/api/v1/tenants/acme/audit?user=${login}&limit=100`);
    assert.equal(r.status, 200);
    return (r.body.items as AuditItem[]).filter((i) => i.action === 'credentials.verify');
  };

  test('through the API: a wrong password is invalid_credentials in the answer and in the record', async () => {
    const r = await sys.api('POST', '/api/v1/tenants/acme/sign-in', { login: 'bob', password: 'Not-Bobs-2030!' }, null);
    assert.equal(r.status, 401);
    assert.equal(r.body.outcome, 'invalid_credentials');
    const [record] = await signIns('bob');
    assert.equal(record?.outcome, 'invalid_credentials');
    assert.match(record?.detail ?? '', /^answered wrong_current_password/);

    const ok = await sys.api('POST', '/api/v1/tenants/acme/sign-in', { login: 'bob', password: PASSWORDS.bob }, null);
    assert.equal(ok.body.outcome, 'succeeded');
    const records = await signIns('bob');
    assert.equal(records.length, 2);
    assert.equal(records[0]?.outcome, 'succeeded');
    assert.equal(records[0]?.requestId, ok.body.requestId);
  });

  test('through the API: an unknown login is invalid_credentials in the record too', async () => {
    const r = await sys.api(
      'POST',
      '/api/v1/tenants/acme/sign-in',
      { login: 'nobody', password: 'Whatever-2030!' },
      null,
    );
    assert.equal(r.body.outcome, 'invalid_credentials');
    const [record] = await signIns('nobody');
    assert.equal(record?.outcome, 'invalid_credentials');
    assert.match(record?.detail ?? '', /^answered user_not_found/);
  });

  test('through the sign-in page: the page shows invalid_credentials and the record says it', async () => {
    const web = new WebClient(sys.url);
    const page = await web.signIn('/t/acme', 'alice', 'Not-Alices-2030!');
    assert.equal(page.status, 401);
    assert.deepEqual(page.codes, ['invalid_credentials']);
    const [record] = await signIns('alice');
    assert.equal(record?.outcome, 'invalid_credentials');
    assert.match(record?.detail ?? '', /^answered wrong_current_password/);
    // The password typed never reaches the record.
    assert.ok(!JSON.stringify(await signIns('alice')).includes('Not-Alices-2030!'));
  });
});
