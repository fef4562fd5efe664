/**
 * OpenLDAP protected accounts against a real slapd (issue 10, first High finding): members of any
 * configured `protectedGroups` entry are refused for reset, change and unlock with
 * `protected_account`, whatever the group's kind (groupOfNames member, groupOfUniqueNames
 * uniqueMember, posixGroup memberUid); nothing is written (ldapwhoami still takes the old password);
 * reads and sync still work, and sync marks the same users protected. With no protectedGroups
 * (the default) nobody is protected.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { UserRef } from '@writeback/protocol';
import { labPassword, startSlapd, type SlapdUser as LabUser, type SlapdLab } from '@writeback/testkit/lab';
import type { OpenLdapDirectory } from '../src/openldap/index.js';
import { openLab } from './openldap-helpers.js';
import { closeAfterTests, pullAll, upserts } from './sync-helpers.js';

let lab: SlapdLab;
const opened = closeAfterTests<OpenLdapDirectory>(() => lab);
const login = (u: LabUser): UserRef => ({ by: 'login', value: u.uid });
const noOptions = { forceChange: false, unlock: false, enforceHistory: true };
let admins: LabUser;
let operators: LabUser;
let posix: LabUser;
let ordinary: LabUser;
let groups: { names: string; unique: string; posix: string };

async function open(over: Parameters<typeof openLab>[1] = {}): Promise<OpenLdapDirectory> {
  const d = await openLab(lab, over);
  return opened(d);
}

before(async () => {
  lab = await startSlapd({ tls: false });
  admins = await lab.addUser();
  operators = await lab.addUser();
  posix = await lab.addUser();
  ordinary = await lab.addUser();
  groups = {
    names: `cn=ldap-admins,ou=groups,${lab.baseDn}`,
    unique: `cn=ldap-operators,ou=groups,${lab.baseDn}`,
    posix: `cn=wheel,ou=groups,${lab.baseDn}`,
  };
  await lab.ldapadd(
    [
      `dn: ${groups.names}\nobjectClass: groupOfNames\ncn: ldap-admins\nmember: ${admins.dn}\n`,
      `dn: ${groups.unique}\nobjectClass: groupOfUniqueNames\ncn: ldap-operators\nuniqueMember: ${operators.dn}\n`,
      `dn: ${groups.posix}\nobjectClass: posixGroup\ncn: wheel\ngidNumber: 10\nmemberUid: ${posix.uid}\n`,
    ].join('\n'),
  );
});

describe('OpenLDAP protectedGroups', () => {
  test('members of each kind of configured group are refused for reset, change and unlock; nothing is written', async () => {
    const dir = await open({ protectedGroups: [groups.names, groups.unique, groups.posix] });
    for (const u of [admins, operators, posix]) {
      const next = labPassword();
      assert.equal((await dir.resetPassword(login(u), next, noOptions)).outcome, 'protected_account', u.uid);
      assert.equal((await dir.changePassword(login(u), u.password, next)).outcome, 'protected_account', u.uid);
      assert.equal((await dir.unlock(login(u))).outcome, 'protected_account', u.uid);
      assert.equal(await lab.whoami(u.dn, u.password), 0, `${u.uid}: the old password still binds`);
      assert.notEqual(await lab.whoami(u.dn, next), 0, `${u.uid}: the new one does not`);
      // Reads still work.
      assert.equal((await dir.getPolicy(login(u))).outcome, 'succeeded');
      assert.equal((await dir.verifyCredentials(login(u), u.password)).outcome, 'succeeded');
      const found = await dir.findUser(login(u));
      assert.ok(found && found !== 'ambiguous');
      assert.equal(found.protected, true);
    }
    // An ordinary user is still reset.
    const next = labPassword();
    assert.equal((await dir.resetPassword(login(ordinary), next, noOptions)).outcome, 'succeeded');
    assert.equal(await lab.whoami(ordinary.dn, next), 0);
    ordinary.password = next;
  });

  test('only the configured groups count: with none (the default) nobody is protected', async () => {
    const onlyPosix = await open({ protectedGroups: [groups.posix] });
    assert.equal((await onlyPosix.resetPassword(login(posix), labPassword(), noOptions)).outcome, 'protected_account');
    const next = labPassword();
    assert.equal((await onlyPosix.resetPassword(login(admins), next, noOptions)).outcome, 'succeeded');
    assert.equal(await lab.whoami(admins.dn, next), 0);
    admins.password = next;
    const none = await open({ protectedGroups: [] });
    const found = await none.findUser(login(lab.users.dave));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.protected, false);
  });

  test('sync marks the members of the configured groups protected', async () => {
    const dir = await open({ protectedGroups: [groups.names, groups.unique, groups.posix] });
    const run = await pullAll(dir.sync, null, 100);
    const flag = (u: LabUser): boolean | undefined => upserts(run.changes).find((s) => s.login === u.uid)?.protected;
    assert.equal(flag(admins), true);
    assert.equal(flag(operators), true);
    assert.equal(flag(posix), true);
    assert.equal(flag(ordinary), false);
  });
});
