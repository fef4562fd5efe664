/**
 * Issue 10, two Medium findings, over HTTP against the whole system (cloud + relay + agent +
 * embedded directory), with the in-memory mailer and SMS provider:
 *
 * - unlimited code sends: a signed-in user sent 25 mails and 25 texts to arbitrary addresses in
 *   0.3 s. Now: per user, per destination and per tenant per day, and a text budget per tenant;
 *   recovery codes only to confirmed addresses, and over the tenant's limit nothing is sent while
 *   the page answers as always;
 * - account takeover from a stolen session or a temporary password: methods changed without
 *   re-authentication, also while a password change was pending, and the owner was not told (the
 *   reset notice went only to the newly added address). Now: a proof of the password within 10
 *   minutes (the sign-in, or the re-authentication page), none while a change is pending, and
 *   every address known before is told.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findUserByLogin, updateTenantSettings, type Mailer, type SmsProvider } from '@writeback/cloud';
import { createWebSession, t, type MemoryMailer, type MemorySmsProvider } from '@writeback/cloud/testing';
import { PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient as Client } from './web-client.js';

const isMemoryMailer = (m: Mailer): m is MemoryMailer => m.kind === 'memory' && 'waitFor' in m;
const isMemorySms = (p: SmsProvider): p is MemorySmsProvider => p.kind === 'console' && 'messages' in p;

const T = '/t/acme';
const ALL_METHODS = ['email', 'sms', 'totp', 'questions'] as const;
const PASSWORD = {
  gina: 'Willow-Initial-2024!',
  hana: 'Spruce-Initial-2024!',
  ivan: 'Poplar-Initial-2024!',
} as const;

const codeOf = (text: string): string => {
  const m = /code is:? (\d{8})/.exec(text);
  if (!m?.[1]) throw new Error('no code in the message');
  return m[1];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startWithUsers(): Promise<System> {
  const sys = await startSystem({
    seed: async (d) => {
      await d.createUser({ login: 'gina', displayName: 'Gina Temp', password: PASSWORD.gina, mustChange: true });
      await d.createUser({
        login: 'hana',
        displayName: 'Hana Owner',
        password: PASSWORD.hana,
        mail: 'hana@corp.example',
      });
      await d.createUser({
        login: 'ivan',
        displayName: 'Ivan Owner',
        password: PASSWORD.ivan,
        mail: 'ivan@corp.example',
      });
    },
  });
  await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
  await updateTenantSettings(sys.cloud.store, sys.tenantId, { sspr: { methods: [...ALL_METHODS] } });
  return sys;
}

function outboxes(sys: System) {
  const mail = sys.cloud.mailer;
  const sms = sys.cloud.sms;
  if (!isMemoryMailer(mail) || !isMemorySms(sms)) throw new Error('the test expects the in-memory mailer and SMS');
  return {
    mail,
    sms,
    mailsTo: (to: string, since = 0) => mail.messages.filter((m) => m.to.toLowerCase() === to && m.at >= since),
    textsTo: (to: string, since = 0) => sms.messages.filter((m) => m.to === to && m.at >= since),
  };
}

async function signIn(sys: System, login: string, password: string): Promise<Client> {
  const c = new Client(sys.url);
  await c.get(`${T}/signin`);
  await c.post(`${T}/signin`, { login, password });
  assert.equal(c.last?.url, `${T}/account`);
  return c;
}

/** Register an email address or a number with the code it receives (the session must be allowed). */
async function register(sys: System, c: Client, kind: 'email' | 'sms', address: string): Promise<void> {
  const o = outboxes(sys);
  const since = Date.now();
  await c.get(`${T}/account/methods/${kind}`);
  const sent = await c.post(`${T}/account/methods/${kind}/send`, { address });
  assert.deepEqual(sent.codes, ['code_sent']);
  const text =
    kind === 'email' ? (await o.mail.waitFor(address, { since })).text : (o.textsTo(address).at(-1)?.text ?? '');
  const done = await c.post(`${T}/account/methods/${kind}/confirm`, { code: codeOf(text) });
  assert.ok(done.codes.includes('method_registered'), `registered ${kind}`);
}

/** The system of the suite running now. */
let sys: System;
/** The calling suite runs on a system of its own with the users: started before its tests, stopped after. */
function onFreshSystem(): void {
  let mine: System | undefined;
  before(async () => {
    mine = await startWithUsers();
    sys = mine;
  });
  after(async () => {
    await mine?.stop();
  });
}

describe('issue 10: code sends are limited per user, destination and tenant per day', () => {
  onFreshSystem();

  it('the tenant’s text budget stops texts (toll fraud), not mails', async () => {
    await updateTenantSettings(sys.cloud.store, sys.tenantId, { sspr: { sends: { smsPerTenant: 2 } } });
    try {
      const c = await signIn(sys, 'erin', PASSWORDS.erin);
      await c.get(`${T}/account/methods/sms`);
      for (const n of ['+44 7700 900001', '+44 7700 900002'])
        assert.deepEqual((await c.post(`${T}/account/methods/sms/send`, { address: n })).codes, ['code_sent']);
      const third = await c.post(`${T}/account/methods/sms/send`, { address: '+44 7700 900003' });
      assert.equal(third.status, 429);
      assert.deepEqual(third.codes, ['rate_limited']);
      assert.ok(Number(third.headers.get('retry-after')) > 0);
      assert.equal(outboxes(sys).textsTo('+44 7700 900003').length, 0);
      await c.get(`${T}/account/methods/email`);
      assert.deepEqual((await c.post(`${T}/account/methods/email/send`, { address: 'erin@example.net' })).codes, [
        'code_sent',
      ]);
    } finally {
      await updateTenantSettings(sys.cloud.store, sys.tenantId, { sspr: { sends: { smsPerTenant: 200 } } });
    }
  });

  it('a burst of 25 mails and 25 texts from one signed-in user sends 10 in all', async () => {
    const o = outboxes(sys);
    const c = await signIn(sys, 'frank', PASSWORDS.frank);
    const csrf = c.csrf();
    const mails = Array.from({ length: 25 }, (_, i) => `burst${i}@example.net`);
    const numbers = Array.from({ length: 25 }, (_, i) => `+44 7700 9100${String(i).padStart(2, '0')}`);
    const pages = await Promise.all([
      ...mails.map((address) => c.post(`${T}/account/methods/email/send`, { address }, csrf)),
      ...numbers.map((address) => c.post(`${T}/account/methods/sms/send`, { address }, csrf)),
    ]);
    assert.equal(pages.filter((p) => p.status === 200 && p.codes.includes('code_sent')).length, 10);
    const refused = pages.filter((p) => p.status === 429);
    assert.equal(refused.length, 40);
    for (const p of refused) assert.deepEqual(p.codes, ['rate_limited']);
    const sent =
      mails.reduce((n, a) => n + o.mailsTo(a).length, 0) + numbers.reduce((n, a) => n + o.textsTo(a).length, 0);
    assert.equal(sent, 10, 'exactly the per-user limit left the system');
  });

  it('one destination gets at most 3 codes a day, whoever asks and however it is spelled', async () => {
    const o = outboxes(sys);
    const alice = await signIn(sys, 'alice', PASSWORDS.alice);
    await alice.get(`${T}/account/methods/email`);
    for (let i = 0; i < 3; i++)
      assert.deepEqual((await alice.post(`${T}/account/methods/email/send`, { address: 'victim@example.org' })).codes, [
        'code_sent',
      ]);
    const fourth = await alice.post(`${T}/account/methods/email/send`, { address: 'Victim@Example.org' });
    assert.equal(fourth.status, 429);
    assert.deepEqual(fourth.codes, ['rate_limited']);
    const bob = await signIn(sys, 'bob', PASSWORDS.bob);
    await bob.get(`${T}/account/methods/email`);
    const bobCsrf = bob.csrf();
    const other = await bob.post(`${T}/account/methods/email/send`, { address: 'victim@example.org' });
    assert.deepEqual(other.codes, ['rate_limited']);
    assert.equal(o.mailsTo('victim@example.org').length, 3);
    // Another destination is still fine for bob.
    assert.deepEqual(
      (await bob.post(`${T}/account/methods/email/send`, { address: 'bob@example.net' }, bobCsrf)).codes,
      ['code_sent'],
    );
  });

  it('recovery codes go only to a confirmed address; over the tenant’s limit none is sent and the page says the same', async () => {
    const o = outboxes(sys);
    // hana asks for a code at a new address but never confirms it: it is not a method.
    const hana = await signIn(sys, 'hana', PASSWORD.hana);
    await hana.get(`${T}/account/methods/email`);
    await hana.post(`${T}/account/methods/email/send`, { address: 'hana-new@example.net' });
    const forgot = async () => {
      const c = new Client(sys.url);
      await c.get(`${T}/forgot`);
      await c.post(`${T}/forgot`, { login: 'hana' });
      return c.post(`${T}/forgot/method`, { method: 'email' });
    };
    let since = Date.now();
    const sent = await forgot();
    await o.mail.waitFor('hana@corp.example', { since });
    assert.equal(o.mailsTo('hana-new@example.net', since).length, 0, 'never to an unconfirmed address');

    await updateTenantSettings(sys.cloud.store, sys.tenantId, { sspr: { sends: { perTenant: 1 } } });
    try {
      since = Date.now();
      const over = await forgot();
      assert.equal(over.status, sent.status);
      assert.deepEqual(over.codes, sent.codes);
      await sleep(300);
      assert.equal(o.mailsTo('hana@corp.example', since).length, 0, 'nothing sent over the tenant’s limit');
    } finally {
      await updateTenantSettings(sys.cloud.store, sys.tenantId, { sspr: { sends: { perTenant: 2000 } } });
    }
  });
});

describe('issue 10: changing a method needs a recent password, none while a change is pending, and the owner is told', () => {
  onFreshSystem();

  /** A session of `login` made 11 minutes ago (as if stolen from the owner's browser). */
  async function staleSession(login: string): Promise<Client> {
    const user = await findUserByLogin(sys.cloud.store, sys.tenantId, login);
    assert.ok(user);
    const { cookie } = await createWebSession(
      sys.cloud.store,
      { kind: 'user', tenantId: sys.tenantId, subjectId: user.id, subjectLogin: user.login },
      Date.now() - 11 * 60_000,
    );
    const c = new Client(sys.url);
    c.cookies.set('wb-user', cookie);
    const home = await c.get(`${T}/account`);
    assert.equal(home.url, `${T}/account`, 'the session is still live');
    return c;
  }

  it('a session older than 10 minutes must type the password before a method changes', async () => {
    const o = outboxes(sys);
    const c = await staleSession('ivan');
    const csrf = c.csrf();
    for (const kind of ALL_METHODS) {
      const p = await c.get(`${T}/account/methods/${kind}`);
      assert.equal(p.url, `${T}/account/reauth?next=${kind}`, `GET ${kind} asks for the password`);
    }
    // Posting straight to the steps changes nothing and sends nothing.
    const since = Date.now();
    const send = await c.post(`${T}/account/methods/email/send`, { address: 'thief@example.net' }, csrf);
    assert.equal(send.url, `${T}/account/reauth?next=email`);
    const confirm = await c.post(`${T}/account/methods/sms/confirm`, { code: '12345678' }, csrf);
    assert.ok(confirm.url.startsWith(`${T}/account`) && !confirm.codes.includes('method_registered'));
    const totp = await c.post(`${T}/account/methods/totp`, { code: '123456' }, csrf);
    assert.equal(totp.url, `${T}/account/reauth?next=totp`);
    const questions = await c.post(
      `${T}/account/methods/questions`,
      { q1: 'first_pet', q2: 'birth_city', q3: 'first_school', a1: 'aaa', a2: 'bbb', a3: 'ccc' },
      csrf,
    );
    assert.equal(questions.url, `${T}/account/reauth?next=questions`);
    const account = await c.get(`${T}/account`);
    assert.match(account.text, /data-method="questions"><span>[^<]*<span class="badge">/, 'questions not set up');
    assert.equal(o.mailsTo('thief@example.net', since).length, 0);

    // A wrong password is refused (and counted like a sign-in); the right one opens 10 minutes.
    await c.get(`${T}/account/reauth?next=email`);
    const wrong = await c.post(`${T}/account/reauth`, { password: 'Not-The-Password-1!', next: 'email' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.codes, ['invalid_credentials']);
    const right = await c.post(`${T}/account/reauth`, { password: PASSWORD.ivan, next: 'email' });
    assert.equal(right.url, `${T}/account/methods/email`);
    assert.equal(right.status, 200);
    await register(sys, c, 'email', 'ivan@example.net');
  });

  it('no method changes while a password change is pending (temporary password)', async () => {
    const o = outboxes(sys);
    const c = await signIn(sys, 'gina', PASSWORD.gina);
    assert.ok(c.last?.codes.includes('must_change'));
    const csrf = c.csrf();
    for (const kind of ALL_METHODS)
      assert.equal((await c.get(`${T}/account/methods/${kind}`)).url, `${T}/account`, `GET ${kind}`);
    assert.equal((await c.get(`${T}/account/reauth?next=email`)).url, `${T}/account`);
    const since = Date.now();
    const send = await c.post(`${T}/account/methods/email/send`, { address: 'gina-new@example.net' }, csrf);
    assert.equal(send.url, `${T}/account`);
    assert.ok(send.codes.includes('must_change'));
    const reauth = await c.post(`${T}/account/reauth`, { password: PASSWORD.gina, next: 'email' }, csrf);
    assert.equal(reauth.url, `${T}/account`, 'a re-authentication does not open it either');
    const questions = await c.post(
      `${T}/account/methods/questions`,
      { q1: 'first_pet', q2: 'birth_city', q3: 'first_school', a1: 'aaa', a2: 'bbb', a3: 'ccc' },
      csrf,
    );
    assert.equal(questions.url, `${T}/account`);
    await sleep(100);
    assert.equal(o.mailsTo('gina-new@example.net', since).length, 0);
  });

  it('every address known before is told of a method change, and every address of a reset', async () => {
    const o = outboxes(sys);
    const changed = t('mail.methodSet.subject');
    const c = await signIn(sys, 'hana', PASSWORD.hana);

    // First registered address: the directory's mail is told.
    let since = Date.now();
    await register(sys, c, 'email', 'hana@example.net');
    assert.equal((await o.mail.waitFor('hana@corp.example', { since })).subject, changed);

    // A mobile number: both addresses are told.
    since = Date.now();
    await register(sys, c, 'sms', '+44 7700 900555');
    assert.equal((await o.mail.waitFor('hana@example.net', { since })).subject, changed);
    assert.equal((await o.mail.waitFor('hana@corp.example', { since })).subject, changed);

    // The email address replaced: the replaced one, the directory's mail and the mobile are told.
    since = Date.now();
    await register(sys, c, 'email', 'hana-2@example.net');
    assert.equal((await o.mail.waitFor('hana@example.net', { since })).subject, changed);
    assert.equal((await o.mail.waitFor('hana@corp.example', { since })).subject, changed);
    await waitUntil(() => o.textsTo('+44 7700 900555', since).length === 1);

    // A self-service reset: the registered address AND the directory's mail (before: only the former).
    const f = new Client(sys.url);
    await f.get(`${T}/forgot`);
    await f.post(`${T}/forgot`, { login: 'hana' });
    since = Date.now();
    await f.post(`${T}/forgot/method`, { method: 'email' });
    const code = codeOf((await o.mail.waitFor('hana-2@example.net', { since })).text);
    const verified = await f.post(`${T}/forgot/verify`, { code });
    assert.equal(verified.url, `${T}/forgot/new`);
    const fresh = 'Harbour-Lantern-8812!';
    since = Date.now();
    const done = await f.post(`${T}/forgot/new`, { newPassword: fresh, confirmPassword: fresh });
    assert.deepEqual(done.codes, ['succeeded']);
    const reset = t('mail.reset.subject');
    assert.equal((await o.mail.waitFor('hana-2@example.net', { since })).subject, reset);
    assert.equal((await o.mail.waitFor('hana@corp.example', { since })).subject, reset);
    await waitUntil(() => o.textsTo('+44 7700 900555', since).length === 1);
    assert.equal(o.mailsTo('hana@corp.example', since).length, 1, 'each address once');
  });
});

async function waitUntil(ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}
