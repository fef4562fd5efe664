/**
 * Password filters for real (issue 12): `filter_rejected` was only unit-tested. Samba's
 * `check password script` (the lab's passwordFilter option: a script refusing every password that
 * contains "Forbidden") plays the part of an AD password filter DLL: the DC refuses with the same
 * 52D as for complexity, after the adapter's own pre-checks (length, complexity, history) passed.
 * The adapter must answer policy_violation / filter_rejected, nothing written, for resets and
 * changes; an ordinary password still goes through the same DC.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '@writeback/protocol';
import { openAdDirectory, type AdDirectory } from '@writeback/directory';
import { sambaServiceConfig, startSambaDc, type SambaDc } from '@writeback/testkit/lab';

let dc: SambaDc;
let dir: AdDirectory;
const lines: string[] = [];
const secrets: string[] = [];
const reset = { forceChange: false, unlock: false, enforceHistory: true };

before(async () => {
  dc = await startSambaDc({ passwordFilter: { refuse: 'Forbidden' } });
  dir = await openAdDirectory(sambaServiceConfig(dc), {
    log: createLogger({ name: 'ad-filter-test', level: 'debug', sink: (l) => lines.push(l) }),
  });
});

after(async () => {
  await dir?.close();
  await dc?.stop();
  for (const s of secrets) for (const l of lines) assert.ok(!l.includes(s), 'a password reached the log');
});

async function user(login: string) {
  const password = `Init-${login}-Pass-1!`;
  secrets.push(password);
  return dc.createUser({ login, password });
}

test('a reset the password filter refuses: policy_violation / filter_rejected, nothing written', async () => {
  const u = await user('filtered1');
  const refused = 'My-Forbidden-Pass-7';
  secrets.push(refused);
  const r = await dir.resetPassword({ by: 'login', value: u.login }, refused, reset);
  assert.equal(r.outcome, 'policy_violation', JSON.stringify(r));
  assert.deepEqual(r.reasons, ['filter_rejected']);
  assert.equal((await dc.ldapBind(u.dn, refused)).code, 49);
  assert.equal((await dc.ldapBind(u.dn, u.password)).code, 0);
  // The same DC takes a password the filter lets through.
  const fine = 'My-Allowed-Pass-7';
  secrets.push(fine);
  assert.equal((await dir.resetPassword({ by: 'login', value: u.login }, fine, reset)).outcome, 'succeeded');
  assert.equal((await dc.ldapBind(u.dn, fine)).code, 0);
});

test('a change the password filter refuses: policy_violation / filter_rejected, the old password still works', async () => {
  const u = await user('filtered2');
  const refused = 'forbidden-But-Long-9';
  secrets.push(refused);
  const r = await dir.changePassword({ by: 'login', value: u.login }, u.password, refused);
  assert.equal(r.outcome, 'policy_violation', JSON.stringify(r));
  assert.deepEqual(r.reasons, ['filter_rejected']);
  assert.equal((await dc.ldapBind(u.dn, u.password)).code, 0);
  // A complexity failure is still told apart from the filter (the pre-check names it).
  const simple = 'alllowercaseforbidden';
  secrets.push(simple);
  const c = await dir.changePassword({ by: 'login', value: u.login }, u.password, simple);
  assert.equal(c.outcome, 'policy_violation');
  assert.deepEqual(c.reasons, ['complexity']);
});
