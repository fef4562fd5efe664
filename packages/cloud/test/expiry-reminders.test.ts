/**
 * Password-expiry reminders (issue 12, usecases/expiry-reminders.ts) through a cloud with a hand-
 * moved clock:
 * - with a real agent and embedded directory (maximum age 42 days, a "never" policy for one user):
 *   the tenant setting through the API (0 = off by default, 91 refused), the report before the
 *   maximum ages are known (every user `max_age_unknown`, a must-change user `no_password_set`),
 *   learning them from the directory, no reminder while nothing expires within the window, then one
 *   mail per expiring user with the change link and the expiry time (said once, with its zone), no
 *   second one on later runs, none to a user without an address (counted), and a NEW one when the
 *   password was changed (a new expiry date);
 * - the job on its timer: a mail arrives without anyone calling it;
 * - several cloud nodes on one store (SQLite file, PostgreSQL schema): four runs at once through
 *   two nodes send each expiring user exactly one mail.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HASH_COST, openEmbeddedDirectory, type EmbeddedDirectory } from '@writeback/directory';
import type { SyncedUser } from '@writeback/protocol';
import {
  fetchJson,
  newMasterKey,
  registerTestAgent,
  startTestAgent,
  tempStore,
  type StartedCloud,
  type TempStore,
} from '@writeback/testkit';
import { whenText } from '../src/i18n/time.js';
import type { MemoryMailer } from '../src/mail/memory.js';
import { passwordExpiryRepository } from '../src/store/password-expiry.js';
import { updateTenantSettings } from '../src/tenants/settings.js';
import { upsertSyncedUsers } from '../src/users/directory-users.js';
import { Clock, ENGINES, startCloud } from './helpers.js';

const DAY = 86_400_000;
const PASSWORD = 'Quartz-Initial-2030!';

async function patchSettings(s: StartedCloud, key: string, body: unknown): Promise<number> {
  const res = await fetch(`${s.cloud.url}/api/v1/tenants/acme/settings`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

type ReportRow = { login: string; reminded?: boolean; reason?: string; expiresAt?: string };
const rows = (v: unknown): ReportRow[] => (Array.isArray(v) ? (v as ReportRow[]) : []);

describe('expiry reminders with an agent and an embedded directory', () => {
  const clock = new Clock(Date.now());
  const dirClock = new Clock(Date.now());
  let s: StartedCloud;
  let dir: string;
  let directory: EmbeddedDirectory;
  let key = '';
  let tenantId = '';
  let stopAgent: () => Promise<void> = async () => {};
  const mailer = () => s.cloud.mailer as MemoryMailer;
  const report = async (days?: number) =>
    fetchJson(`${s.cloud.url}/api/v1/tenants/acme/password-expiry${days ? `?days=${days}` : ''}`, key);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-expiry-'));
    s = await startCloud({ deps: { now: clock.now } });
    const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true, agentToken: true });
    key = boot.apiKey ?? '';
    tenantId = boot.tenant?.id ?? '';
    // The directory's own clock (password set times), moved by hand for the changed-password test.
    const config = {
      kind: 'embedded' as const,
      path: join(dir, 'directory'),
      hash: { ...HASH_COST.fast },
      policy: {
        minLength: 10,
        complexity: true,
        historyLength: 0,
        minAgeSeconds: 0,
        maxAgeSeconds: 42 * 86_400,
        lockoutThreshold: 5,
        lockoutDurationSeconds: 900,
      },
    };
    directory = await openEmbeddedDirectory(config, { now: dirClock.now });
    await directory.definePolicy('never', { maxAgeSeconds: 0 });
    for (const u of [
      { login: 'alice', displayName: 'Alice', mail: 'alice@example.test', password: PASSWORD },
      { login: 'bob', mail: 'bob@example.test', password: PASSWORD },
      { login: 'neo', password: PASSWORD },
      { login: 'gina', mail: 'gina@example.test', password: PASSWORD, mustChange: true },
      { login: 'nora', mail: 'nora@example.test', password: PASSWORD, policyName: 'never' },
    ])
      await directory.createUser(u);
    const state = await registerTestAgent({
      cloud: s.cloud,
      token: boot.agentToken?.token ?? '',
      statePath: join(dir, 'agent.json'),
      directory: config,
    });
    const agent = await startTestAgent({ state, directory });
    stopAgent = () => agent.stop();
    // The clock stands still: set it to the agent's time before anything goes through the agent (deadlines).
    clock.set(Date.now());
    await s.cloud.sync.runOnce(tenantId, { full: true });
  });

  after(async () => {
    await stopAgent();
    await directory?.close();
    await s?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the setting is off by default, goes through the API, and is bounded', async () => {
    const get = await fetchJson(`${s.cloud.url}/api/v1/tenants/acme/settings`, key);
    assert.deepEqual(get.body.expiry, { remindDays: 0 });
    assert.equal(await patchSettings(s, key, { expiry: { remindDays: 91 } }), 400);
    assert.equal(await patchSettings(s, key, { expiry: { remindDays: -1 } }), 400);
    assert.equal(await patchSettings(s, key, { expiry: { remindDays: 14 } }), 200);
  });

  test('before the maximum ages are known, the report says why for every user', async () => {
    const r = await report();
    assert.equal(r.status, 200);
    assert.equal(r.body.days, 14, 'the window is the tenant setting');
    const unknown = rows(r.body.unknown);
    assert.equal(unknown.find((u) => u.login === 'gina')?.reason, 'no_password_set');
    for (const login of ['alice', 'bob', 'neo', 'nora'])
      assert.equal(unknown.find((u) => u.login === login)?.reason, 'max_age_unknown', login);
    assert.equal(rows(r.body.expiring).length, 0);
  });

  test('a run learns the maximum ages; nothing expires within 14 days yet, so no mail', async () => {
    clock.set(Date.now());
    const sum = await s.cloud.expiryReminders.runOnce();
    assert.equal(sum.learnt, 4, 'alice, bob, neo, nora (gina has no password set)');
    assert.equal(sum.sent, 0);
    const ages = await passwordExpiryRepository(s.cloud.store).maxAges(tenantId);
    assert.equal([...ages.values()].filter((a) => a.maxAgeSeconds === 42 * 86_400).length, 3);
    assert.equal([...ages.values()].filter((a) => a.maxAgeSeconds === 0).length, 1, 'nora never expires');
    const r = await report();
    assert.deepEqual(
      rows(r.body.unknown).map((u) => u.login),
      ['gina'],
    );
    assert.equal(r.body.neverExpires, 1);
    assert.equal(mailer().messages.length, 0);
  });

  test('ten days before expiry: one reminder each, with the link and the time once with its zone', async () => {
    const learnt = await passwordExpiryRepository(s.cloud.store).maxAges(tenantId);
    clock.advance(32 * DAY);
    const since = clock.now();
    const sum = await s.cloud.expiryReminders.runOnce();
    assert.equal(sum.sent, 2, 'alice and bob');
    assert.equal(sum.noAddress, 1, 'neo has no mail address');
    // The weekly re-read is due, but the agent refuses requests stamped 32 days ahead of its own
    // clock: nothing new is learnt, the earlier values stand, and expiry comes from the cloud copy.
    assert.equal(sum.learnt, 0);
    assert.deepEqual(await passwordExpiryRepository(s.cloud.store).maxAges(tenantId), learnt);
    const mail = await mailer().waitFor('alice@example.test', { since });
    assert.match(mail.text, /\/t\/acme\/account\b/);
    const r = await report();
    const alice = rows(r.body.expiring).find((u) => u.login === 'alice');
    assert.equal(alice?.reminded, true);
    const at = whenText(Date.parse(alice?.expiresAt ?? ''));
    assert.ok(mail.text.includes(at) && mail.subject.includes(at));
    assert.equal(mail.text.split('UTC').length - 1, 1, 'the time is said once, with its zone');
    assert.equal(rows(r.body.expiring).find((u) => u.login === 'neo')?.reminded, false);
    assert.equal(
      rows(r.body.expiring).find((u) => u.login === 'nora'),
      undefined,
      'a password that never expires is not listed',
    );

    // Later runs, the next day too: no second reminder for the same expiry date.
    clock.advance(DAY);
    const again = await s.cloud.expiryReminders.runOnce();
    assert.equal(again.sent, 0);
    assert.equal(mailer().messages.filter((m) => m.to === 'alice@example.test').length, 1);
    assert.equal(mailer().messages.filter((m) => m.to === 'bob@example.test').length, 1);
  });

  test('a changed password is a new expiry date: a new reminder when it comes near', async () => {
    // Three days after the first passwords, by the directory's clock, bob's password is set again:
    // it expires 45 days after the first ones, 12 days ahead of the cloud's clock (33 days on).
    const before = await report();
    const old = rows(before.body.expiring).find((u) => u.login === 'bob')?.expiresAt;
    dirClock.advance(3 * DAY);
    const reset = await directory.resetPassword({ by: 'login', value: 'bob' }, 'Garnet-Second-2030!', {
      forceChange: false,
      unlock: false,
      enforceHistory: false,
    });
    assert.equal(reset.outcome, 'succeeded');
    // The sync goes through the agent: at its time, then back to the cloud's 33 days ahead.
    const ahead = clock.now();
    clock.set(Date.now());
    await s.cloud.sync.runOnce(tenantId, { full: true });
    clock.set(ahead);
    const now = await report();
    const bob = rows(now.body.expiring).find((u) => u.login === 'bob');
    assert.ok(bob && bob.expiresAt !== old, 'a new expiry date');
    assert.equal(bob.reminded, false);
    const sum = await s.cloud.expiryReminders.runOnce();
    assert.equal(sum.sent, 1);
    assert.equal(mailer().messages.filter((m) => m.to === 'bob@example.test').length, 2);
  });
});

/** Synced users whose passwords were set `ageDays` ago, with a learnt maximum age of 42 days. */
async function seedExpiring(s: StartedCloud, tenantId: string, logins: string[], ageDays: number): Promise<void> {
  const now = Date.now();
  const users: SyncedUser[] = logins.map((login) => ({
    anchor: `anchor-${login}`,
    login,
    mail: `${login}@example.test`,
    enabled: true,
    locked: false,
    mustChange: false,
    protected: false,
    passwordLastSetAt: new Date(now - ageDays * DAY).toISOString(),
  }));
  await upsertSyncedUsers(s.cloud.store, tenantId, users, now);
  const ids = await s.cloud.store.query('SELECT id FROM directory_users WHERE tenant_id = ?', [tenantId]);
  const repo = passwordExpiryRepository(s.cloud.store);
  for (const r of ids) await repo.putMaxAge(tenantId, String(r.id), 42 * 86_400, now);
  await updateTenantSettings(s.cloud.store, tenantId, { expiry: { remindDays: 14 } }, now);
}

describe('expiry reminders on their timer', () => {
  let s: StartedCloud;
  after(() => s?.stop());

  test('the job runs by itself and mails the expiring user', async () => {
    s = await startCloud({ deps: { expiryReminderIntervalMs: 100 } });
    const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' } });
    await seedExpiring(s, boot.tenant?.id ?? '', ['tara'], 35);
    const mail = await (s.cloud.mailer as MemoryMailer).waitFor('tara@example.test', { timeoutMs: 10_000 });
    assert.match(mail.subject, /UTC/);
  });
});

for (const engine of ENGINES) {
  describe(`expiry reminders from two cloud nodes on ${engine}`, () => {
    let store: TempStore;
    let a: StartedCloud;
    let b: StartedCloud;
    before(async () => {
      store = tempStore(engine);
      const masterKey = newMasterKey();
      a = await startCloud({ config: { ...store.config, masterKey } });
      b = await startCloud({ config: { ...store.config, masterKey } });
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
      await store.drop();
    });

    test('four runs at once through two nodes send each expiring user one mail', async () => {
      const boot = await a.cloud.bootstrap({ tenant: { slug: 'acme' } });
      const logins = Array.from({ length: 12 }, (_, i) => `user${i}`);
      await seedExpiring(a, boot.tenant?.id ?? '', logins, 35);
      const sums = await Promise.all([
        a.cloud.expiryReminders.runOnce(),
        b.cloud.expiryReminders.runOnce(),
        a.cloud.expiryReminders.runOnce(),
        b.cloud.expiryReminders.runOnce(),
      ]);
      assert.equal(
        sums.reduce((n, x) => n + x.sent, 0),
        logins.length,
      );
      const all = [...(a.cloud.mailer as MemoryMailer).messages, ...(b.cloud.mailer as MemoryMailer).messages];
      for (const login of logins) assert.equal(all.filter((m) => m.to === `${login}@example.test`).length, 1, login);
    });
  });
}
