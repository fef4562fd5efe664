/**
 * Issue 10's account oracles: a caller who has proven nothing learns nothing about an account.
 * Through the public sign-in (API and page) and the public change API, an unknown name, a disabled
 * account, a protected one, a locked one and a wrong password all get the same code, the same
 * status and the same body shape; only a proven password gets more. (Timing is shown by
 * `npm run bench:oracles`, which prints medians; a stopwatch assertion would be noise here.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { changeOwnPassword, PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient } from './web-client.js';

const T = '/api/v1/tenants/acme';

describe('nothing about an account before proof', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
    // erin: locked by three wrong passwords (straight on the directory, not through the cloud's budgets).
    for (let i = 0; i < 3; i++)
      await sys.directory.verifyCredentials({ by: 'login', value: 'erin' }, `Wrong-${i}-Password!`);
    assert.equal(sys.directory.getUser('erin')?.locked, true);
  });
  after(async () => {
    await sys?.stop();
  });

  /** Who is probed: each with a wrong password, and the disabled one also with its right one. */
  const probes = (): [string, string][] => [
    ['nobody-at-all', 'Whatever-It-Is-42!'],
    ['carol', 'Not-Carols-Password-1!'],
    ['carol', PASSWORDS.carol],
    ['dave', 'Not-Daves-Password-1!'],
    ['erin', PASSWORDS.erin],
    ['alice', 'Not-Alices-Password-1!'],
  ];

  it('the sign-in API answers every one alike: 401 invalid_credentials, no way, no reference', async () => {
    for (const [login, password] of probes()) {
      const r = await sys.api('POST', `${T}/sign-in`, { login, password }, null);
      assert.equal(r.status, 401, login);
      assert.deepEqual(r.body, { outcome: 'invalid_credentials', via: null }, login);
    }
    // A proven password still gets the full answer.
    const ok = await sys.api('POST', `${T}/sign-in`, { login: 'alice', password: PASSWORDS.alice }, null);
    assert.equal(ok.body.outcome, 'succeeded');
  });

  it('the sign-in page answers every one alike', async () => {
    const c = new WebClient(sys.url);
    await c.get('/t/acme/signin');
    for (const [login, password] of probes()) {
      const p = await c.post('/t/acme/signin', { login, password });
      assert.equal(p.status, 401, login);
      assert.deepEqual(p.codes, ['invalid_credentials'], login);
    }
  });

  it('the public change API answers every one alike: wrong_current_password, one body shape, no policy', async () => {
    const shapes = new Set<string>();
    for (const [username, currentPassword] of probes()) {
      if (username === 'carol' && currentPassword === PASSWORDS.carol) continue;
      // A too-short new password: the directory's rules must not show before the current one is proven.
      const r = await changeOwnPassword(sys, username, currentPassword, 'short');
      assert.equal(r.status, 403, username);
      assert.equal(r.body.outcome, 'wrong_current_password', username);
      assert.equal(r.body.policy, undefined, username);
      assert.equal(r.body.reasons, undefined, username);
      assert.equal(typeof r.body.requestId, 'string', username);
      shapes.add(`${Object.keys(r.body).sort().join(',')}|${String(r.body.message)}`);
    }
    assert.equal(shapes.size, 1, [...shapes].join(' / '));
  });
});
