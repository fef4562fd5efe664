/**
 * Issue 10, over HTTP against the whole system (cloud + relay + agent + embedded directory), with
 * the in-memory mailer and SMS provider:
 *
 * - unlimited code sends: a signed-in user sent 25 mails and 25 texts to arbitrary addresses in
 *   0.3 s. Now: per user, per destination and per tenant per day, and a text budget per tenant;
 *   recovery codes only to confirmed addresses, and over the tenant's limit nothing is sent while
 *   the page answers as always.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { updateTenantSettings, type Mailer, type SmsProvider } from '@writeback/cloud';
import type { MemoryMailer, MemorySmsProvider } from '@writeback/cloud/testing';
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

describe('issue 10: code sends are limited per user, destination and tenant per day', () => {
  let sys: System;
  before(async () => {
    sys = await startWithUsers();
  });
  after(async () => {
    await sys?.stop();
  });

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
