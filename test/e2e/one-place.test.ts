/**
 * Issue 9's defects, each through BOTH doors (the API and the pages), against the whole system
 * (cloud + relay + agent + embedded directory): the use cases are written once, so the answers
 * cannot drift apart again.
 * - A common password (`Password2025!!`) is refused with policy_violation / banned, before
 *   anything reaches the directory, on every path that sets a password: the admin reset (API and
 *   admin page), the self-service change (API and My Account) and the forgot-password reset.
 * - A user's sign-in attempts draw on ONE budget whatever alias was typed (login, mail, UPN, any
 *   case) and whichever door: ten failures, then rate_limited even with the right password.
 * (One admin sign-in budget whatever the tenant's spelling: test/e2e/browser/admin-http.test.ts.)
 * - Issue 10: a password change ends the user's other sessions, whichever door it came through.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mailer } from '@writeback/cloud';
import type { MemoryMailer } from '@writeback/cloud/testing';
import { AdminClient } from './browser/admin-client.js';
import { changeOwnPassword, PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient } from './web-client.js';

const T = '/t/acme';
const COMMON = 'Password2025!!';
const GINA = {
  login: 'gina',
  mail: 'gina.rossi@example.com',
  upn: 'gina@corp.example',
  password: 'Juniper-Initial-2024!',
};
const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' };
const isMemoryMailer = (m: Mailer): m is MemoryMailer => m.kind === 'memory' && 'waitFor' in m;

describe('one use case behind both doors', () => {
  let sys: System;

  /** The audit records of a user, newest first (the API's audit list). */
  async function auditOf(login: string): Promise<{ action: string; outcome: string | null; reasons?: string[] }[]> {
    const r = await sys.api('GET', `/api/v1/tenants/acme/audit?user=${encodeURIComponent(login)}&limit=50`);
    assert.equal(r.status, 200);
    return r.body.items as { action: string; outcome: string | null; reasons?: string[] }[];
  }

  before(async () => {
    sys = await startSystem({
      seed: async (d) => {
        await d.createUser({
          login: GINA.login,
          displayName: 'Gina Rossi',
          password: GINA.password,
          mail: GINA.mail,
          upn: GINA.upn,
        });
      },
    });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...ADMIN, role: 'admin' } });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
  });
  after(async () => {
    await sys?.stop();
  });

  it('refuses a common password on every path that sets one, API and pages alike, and writes nothing', async () => {
    const banned = (outcome: unknown, reasons: unknown) => {
      assert.equal(outcome, 'policy_violation');
      assert.deepEqual(reasons, ['banned']);
    };
    const before = (await auditOf('bob')).length;

    // Admin reset with a given password: the API…
    const apiReset = await sys.api('POST', '/api/v1/tenants/acme/users/bob/password/reset', { newPassword: COMMON });
    assert.equal(apiReset.status, 422);
    banned(apiReset.body.outcome, apiReset.body.reasons);
    assert.equal(typeof apiReset.body.requestId, 'string');
    // …and the admin page.
    const admin = new AdminClient(sys.url);
    assert.equal((await admin.signIn('acme', ADMIN.login, ADMIN.password)).status, 303);
    const user = await admin.get(`${T}/admin/users/bob`);
    assert.equal(user.status, 200);
    const pageReset = await admin.post(`${T}/admin/users/bob/reset`, { mode: 'set', newPassword: COMMON });
    assert.equal(pageReset.status, 422);
    assert.match(pageReset.text, /data-code="policy_violation"/);
    assert.match(pageReset.text, /data-reason="banned"/);

    // Self-service change: the public API…
    const apiChange = await changeOwnPassword(sys, 'bob', PASSWORDS.bob, COMMON);
    assert.equal(apiChange.status, 422);
    banned(apiChange.body.outcome, apiChange.body.reasons);
    // …and My Account.
    const c = new WebClient(sys.url);
    assert.equal((await c.signIn(T, 'bob', PASSWORDS.bob)).url, `${T}/account`);
    const pageChange = await c.changePassword(T, PASSWORDS.bob, COMMON);
    assert.equal(pageChange.status, 422);
    assert.deepEqual(pageChange.codes, ['policy_violation']);
    assert.match(pageChange.text, /data-reason="banned"/);

    // The forgot-password reset: register an email code, verify, then the common password.
    await c.get(`${T}/account/methods/email`);
    const mailer = sys.cloud.mailer;
    if (!isMemoryMailer(mailer)) throw new Error('the test expects the in-memory mailer');
    let since = Date.now();
    await c.post(`${T}/account/methods/email/send`, { address: 'bob@example.com' });
    const regCode = /(\d{8})/.exec((await mailer.waitFor('bob@example.com', { since })).text)?.[1] ?? '';
    assert.ok(
      (await c.post(`${T}/account/methods/email/confirm`, { code: regCode })).codes.includes('method_registered'),
    );
    await c.post(`${T}/signout`, {});
    const f = new WebClient(sys.url);
    await f.get(`${T}/forgot`);
    await f.post(`${T}/forgot`, { login: 'bob' });
    since = Date.now();
    await f.post(`${T}/forgot/method`, { method: 'email' });
    const code = /(\d{8})/.exec((await mailer.waitFor('bob@example.com', { since })).text)?.[1] ?? '';
    assert.equal((await f.post(`${T}/forgot/verify`, { code })).url, `${T}/forgot/new`);
    const forgot = await f.post(`${T}/forgot/new`, { newPassword: COMMON, confirmPassword: COMMON });
    assert.equal(forgot.status, 422);
    assert.deepEqual(forgot.codes, ['policy_violation']);
    assert.match(forgot.text, /data-reason="banned"/);

    // Each refusal is one audit record (refused before sending); the directory still has the old password.
    const all = await auditOf('bob');
    const records = all.slice(0, all.length - before);
    const refusals = records.filter((r) => r.outcome === 'policy_violation');
    assert.equal(refusals.length, 5);
    for (const r of refusals) assert.deepEqual(r.reasons, ['banned']);
    const verify = await sys.api(
      'POST',
      '/api/v1/tenants/acme/sign-in',
      { login: 'bob', password: PASSWORDS.bob },
      null,
    );
    assert.equal(verify.body.outcome, 'succeeded');
  });

  it("counts a user's sign-in failures on one budget whatever alias or door: then rate_limited, even with the right password", async () => {
    const api = async (login: string, password: string) =>
      (await sys.api('POST', '/api/v1/tenants/acme/sign-in', { login, password }, null)).body.outcome;
    const page = new WebClient(sys.url);
    await page.get(`${T}/signin`);
    const viaPage = async (login: string, password: string) =>
      (await page.post(`${T}/signin`, { login, password })).codes[0];
    // Ten failures: by login, by mail, by UPN in upper case, through the API and the page.
    for (let i = 0; i < 3; i++) assert.notEqual(await api(GINA.login, `Wrong-${i}-Password!`), 'rate_limited');
    for (let i = 0; i < 3; i++) assert.notEqual(await viaPage(GINA.mail, `Wrong-m${i}-Password!`), 'rate_limited');
    for (let i = 0; i < 2; i++)
      assert.notEqual(await api(GINA.upn.toUpperCase(), `Wrong-u${i}-Password!`), 'rate_limited');
    for (let i = 0; i < 2; i++) assert.notEqual(await viaPage(GINA.login, `Wrong-p${i}-Password!`), 'rate_limited');
    // The eleventh, with the right password, by any name, through either door: refused unseen.
    assert.equal(await api(GINA.login, GINA.password), 'rate_limited');
    assert.equal(await api(GINA.mail, GINA.password), 'rate_limited');
    assert.equal(await viaPage(GINA.upn, GINA.password), 'rate_limited');
    // Another user's budget is untouched.
    assert.equal(await api('alice', PASSWORDS.alice), 'succeeded');
  });

  it('a password change ends the other signed-in sessions of the user and keeps the one that made it; an API change ends them all', async () => {
    const signIn = async (password: string) => {
      const c = new WebClient(sys.url);
      assert.equal((await c.signIn(T, 'erin', password)).url, `${T}/account`);
      return c;
    };
    const here = await signIn(PASSWORDS.erin);
    const elsewhere = await signIn(PASSWORDS.erin);
    const next = 'Quartz-Lantern-4821!';
    const changed = await here.changePassword(T, PASSWORDS.erin, next);
    assert.deepEqual(changed.codes, ['succeeded']);
    assert.equal((await here.get(`${T}/account`)).url, `${T}/account`, 'the session that changed it stays');
    assert.match((await elsewhere.get(`${T}/account`)).url, /\/signin\?m=expired$/, 'the other one ended');
    // Through the API (no session of its own): every page session ends.
    const third = await signIn(next);
    const api = await changeOwnPassword(sys, 'erin', next, 'Marble-Compass-7395!');
    assert.equal(api.body.outcome, 'succeeded');
    for (const c of [here, third]) assert.match((await c.get(`${T}/account`)).url, /\/signin\?m=expired$/);
  });
});
