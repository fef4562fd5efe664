/**
 * Issue 12, locked accounts (a real agent over the embedded directory, locked after 3 wrong
 * passwords for 15 minutes):
 * - `account_locked` says when the lockout ends (the directory's lockedUntil), not only "ask an
 *   administrator": My Account's change page of a signed-in user whose account got locked;
 * - a reset without `unlock` of a locked account no longer answers only "The password was reset."
 *   while the user still cannot sign in: the API says `stillLocked: true` (and in its message), the
 *   admin page says so and offers the unlock, which then lets the user in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AdminClient } from './browser/admin-client.js';
import { PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient } from './web-client.js';

const T = '/api/v1/tenants/acme';
const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' } as const;

describe('locked accounts', () => {
  let sys: System;
  const signIn = async (login: string, password: string) =>
    (await sys.api('POST', `${T}/sign-in`, { login, password }, null)).body.outcome;
  /** Three wrong passwords through pass-through sign-in: the directory locks the account. */
  const lock = async (login: string) => {
    for (let i = 0; i < 3; i++) assert.equal(await signIn(login, `Wrong-Guess-${i}-2030!`), 'invalid_credentials');
  };

  before(async () => {
    sys = await startSystem({ rateLimitPerUser: 1_000 });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, admin: { ...ADMIN, role: 'admin' } });
  });
  after(() => sys?.stop());

  test('a signed-in user whose account got locked is told when the lockout ends', async () => {
    const web = new WebClient(sys.url);
    assert.equal((await web.signIn('/t/acme', 'erin', PASSWORDS.erin)).status, 200);
    const lockedAt = Date.now();
    await lock('erin');
    const page = await web.changePassword('/t/acme', PASSWORDS.erin, 'Aspen-Changed-2030!');
    assert.deepEqual(page.codes, ['account_locked']);
    // 15 minutes from the lock (whenText: minutes, UTC), not "ask an administrator".
    const m = /locked until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(page.text);
    assert.ok(m?.[1], 'the page says until when');
    const until = Date.parse(`${m[1].replace(' ', 'T')}:00Z`);
    assert.ok(Math.abs(until - (lockedAt + 900_000)) < 120_000, `${m[1]} is about 15 minutes after the lock`);
  });

  test('API: a reset without unlock of a locked account says it is still locked; with unlock it does not', async () => {
    await lock('bob');
    const r = await sys.api('POST', `${T}/users/bob/password/reset`, {
      newPassword: 'Maple-Reset-2030!',
      forceChange: false,
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.outcome, 'succeeded');
    assert.equal(r.body.stillLocked, true);
    assert.match(String(r.body.message), /still locked/);
    assert.equal(await signIn('bob', 'Maple-Reset-2030!'), 'invalid_credentials', 'the user still cannot sign in');

    const again = await sys.api('POST', `${T}/users/bob/password/reset`, {
      newPassword: 'Maple-Unlocked-2030!',
      forceChange: false,
      unlock: true,
    });
    assert.equal(again.body.outcome, 'succeeded');
    assert.equal(again.body.stillLocked, undefined);
    assert.equal(await signIn('bob', 'Maple-Unlocked-2030!'), 'succeeded');

    // An account that is not locked: no such field either.
    const plain = await sys.api('POST', `${T}/users/alice/password/reset`, {
      newPassword: 'Tulip-Plain-2030!',
      forceChange: false,
    });
    assert.equal(plain.body.outcome, 'succeeded');
    assert.equal(plain.body.stillLocked, undefined);
  });

  test('admin page: the reset result says the account is still locked and its unlock button lets the user in', async () => {
    await lock('alice');
    const admin = new AdminClient(sys.url);
    assert.equal((await admin.signIn('acme', ADMIN.login, ADMIN.password)).status, 303);
    const userPage = await admin.get('/t/acme/admin/users/alice');
    assert.equal(userPage.status, 200);
    const action = /<form method="post" action="([^"]+\/reset)"/.exec(userPage.text)?.[1];
    assert.ok(action);
    // The unlock box left unticked.
    const reset = await admin.post(action, { mode: 'set', newPassword: 'Tulip-Page-Reset-2030!' });
    assert.equal(reset.status, 200);
    assert.match(reset.text, /data-code="succeeded"/);
    assert.match(reset.text, /id="still-locked"/);
    assert.match(reset.text, /still locked/);
    assert.equal(await signIn('alice', 'Tulip-Page-Reset-2030!'), 'invalid_credentials');

    const unlockAction =
      /<div class="card" id="still-locked">[\s\S]*?<form method="post" action="([^"]+\/unlock)"/.exec(reset.text)?.[1];
    assert.ok(unlockAction, 'the result offers the unlock');
    const unlocked = await admin.post(unlockAction);
    assert.equal(unlocked.status, 200);
    assert.match(unlocked.text, /data-code="succeeded"/);
    assert.equal(await signIn('alice', 'Tulip-Page-Reset-2030!'), 'succeeded');
  });
});
