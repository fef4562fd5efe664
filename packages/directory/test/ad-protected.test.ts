/**
 * Privileged accounts are never written, against a real Samba 4.17 AD DC (issue 10, first High
 * finding: protection looked only at adminCount=1, which Samba never sets and Windows sets up to
 * 60 minutes late, so a user just added to Domain Admins was reset and kinit took the new password).
 *
 * The agent decides at write time from the account's tokenGroups (transitive, primary group
 * included), its RID and adminCount; each refusal is proven by kinit with the OLD password still
 * working, each allowed reset by kinit with the new one.
 *
 * One DC for the file; each test makes its own users and groups.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Attribute, Change, type Client } from 'ldapts';
import { createLogger, type OperationResult, type UserRef } from '@writeback/protocol';
import { adDoctorChecks, openAdDirectory, type AdDirectory } from '@writeback/directory';
import { sambaServiceConfig, startSambaDc, type SambaUser as LabUser, type SambaDc } from '@writeback/testkit/lab';
import { closeAfterTests, pullAll, upserts } from './sync-helpers.js';

let dc: SambaDc;
let admin: Client;
let dir: AdDirectory;
const opened = closeAfterTests<AdDirectory>(() => dc);
let seq = 0;
let domainAdmins: string;
let groupsOu: string;

const reset = { forceChange: false, unlock: false, enforceHistory: false };
const byLogin = (u: { login: string }): UserRef => ({ by: 'login', value: u.login });

async function openDir(extra: Record<string, unknown> = {}): Promise<AdDirectory> {
  const d = await openAdDirectory(sambaServiceConfig(dc, extra), {
    log: createLogger({ name: 'ad-protected-test', level: 'error', sink: () => undefined }),
  });
  return opened(d);
}

async function user(): Promise<LabUser> {
  seq++;
  return dc.createUser({ login: `p${process.pid % 1000}x${seq}`, password: `Init-Pass-${seq}!` });
}

async function group(name: string): Promise<string> {
  const dn = `CN=${name}-${process.pid % 1000}-${++seq},${groupsOu}`;
  await admin.add(dn, { objectClass: ['top', 'group'], sAMAccountName: `${name}-${process.pid % 1000}-${seq}` });
  return dn;
}

async function addMember(groupDn: string, memberDn: string): Promise<void> {
  await admin.modify(
    groupDn,
    new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [memberDn] }) }),
  );
}

async function attr(dn: string, name: string): Promise<unknown> {
  const e = (await admin.search(dn, { scope: 'base', attributes: [name] })).searchEntries[0];
  const v = e?.[name];
  return Array.isArray(v) && v.length === 0 ? undefined : v;
}

function assertOutcome(r: OperationResult, outcome: OperationResult['outcome']): void {
  assert.equal(r.outcome, outcome, JSON.stringify(r));
}

async function kinit(login: string, password: string): Promise<number> {
  return (await dc.kinit(`${login}@${dc.realm}`, password)).code;
}

/** Reset, change and unlock are all refused, nothing is written (the old password still gets a ticket), reads still work. */
async function assertFullyProtected(d: AdDirectory, u: LabUser): Promise<void> {
  assertOutcome(await d.resetPassword(byLogin(u), 'Takeover-Pass-1!', reset), 'protected_account');
  assertOutcome(
    await d.resetPassword(byLogin(u), 'Takeover-Pass-2!', { forceChange: true, unlock: true, enforceHistory: true }),
    'protected_account',
  );
  assertOutcome(await d.changePassword(byLogin(u), u.password, 'Takeover-Pass-3!'), 'protected_account');
  assertOutcome(await d.unlock(byLogin(u)), 'protected_account');
  assert.equal(await kinit(u.login, u.password), 0, 'the old password still gets a ticket');
  assert.notEqual(await kinit(u.login, 'Takeover-Pass-1!'), 0, 'the attacker’s password does not');
  const found = await d.findUser(byLogin(u));
  assert.ok(found && found !== 'ambiguous');
  assert.equal(found.protected, true);
  assertOutcome(await d.getPolicy(byLogin(u)), 'succeeded');
  assertOutcome(await d.verifyCredentials(byLogin(u), u.password), 'succeeded');
}

before(async () => {
  dc = await startSambaDc();
  admin = await dc.admin();
  domainAdmins = `CN=Domain Admins,CN=Users,${dc.baseDn}`;
  groupsOu = `OU=ProtGroups,${dc.baseDn}`;
  await admin.add(groupsOu, { objectClass: ['top', 'organizationalUnit'], ou: 'ProtGroups' });
  dir = await openDir();
});

describe('AD protected accounts (issue 10): decided by the agent at write time', () => {
  it('an ordinary user is still reset (kinit takes the new password, not the old one)', async () => {
    const u = await user();
    assertOutcome(await dir.resetPassword(byLogin(u), 'Ordinary-Reset-1!', reset), 'succeeded');
    assert.equal(await kinit(u.login, 'Ordinary-Reset-1!'), 0);
    assert.notEqual(await kinit(u.login, u.password), 0);
    const found = await dir.findUser(byLogin(u));
    assert.ok(found && found !== 'ambiguous');
    assert.equal(found.protected, false);
  });

  it('a user added to Domain Admins a moment ago (no adminCount) is refused for reset, change and unlock', async () => {
    const u = await user();
    await addMember(domainAdmins, u.dn);
    assert.equal(await attr(u.dn, 'adminCount'), undefined, 'Samba sets no adminCount: the old rule let this through');
    await assertFullyProtected(dir, u);
  });

  it('a nested member (user in G, G in Domain Admins) is refused', async () => {
    const u = await user();
    const g = await group('helpdesk-tier0');
    await addMember(g, u.dn);
    await addMember(domainAdmins, g);
    await assertFullyProtected(dir, u);
  });

  it('membership through the primary group only (primaryGroupID=512, not in member) is refused', async () => {
    const u = await user();
    await addMember(domainAdmins, u.dn);
    await admin.modify(
      u.dn,
      new Change({ operation: 'replace', modification: new Attribute({ type: 'primaryGroupID', values: ['512'] }) }),
    );
    // Domain Users is no longer its primary group; dropping the explicit member value leaves only primaryGroupID.
    await admin
      .modify(
        domainAdmins,
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [u.dn] }) }),
      )
      .catch(() => undefined);
    assert.equal(await attr(u.dn, 'primaryGroupID'), '512');
    assertOutcome(await dir.resetPassword(byLogin(u), 'Takeover-Pass-1!', reset), 'protected_account');
    assert.equal(await kinit(u.login, u.password), 0);
  });

  it('members of the built-in operator groups (Backup Operators, Account Operators) are refused', async () => {
    for (const builtin of ['Backup Operators', 'Account Operators']) {
      const u = await user();
      await addMember(`CN=${builtin},CN=Builtin,${dc.baseDn}`, u.dn);
      assertOutcome(await dir.resetPassword(byLogin(u), 'Takeover-Pass-1!', reset), 'protected_account');
      assert.equal(await kinit(u.login, u.password), 0, builtin);
    }
  });

  it('Administrator (RID 500) and krbtgt (RID 502) are refused even without adminCount', async () => {
    for (const name of ['Administrator', 'krbtgt']) {
      const dn = `CN=${name},CN=Users,${dc.baseDn}`;
      if ((await attr(dn, 'adminCount')) !== undefined)
        await admin.modify(
          dn,
          new Change({ operation: 'delete', modification: new Attribute({ type: 'adminCount', values: [] }) }),
        );
      assert.equal(await attr(dn, 'adminCount'), undefined, `${name} without adminCount`);
    }
    // Take Administrator out of every group it can leave: RID 500 alone must protect it.
    for (const g of ['Domain Admins', 'Enterprise Admins', 'Schema Admins', 'Group Policy Creator Owners'])
      await admin
        .modify(
          `CN=${g},CN=Users,${dc.baseDn}`,
          new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [dc.adminDn] }) }),
        )
        .catch(() => undefined);
    await admin
      .modify(
        `CN=Administrators,CN=Builtin,${dc.baseDn}`,
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [dc.adminDn] }) }),
      )
      .catch(() => undefined);
    const administrator = { login: 'Administrator' };
    assertOutcome(await dir.resetPassword(byLogin(administrator), 'Takeover-Pass-1!', reset), 'protected_account');
    assertOutcome(await dir.unlock(byLogin(administrator)), 'protected_account');
    assertOutcome(
      await dir.changePassword(byLogin(administrator), dc.adminPassword, 'Takeover-Pass-2!'),
      'protected_account',
    );
    assert.equal(await kinit('Administrator', dc.adminPassword), 0);
    // krbtgt is disabled too; protection answers first, as for every protected account.
    assertOutcome(
      await dir.resetPassword({ by: 'login', value: 'krbtgt' }, 'Takeover-Pass-1!', reset),
      'protected_account',
    );
    assertOutcome(await dir.unlock({ by: 'login', value: 'krbtgt' }), 'protected_account');
  });

  it('tenant extra groups, by DN (nested members too) and by SID; a DN that does not resolve protects everyone', async () => {
    const tier0 = await group('tier0');
    const inner = await group('tier0-inner');
    await addMember(tier0, inner);
    const direct = await user();
    const nested = await user();
    await addMember(tier0, direct.dn);
    await addMember(inner, nested.dn);
    const outsider = await user();

    // Without configuration they are ordinary users.
    const plain = await openDir();
    assertOutcome(await plain.resetPassword(byLogin(direct), 'Tier0-Plain-1!', reset), 'succeeded');
    direct.password = 'Tier0-Plain-1!';

    const byDn = await openDir({ protectedGroups: [tier0] });
    assertOutcome(await byDn.resetPassword(byLogin(direct), 'Takeover-Pass-1!', reset), 'protected_account');
    assertOutcome(await byDn.resetPassword(byLogin(nested), 'Takeover-Pass-1!', reset), 'protected_account');
    assertOutcome(await byDn.unlock(byLogin(nested)), 'protected_account');
    assert.equal(await kinit(direct.login, direct.password), 0);
    assert.equal(await kinit(nested.login, nested.password), 0);
    assertOutcome(await byDn.resetPassword(byLogin(outsider), 'Outsider-Reset-1!', reset), 'succeeded');
    assert.equal(await kinit(outsider.login, 'Outsider-Reset-1!'), 0);

    const sidEntry = (
      await admin.search(tier0, { scope: 'base', attributes: ['objectSid'], explicitBufferAttributes: ['objectSid'] })
    ).searchEntries[0];
    assert.ok(sidEntry);
    const sidRaw = sidEntry.objectSid;
    assert.ok(Buffer.isBuffer(sidRaw));
    const sid = sidString(sidRaw);
    const bySid = await openDir({ protectedGroups: [sid.toLowerCase()] });
    assertOutcome(await bySid.resetPassword(byLogin(nested), 'Takeover-Pass-1!', reset), 'protected_account');
    assertOutcome(
      await bySid.changePassword(byLogin(direct), direct.password, 'Takeover-Pass-2!'),
      'protected_account',
    );

    const ghost = await openDir({ protectedGroups: [`CN=ghost,${groupsOu}`] });
    assertOutcome(await ghost.resetPassword(byLogin(outsider), 'Ghost-Reset-1!', reset), 'protected_account');
    assert.equal(await kinit(outsider.login, 'Outsider-Reset-1!'), 0);
  });

  it('allowProtected (lab only) lets a Domain Admins member through', async () => {
    const u = await user();
    await addMember(domainAdmins, u.dn);
    const permissive = await openDir({ allowProtected: true });
    assertOutcome(await permissive.resetPassword(byLogin(u), 'Allowed-Reset-1!', reset), 'succeeded');
    assert.equal(await kinit(u.login, 'Allowed-Reset-1!'), 0);
  });

  it('tokenGroups not readable by the service account: access_denied naming the right, nothing written', async () => {
    const u = await user();
    // Deny the service account reading tokenGroups on this one user (schemaIDGUID of tokenGroups).
    const svc = (
      await admin.search(dc.serviceDn, {
        scope: 'base',
        attributes: ['objectSid'],
        explicitBufferAttributes: ['objectSid'],
      })
    ).searchEntries[0]?.objectSid;
    assert.ok(Buffer.isBuffer(svc));
    await dc.sambaTool([
      'dsacl',
      'set',
      `--objectdn=${u.dn}`,
      `--sddl=(OD;;RP;b7c69e6d-2cc7-11d2-854e-00a0c983f608;;${sidString(svc)})`,
    ]);
    // Samba honours the ACE: tokenGroups comes back empty, so membership is unknown.
    const r = await dir.resetPassword(byLogin(u), 'Hidden-Groups-1!', reset);
    assertOutcome(r, 'access_denied');
    assert.match(r.missingRight ?? '', /tokenGroups/);
    assert.equal(await kinit(u.login, u.password), 0);
  });
});

function sidString(b: Buffer): string {
  let s = `S-${b[0]}-${b.readUIntBE(2, 6)}`;
  for (let i = 0; i < (b[1] ?? 0); i++) s += `-${b.readUInt32LE(8 + 4 * i)}`;
  return s;
}

describe('AD protected accounts in the synced copy (what the pages show)', () => {
  it('sync marks the same accounts protected, and a change of a protected group restarts the full sync', async () => {
    const ordinary = await user();
    const direct = await user();
    const nested = await user();
    const g = await group('sync-tier0');
    await addMember(domainAdmins, direct.dn);
    await addMember(g, nested.dn);
    await addMember(`CN=Server Operators,CN=Builtin,${dc.baseDn}`, g);
    const synced = await openDir();
    const full = await pullAll(synced.sync, null, 50);
    const flag = (login: string): boolean | undefined =>
      upserts(full.changes).find((u) => u.login.toLowerCase() === login.toLowerCase())?.protected;
    assert.equal(flag(ordinary.login), false);
    assert.equal(flag(direct.login), true, 'fresh Domain Admins member');
    assert.equal(flag(nested.login), true, 'nested member of Server Operators');
    assert.equal(flag('Administrator'), true, 'RID 500');
    assert.equal(flag(dc.serviceDn.slice(3, dc.serviceDn.indexOf(','))), false, 'the service account');

    // Adding a user to Domain Admins does not change the user's uSNChanged: the next pull says reset.
    assert.equal((await synced.sync.pullChanges(full.cursor, 50)).reset, undefined);
    await addMember(domainAdmins, ordinary.dn);
    assert.equal((await synced.sync.pullChanges(full.cursor, 50)).reset, true);
    const again = await pullAll(synced.sync, null, 50);
    assert.equal(upserts(again.changes).find((u) => u.login === ordinary.login)?.protected, true);
  });
});

describe('AD protected accounts in the doctor', () => {
  it('counts privileged accounts by the same rule, checks tokenGroups is readable, fails on an unknown extra group', async () => {
    const ou = `OU=DoctorProt,${dc.baseDn}`;
    await admin.add(ou, { objectClass: ['top', 'organizationalUnit'], ou: 'DoctorProt' });
    seq++;
    // An ordinary user: the scope is not empty and tokenGroups is checked on it.
    await dc.createUser({ login: `dq${seq}`, password: `Init-Pass-${seq}!`, parentDn: ou });
    const config = sambaServiceConfig(dc, { baseDn: ou });
    const log = createLogger({ name: 'ad-protected-doctor', level: 'error', sink: () => undefined });
    const status = (cs: { id: string; status: string }[], id: string): string | undefined =>
      cs.find((c) => c.id === id)?.status;
    let checks = await adDoctorChecks(config, { log, probeReset: false });
    assert.equal(status(checks, 'protected_accounts'), 'pass');
    assert.equal(status(checks, 'rights.tokenGroups'), 'pass');
    seq++;
    const admin2 = await dc.createUser({ login: `dq${seq}`, password: `Init-Pass-${seq}!`, parentDn: ou });
    await addMember(domainAdmins, admin2.dn);
    checks = await adDoctorChecks(config, { log, probeReset: false });
    assert.equal(status(checks, 'protected_accounts'), 'warn', 'a fresh Domain Admins member (no adminCount)');
    const ghost = `CN=ghost,${groupsOu}`;
    checks = await adDoctorChecks({ ...config, protectedGroups: [ghost] }, { log, probeReset: false });
    assert.equal(status(checks, `protected:${ghost}`), 'fail');
  });
});
