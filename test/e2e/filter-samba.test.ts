/**
 * Password filters through the whole system (issue 12): `filter_rejected` was tested through the
 * AD adapter only (packages/directory/test/ad-filter.test.ts). Here a lab Samba AD DC whose
 * `check password script` refuses every password containing "Forbidden" (the part an AD password
 * filter DLL plays on Windows) sits behind the agent process, and the doors a password comes in
 * by are tried: the admin reset (API and admin page) and the user's own change (API and My
 * Account). Each answers policy_violation / filter_rejected with the message docs/outcomes.md gives
 * for that reason, the pages show the reason, and LDAP binds and `kinit` prove nothing was written.
 * A password the filter lets through still goes through the same DC.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Directory } from '@writeback/directory';
import { startSambaDc, type SambaDc, type SambaUser as LabUser } from '@writeback/testkit/lab';
import { AdminClient } from './browser/admin-client.js';
import {
  capturedLogs,
  changeOwnPassword,
  findSecrets,
  labSecrets,
  missingPrograms,
  startSystemWithSamba,
  type System,
} from './harness.js';
import { WebClient } from './web-client.js';

const T = '/t/acme';
const WORD = 'Forbidden';
const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' };
const { secrets, pw } = labSecrets();
secrets.add(ADMIN.password);

/** The message docs/outcomes.md promises for a policy reason: the quoted example of its row. */
function documentedMessage(reason: string): string {
  const doc = readFileSync(new URL('../../docs/outcomes.md', import.meta.url), 'utf8');
  const row = doc.split('\n').find((l) => l.startsWith(`| \`${reason}\` |`));
  assert.ok(row, `docs/outcomes.md has no row for ${reason}`);
  const m = /"([^"]+)"\s*\|\s*$/.exec(row);
  assert.ok(m?.[1], `the row for ${reason} has no quoted message`);
  return m[1];
}

describe('a password filter through the cloud, against Samba AD', {
  skip: missingPrograms(['samba', 'samba-tool', 'kinit']),
}, () => {
  let dc: SambaDc;
  let sys: System<Directory>;
  let stopAll: (() => Promise<void>) | undefined;
  let seq = 0;

  before(async () => {
    ({
      dc,
      sys,
      stop: stopAll,
    } = await startSystemWithSamba(startSambaDc({ passwordFilter: { refuse: WORD } }), secrets));
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...ADMIN, role: 'admin' } });
  });
  after(async () => {
    await stopAll?.();
    assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password appeared in a log line');
  });

  const newUser = () => dc.createUser({ login: `flt${process.pid % 1000}x${++seq}`, password: pw('Init') });
  /** A password meeting length and complexity that the filter refuses (it contains the word). */
  const refusedPassword = (tag: string): string => {
    const p = `${tag}-${WORD}-${seq}-7a!`;
    secrets.add(p);
    return p;
  };
  /** The directory still holds `current` and never took `refused`: LDAP binds and Kerberos agree. */
  async function nothingWritten(u: LabUser, current: string, refused: string): Promise<void> {
    assert.equal((await dc.ldapBind(u.dn, current)).code, 0, 'the current password still binds');
    assert.equal((await dc.ldapBind(u.dn, refused)).code, 49, 'the refused password does not');
    assert.equal((await dc.kinit(`${u.login}@${dc.realm}`, current)).code, 0, 'kinit with the current password');
  }
  const expectFiltered = (r: { status: number; body: Record<string, unknown> }) => {
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'policy_violation');
    assert.deepEqual(r.body.reasons, ['filter_rejected']);
    assert.equal(r.body.message, documentedMessage('filter_rejected'));
  };

  it('admin reset, API and admin page: policy_violation / filter_rejected, nothing written', async () => {
    const u = await newUser();
    const refused = refusedPassword('Admin');
    expectFiltered(
      await sys.api('POST', `/api/v1/tenants/acme/users/${u.login}/password/reset`, {
        newPassword: refused,
        forceChange: false,
      }),
    );
    await nothingWritten(u, u.password, refused);

    const admin = new AdminClient(sys.url);
    assert.equal((await admin.signIn('acme', ADMIN.login, ADMIN.password)).status, 303);
    assert.equal((await admin.get(`${T}/admin/users/${u.login}`)).status, 200);
    const page = await admin.post(`${T}/admin/users/${u.login}/reset`, { mode: 'set', newPassword: refused });
    assert.equal(page.status, 422);
    assert.match(page.text, /data-code="policy_violation"/);
    assert.match(page.text, /data-reason="filter_rejected"/);
    await nothingWritten(u, u.password, refused);

    // The same DC takes a password the filter lets through, by the same door.
    const allowed = pw('Allowed');
    const ok = await sys.api('POST', `/api/v1/tenants/acme/users/${u.login}/password/reset`, {
      newPassword: allowed,
      forceChange: false,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await dc.ldapBind(u.dn, allowed)).code, 0);
  });

  it("the user's own change, API and My Account: policy_violation / filter_rejected, nothing written", async () => {
    const u = await newUser();
    const refused = refusedPassword('Self');
    expectFiltered(await changeOwnPassword(sys, u.login, u.password, refused));
    await nothingWritten(u, u.password, refused);

    const c = new WebClient(sys.url);
    assert.equal((await c.signIn(T, u.login, u.password)).url, `${T}/account`);
    const page = await c.changePassword(T, u.password, refused);
    assert.equal(page.status, 422);
    assert.deepEqual(page.codes, ['policy_violation']);
    assert.match(page.text, /data-reason="filter_rejected"/);
    await nothingWritten(u, u.password, refused);
    assert.deepEqual(findSecrets(c.visited, secrets), [], 'no password in a URL');

    const allowed = pw('Changed');
    const ok = await changeOwnPassword(sys, u.login, u.password, allowed);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await dc.ldapBind(u.dn, allowed)).code, 0);
  });
});
