/**
 * The self-service pages against a real Samba AD DC (lab) through the whole path (agent process,
 * LDAPS): a user signs in (pass-through: the DC checks the password), sees the domain's rules,
 * registers an email address, is refused a password that breaks a rule (with that rule), then
 * resets it through forgot-password with an emailed code; `kinit` against the DC's KDC proves the
 * new password works and the old one does not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Directory } from '@writeback/directory';
import type { Mailer } from '@writeback/cloud';
import type { MemoryMailer } from '@writeback/cloud/testing';
import { startSambaDc, type SambaDc, type SambaUser as LabUser } from '@writeback/testkit/lab';
import {
  capturedLogs,
  findSecrets,
  labSecrets,
  missingPrograms,
  startSystemWithSamba,
  type System,
} from './harness.js';
import { WebClient } from './web-client.js';

const T = '/t/acme';
/** Every password this file uses (none may appear in any log line of the run), and a maker of new ones. */
const { secrets, pw } = labSecrets();
const isMemoryMailer = (m: Mailer): m is MemoryMailer => m.kind === 'memory' && 'waitFor' in m;

describe('self-service pages against Samba AD', { skip: missingPrograms(['samba', 'samba-tool', 'kinit']) }, () => {
  let dc: SambaDc;
  let sys: System<Directory>;
  let stopAll: (() => Promise<void>) | undefined;

  before(async () => {
    ({ dc, sys, stop: stopAll } = await startSystemWithSamba(startSambaDc(), secrets));
  });
  after(async () => {
    await stopAll?.();
    assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password or code appeared in a log line');
  });

  const mails = (): MemoryMailer => {
    if (!isMemoryMailer(sys.cloud.mailer)) throw new Error('the test expects the in-memory mailer');
    return sys.cloud.mailer;
  };
  const codeIn = (text: string): string => {
    const m = /code is: (\d{8})/.exec(text);
    assert.ok(m?.[1]);
    secrets.add(m[1]);
    return m[1];
  };
  const kinit = async (u: LabUser, password: string) => (await dc.kinit(`${u.login}@${dc.realm}`, password)).code === 0;

  it('sign in, rules shown, a rule broken is named, then forgot-password resets it (kinit proves it)', async () => {
    const u = await dc.createUser({ login: `web${process.pid % 1000}a`, password: pw('Init') });
    const address = `${u.login}@example.test`;

    // Sign in: the DC checks the password (pass-through).
    const c = new WebClient(sys.url);
    const account = await c.signIn(T, u.login, u.password);
    assert.equal(account.url, `${T}/account`);
    // The domain's rules (samba template: length 7, complexity on, history 24).
    assert.match(account.text, /data-rule="minLength"[\s\S]*?at least 7 characters/);
    assert.match(account.text, /data-rule="complexity"/);
    assert.match(account.text, /last 24 passwords/);

    // A password without enough character groups: the DC refuses it, the page says which rule.
    const weak = 'lowercaseonlyletters';
    secrets.add(weak);
    const refused = await c.changePassword(T, u.password, weak);
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.codes, ['policy_violation']);
    assert.match(refused.text, /data-reason="complexity"/);
    assert.equal(await kinit(u, u.password), true, 'nothing was written');

    // Register an email address (code by mail).
    await c.get(`${T}/account/methods/email`);
    let since = Date.now();
    await c.post(`${T}/account/methods/email/send`, { address });
    const done = await c.post(`${T}/account/methods/email/confirm`, {
      code: codeIn((await mails().waitFor(address, { since })).text),
    });
    assert.ok(done.codes.includes('method_registered'));
    await c.post(`${T}/signout`, {});

    // Forgot password.
    const f = new WebClient(sys.url);
    await f.get(`${T}/forgot`);
    await f.post(`${T}/forgot`, { login: u.login });
    since = Date.now();
    await f.post(`${T}/forgot/method`, { method: 'email' });
    const verified = await f.post(`${T}/forgot/verify`, {
      code: codeIn((await mails().waitFor(address, { since })).text),
    });
    assert.equal(verified.url, `${T}/forgot/new`);
    const short = 'Ab1!x';
    secrets.add(short);
    const tooShort = await f.post(`${T}/forgot/new`, { newPassword: short, confirmPassword: short });
    assert.equal(tooShort.status, 422);
    assert.match(tooShort.text, /data-reason="too_short"/);
    assert.match(tooShort.text, /at least 7 characters/);
    const next = pw('Reset');
    const ok = await f.post(`${T}/forgot/new`, { newPassword: next, confirmPassword: next });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.codes, ['succeeded']);
    assert.equal(await kinit(u, next), true);
    assert.equal(await kinit(u, u.password), false);
    assert.deepEqual(findSecrets([...c.visited, ...f.visited], secrets), [], 'no secret in a URL');
  });
});
