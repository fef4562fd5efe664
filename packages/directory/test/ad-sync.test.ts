/**
 * The AD adapter's sync source against a real Samba AD DC: a full sync of a few hundred users in
 * several bounded batches, then creates, modifies, renames, moves in and out of scope, disables
 * and deletions, each seen after ONE incremental pull; cursors replayed, resumed after a "crash",
 * refused on another DC; scope by subtree, filter and nested group, for pulls and for writes.
 *
 * One DC for the file; the tests run in order (each builds on the directory the previous left).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Attribute, Change, type Client } from 'ldapts';
import { createLogger, SyncPullDataSchema } from '@writeback/protocol';
import {
  adDoctorChecks,
  openAdDirectory,
  resolveAdConfig,
  type AdDirectory,
  type DoctorCheck,
} from '@writeback/directory';
import { closeAfterTests, deletes, hostileScopeFilters, pullAll, type Run, upserts } from './sync-helpers.js';
import {
  addOus,
  bulkAddUsers,
  grantDeletedObjectsRead,
  sambaServiceConfig,
  startSambaDc,
  type SambaDc,
} from '@writeback/testkit/lab';

const BULK = 300;
let dc: SambaDc;
let admin: Client;
let dir: AdDirectory;
let ou: { sync: string; sub: string; elsewhere: string; groups: string };
const opened = closeAfterTests<AdDirectory>(() => dc);
const pad = (i: number): string => String(i).padStart(3, '0');

async function openDir(extra: Record<string, unknown> = {}): Promise<AdDirectory> {
  const d = await openAdDirectory(sambaServiceConfig(dc, extra), {
    log: createLogger({ name: 'ad-sync-test', level: 'warn', sink: () => undefined }),
  });
  return opened(d);
}

let full: Run;
let deletionsBefore: DoctorCheck | undefined;

async function deletionsCheck(): Promise<DoctorCheck | undefined> {
  const checks = await adDoctorChecks(sambaServiceConfig(dc), {
    probeReset: false,
    log: createLogger({ name: 'ad-sync-doctor', level: 'error', sink: () => undefined }),
  });
  return checks.find((c) => c.id === 'sync_deletions');
}
const anchorOf = new Map<string, string>();
let incCursor: string;

before(async () => {
  dc = await startSambaDc();
  admin = await dc.admin();
  ou = {
    sync: `OU=Sync,${dc.baseDn}`,
    sub: `OU=Sub,OU=Sync,${dc.baseDn}`,
    elsewhere: `OU=Elsewhere,${dc.baseDn}`,
    groups: `OU=Groups,${dc.baseDn}`,
  };
  await addOus(dc, [ou.sync, ou.sub, ou.elsewhere, ou.groups]);
  deletionsBefore = await deletionsCheck();
  await grantDeletedObjectsRead(dc);
  await bulkAddUsers(
    dc,
    Array.from({ length: BULK }, (_, k) => {
      const i = k + 1;
      return {
        cn: `s${pad(i)}`,
        login: `s${pad(i)}`,
        parentDn: ou.sync,
        mail: `s${pad(i)}@example.test`,
        displayName: `Sync User ${i}`,
        mobile: `+4170000${pad(i)}`,
        department: i % 2 === 0 ? 'Sales' : 'Ops',
      };
    }),
  );
  // Enabled users (password set over LDAPS) to disable and delete later, and one outside scope.
  await dc.createUser({ login: 'en1', password: 'En1-Init-Pass!', parentDn: ou.sync });
  await dc.createUser({ login: 'del1', password: 'Del1-Init-Pass!', parentDn: ou.sync });
  await dc.createUser({ login: 'out1', password: 'Out1-Init-Pass!', parentDn: ou.elsewhere });
  // Nested groups: G-outer ∋ G-inner ∋ s011..s020.
  const members = Array.from({ length: 10 }, (_, k) => `CN=s${pad(k + 11)},${ou.sync}`);
  await admin.add(`CN=G-inner,${ou.groups}`, {
    objectClass: ['top', 'group'],
    sAMAccountName: 'G-inner',
    member: members,
  });
  await admin.add(`CN=G-outer,${ou.groups}`, {
    objectClass: ['top', 'group'],
    sAMAccountName: 'G-outer',
    member: [`CN=G-inner,${ou.groups}`],
  });
  dir = await openDir({ scope: { baseDns: [ou.sync] } });
});

describe('AD sync: full sync', () => {
  it('pages every user in scope in bounded batches, once each, with the total', async () => {
    full = await pullAll(dir.sync, null, 50);
    const users = upserts(full.changes);
    assert.equal(deletes(full.changes).length, 0);
    assert.equal(users.length, BULK + 2);
    assert.equal(new Set(users.map((u) => u.anchor)).size, users.length, 'no duplicates');
    assert.ok(full.batches >= 7, `several batches (${full.batches})`);
    assert.ok(full.totals.every((t) => t === BULK + 2));
    assert.ok(!users.some((u) => u.login === 'out1'), 'users outside the subtree are not synced');
    for (const u of users) anchorOf.set(u.login, u.anchor);
    incCursor = full.cursor;
    assert.match(incCursor, /^usn:[0-9a-f]+:i:/);

    const s002 = users.find((u) => u.login === 's002');
    assert.deepEqual(
      { ...s002, passwordLastSetAt: null },
      {
        anchor: anchorOf.get('s002'),
        login: 's002',
        dn: `CN=s002,${ou.sync}`,
        userPrincipalName: 's002@example.test',
        mail: 's002@example.test',
        displayName: 'Sync User 2',
        mobile: '+4170000002',
        enabled: false,
        locked: false,
        mustChange: true,
        protected: false,
        passwordLastSetAt: null,
      },
    );
    const en1 = users.find((u) => u.login === 'en1');
    assert.equal(en1?.enabled, true);
    assert.equal(en1?.mustChange, false);
    assert.ok(en1?.passwordLastSetAt && Math.abs(Date.parse(en1.passwordLastSetAt) - Date.now()) < 3_600_000);
    // Anchors are the adapter's own GUID strings: the same user can be written by anchor.
    const found = await dir.findUser({ by: 'anchor', value: anchorOf.get('en1') ?? '' });
    assert.ok(found && found !== 'ambiguous' && found.login === 'en1');
    const s012 = users.find((u) => u.login === 's012');
    assert.deepEqual(s012?.groups, [`CN=G-inner,${ou.groups}`]);
  });

  it('resumes after a crash from the last cursor: the union is every user', async () => {
    const first = await openDir({ scope: { baseDns: [ou.sync] } });
    const part = await pullAll(first.sync, null, 40, 3);
    assert.equal(part.batches, 3);
    await first.close();
    const second = await openDir({ scope: { baseDns: [ou.sync] } });
    const rest = await pullAll(second.sync, part.cursor, 40);
    const anchors = new Set(upserts([...part.changes, ...rest.changes]).map((u) => u.anchor));
    assert.deepEqual([...anchors].sort(), [...anchorOf.values()].sort());
  });
});

describe('AD sync: incremental', () => {
  it('sees create, modify, rename, move in scope, move out of scope, disable and delete after one pull', async () => {
    const created = await dc.createUser({ login: 'new1', password: 'New1-Init-Pass!', parentDn: ou.sync });
    await admin.modify(
      `CN=s002,${ou.sync}`,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'mail', values: ['changed@example.test'] }),
      }),
    );
    await admin.modifyDN(`CN=s003,${ou.sync}`, `CN=s003-renamed,${ou.sync}`);
    await admin.modifyDN(`CN=s004,${ou.sync}`, `CN=s004,${ou.sub}`);
    await admin.modifyDN(`CN=s005,${ou.sync}`, `CN=s005,${ou.elsewhere}`);
    await admin.modify(
      `CN=en1,${ou.sync}`,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'userAccountControl', values: ['514'] }),
      }),
    );
    await admin.del(`CN=del1,${ou.sync}`);
    // Outside scope: not synced, not deleted.
    await admin.modify(
      `CN=out1,${ou.elsewhere}`,
      new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: ['o@example.test'] }) }),
    );

    const data = await dir.sync.pullChanges(incCursor, 500);
    SyncPullDataSchema.parse(data);
    assert.equal(data.more, false);
    assert.equal(data.total, undefined);
    const up = new Map(upserts(data.changes).map((u) => [u.login, u]));
    const del = new Set(deletes(data.changes));

    assert.equal(up.get('new1')?.anchor, created.guid);
    assert.equal(up.get('new1')?.enabled, true);
    assert.equal(up.get('s002')?.mail, 'changed@example.test');
    assert.equal(up.get('s003')?.anchor, anchorOf.get('s003'));
    assert.equal(up.get('s003')?.dn, `CN=s003-renamed,${ou.sync}`);
    assert.equal(up.get('s004')?.dn, `CN=s004,${ou.sub}`);
    assert.ok(del.has(anchorOf.get('s005') ?? ''), 'moved out of scope → delete');
    assert.ok(!up.has('s005'));
    assert.equal(up.get('en1')?.enabled, false);
    assert.ok(del.has(anchorOf.get('del1') ?? ''), 'tombstone → delete');
    assert.ok(!up.has('out1'));
    assert.ok(!up.has('s006'), 'unchanged users are not sent again');

    // Replaying the same cursor gives the same batch; the next cursor has nothing new.
    const again = await dir.sync.pullChanges(incCursor, 500);
    assert.deepEqual(again, data);
    const next = await dir.sync.pullChanges(data.cursor, 500);
    assert.deepEqual(next.changes, []);
    assert.equal(next.more, false);
    incCursor = data.cursor;
  });

  it('a group membership change reaches the next incremental pull: added, then removed (issue 12)', async () => {
    // Membership changes bump the group's uSNChanged, not the user's (memberOf is a back link).
    await dc.sambaTool(['group', 'add', 'sync-members-1']);
    const groupDn = `CN=sync-members-1,CN=Users,${dc.baseDn}`;
    const quiet = await dir.sync.pullChanges(incCursor, 500);
    assert.deepEqual(upserts(quiet.changes), [], 'a new, empty group re-emits nobody');
    await dc.sambaTool(['group', 'addmembers', 'sync-members-1', 's010,s011']);
    const added = await dir.sync.pullChanges(quiet.cursor, 500);
    SyncPullDataSchema.parse(added);
    const up = new Map(upserts(added.changes).map((u) => [u.login, u]));
    assert.ok(up.get('s010')?.groups?.includes(groupDn), JSON.stringify(up.get('s010')));
    assert.ok(up.get('s011')?.groups?.includes(groupDn));
    assert.ok(!up.has('s012'), 'users whose membership did not change are not sent');

    await dc.sambaTool(['group', 'removemembers', 'sync-members-1', 's011']);
    const removed = await dir.sync.pullChanges(added.cursor, 500);
    const after = new Map(upserts(removed.changes).map((u) => [u.login, u]));
    assert.ok(after.get('s010')?.groups?.includes(groupDn), 'the group changed: its current members are sent again');
    // The removed member is found from the group's deactivated links (LDAP_SERVER_SHOW_DEACTIVATED_LINK),
    // which Samba 4.17 does not support over LDAP: here s011 is not re-sent (a known gap, issue 12).
    // Where it is sent, it is without the group.
    assert.ok(!(after.get('s011')?.groups ?? []).includes(groupDn), JSON.stringify(after.get('s011')));
    const next = await dir.sync.pullChanges(removed.cursor, 500);
    assert.deepEqual(next.changes, []);
    incCursor = removed.cursor;
  });

  it('pages a burst of changes in bounded batches', async () => {
    for (let i = 100; i < 160; i++) {
      await admin.modify(
        `CN=s${pad(i)},${ou.sync}`,
        new Change({ operation: 'replace', modification: new Attribute({ type: 'mobile', values: [`+4179${i}`] }) }),
      );
    }
    const run = await pullAll(dir.sync, incCursor, 25);
    assert.equal(run.batches, 3);
    const users = upserts(run.changes);
    assert.equal(users.length, 60);
    assert.equal(new Set(users.map((u) => u.anchor)).size, 60);
    assert.ok(users.every((u) => u.mobile?.startsWith('+4179')));
    incCursor = run.cursor;
  });

  it('answers reset for a cursor of another DC or one it did not make', async () => {
    const other = incCursor.replace(/^usn:[0-9a-f]+:/, `usn:${'ab'.repeat(16)}:`);
    assert.notEqual(other, incCursor);
    for (const c of [other, 'usn:zz', 'seq:12', `${incCursor}:9`]) {
      const r = await dir.sync.pullChanges(c, 100);
      assert.equal(r.reset, true, c);
      assert.deepEqual(r.changes, []);
    }
  });

  it('doctor says whether the service account can see deletions', async () => {
    assert.equal(deletionsBefore?.status, 'warn');
    assert.equal((await deletionsCheck())?.status, 'pass');
  });

  it('lists every anchor in scope, page by page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await dir.sync.listAnchors(cursor, 100);
      assert.ok(page.anchors.length <= 100);
      seen.push(...page.anchors);
      cursor = page.cursor;
      pages++;
    } while (cursor !== null);
    assert.ok(pages >= 3);
    const expected = new Set(anchorOf.values());
    expected.delete(anchorOf.get('s005') ?? '');
    expected.delete(anchorOf.get('del1') ?? '');
    const d = await dir.findUser({ by: 'login', value: 'new1' });
    assert.ok(d && d !== 'ambiguous');
    expected.add(d.anchor);
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual([...seen].sort(), [...expected].sort());
  });
});

describe('AD sync: scope by filter and nested group', () => {
  let scoped: AdDirectory;
  let scopedCursor: string;

  it('syncs only users matching the filter and (transitively) in the group', async () => {
    scoped = await openDir({
      scope: { baseDns: [ou.sync], filter: '(department=Sales)', group: `CN=G-outer,${ou.groups}` },
    });
    const run = await pullAll(scoped.sync, null, 100);
    const logins = upserts(run.changes)
      .map((u) => u.login)
      .sort();
    assert.deepEqual(logins, ['s012', 's014', 's016', 's018', 's020']);
    assert.deepEqual(run.totals, [5]);
    scopedCursor = run.cursor;
  });

  it('answers user_not_found for writes to users outside scope, as for unknown users', async () => {
    const opts = { forceChange: false, unlock: false, enforceHistory: false };
    // s013: in the group, not Sales. s030: Sales, not in the group. out1: outside the subtree.
    for (const login of ['s013', 's030', 'out1']) {
      const r = await scoped.resetPassword({ by: 'login', value: login }, 'Never-Written-1!', opts);
      assert.equal(r.outcome, 'user_not_found', login);
      assert.equal(
        (await scoped.unlock({ by: 'anchor', value: anchorOf.get(login) ?? '00000000-0000-0000-0000-000000000000' }))
          .outcome,
        'user_not_found',
        login,
      );
      assert.equal(await scoped.findUser({ by: 'login', value: login }), null);
    }
    // In scope: the adapter gets past the lookup (s012 was imported disabled).
    assert.equal(
      (await scoped.resetPassword({ by: 'login', value: 's012' }, 'Never-Written-1!', opts)).outcome,
      'account_disabled',
    );
    const r = await dir.resetPassword({ by: 'login', value: 'new1' }, 'Fresh-Reset-9x!', opts);
    assert.equal(r.outcome, 'succeeded');
  });

  it('answers reset when the scoping group changes (membership is not on the users’ USNs)', async () => {
    assert.equal((await scoped.sync.pullChanges(scopedCursor, 100)).reset, undefined);
    await admin.modify(
      `CN=G-inner,${ou.groups}`,
      new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [`CN=s022,${ou.sync}`] }) }),
    );
    const r = await scoped.sync.pullChanges(scopedCursor, 100);
    assert.equal(r.reset, true);
    const again = await pullAll(scoped.sync, null, 100);
    assert.ok(upserts(again.changes).some((u) => u.login === 's022'));
  });

  it('refuses hostile or misplaced scope options at config parse, naming the option', () => {
    const base = { kind: 'ad', urls: [dc.url], bindDn: dc.serviceDn, bindPassword: 'x', baseDn: dc.baseDn };
    const cases: [Record<string, unknown>, string][] = [
      ...hostileScopeFilters('cn=*').map((filter): [Record<string, unknown>, string] => [
        { filter },
        'ad.scope.filter',
      ]),
      [{ baseDns: ['OU=Other,DC=elsewhere,DC=test'] }, 'ad.scope.baseDns.0'],
      [{ baseDns: [ou.sync, ou.sub] }, 'ad.scope.baseDns.1'],
      [{ group: 'not a dn' }, 'ad.scope.group'],
      [{ unknown: 1 }, 'ad.scope'],
    ];
    for (const [scope, option] of cases) {
      assert.throws(
        () => resolveAdConfig({ ...base, scope }),
        (err: unknown) => err instanceof TypeError && err.message.startsWith(option),
        JSON.stringify(scope),
      );
    }
  });
});
