/**
 * The OpenLDAP adapter's sync source against a real slapd: a full sync of a few hundred users in
 * several bounded batches, then creates, modifies, renames, moves in and out of scope and disables,
 * each seen after ONE incremental pull; deletions are NOT seen by pulls (no tombstones) and are
 * found by the anchors pass; a user written again between a bounded window's two reads is not
 * reported as having left scope; cursors replayed, resumed after a "crash", refused when foreign;
 * scope by subtrees, filter and group, for pulls and for writes.
 *
 * One slapd for the file; the tests run in order (each builds on the directory the previous left).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { SyncPullDataSchema } from '@writeback/protocol';
import { parseOpenLdapConfig, type OpenLdapConfig, type OpenLdapDirectory } from '../src/openldap/index.js';
import { captureLog, labConfig, openLab } from './openldap-helpers.js';
import { allAnchors, closeAfterTests, deletes, hostileScopeFilters, pullAll, upserts } from './sync-helpers.js';
import { startSlapd, type SlapdLab } from '@writeback/testkit/lab';

const BULK = 300;
let lab: SlapdLab;
let dir: OpenLdapDirectory;
const opened = closeAfterTests<OpenLdapDirectory>(() => lab);
const pad = (i: number): string => String(i).padStart(3, '0');
let ou: { people: string; staff: string; elsewhere: string; group: string };

async function open(over: Partial<OpenLdapConfig> = {}): Promise<OpenLdapDirectory> {
  const d = await openLab(lab, { scope: { baseDns: [ou.people, ou.staff] }, ...over }, { log: captureLog().log });
  return opened(d);
}

/** slapd answers the service account's searches with at most `size` entries (cn=config olcLimits) until `lift()`. */
async function serverSizeLimit(size: number): Promise<{ lift(): Promise<void> }> {
  const config = new Client({ url: lab.url });
  await config.bind('cn=admin,cn=config', lab.rootPassword);
  const limit = (op: 'add' | 'delete') =>
    config.modify(
      'olcDatabase={1}mdb,cn=config',
      new Change({
        operation: op,
        modification: new Attribute({ type: 'olcLimits', values: [`dn.exact="${lab.pwAdminDn}" size=${size}`] }),
      }),
    );
  await limit('add');
  return {
    lift: async () => {
      await limit('delete');
      await config.unbind();
    },
  };
}

const anchorOf = new Map<string, string>();
let incCursor: string;

before(async () => {
  lab = await startSlapd({ tls: false });
  ou = {
    people: `ou=people,${lab.baseDn}`,
    staff: `ou=staff,${lab.baseDn}`,
    elsewhere: `ou=elsewhere,${lab.baseDn}`,
    group: `cn=syncers,ou=groups,${lab.baseDn}`,
  };
  const ldif = [`dn: ${ou.elsewhere}\nobjectClass: organizationalUnit\nou: elsewhere`];
  for (let i = 1; i <= BULK; i++) {
    ldif.push(
      [
        `dn: uid=u${pad(i)},${ou.people}`,
        'objectClass: inetOrgPerson',
        `uid: u${pad(i)}`,
        `cn: User ${i}`,
        `sn: ${i}`,
        `mail: u${pad(i)}@example.test`,
        `displayName: Sync User ${i}`,
        `mobile: +4170000${pad(i)}`,
        `departmentNumber: ${i % 2 === 0 ? 'sales' : 'ops'}`,
      ].join('\n'),
    );
  }
  ldif.push(`dn: uid=outsider,${ou.elsewhere}\nobjectClass: inetOrgPerson\nuid: outsider\ncn: outsider\nsn: outsider`);
  ldif.push(
    `dn: ${ou.group}\nobjectClass: groupOfNames\ncn: syncers\n${Array.from({ length: 10 }, (_, k) => `member: uid=u${pad(k + 11)},${ou.people}`).join('\n')}`,
  );
  await lab.ldapadd(`${ldif.join('\n\n')}\n`);
  dir = await open();
});

describe('OpenLDAP sync: full sync', () => {
  it('pages every user in scope in bounded batches, once each, with the total', async () => {
    const full = await pullAll(dir.sync, null, 50);
    const users = upserts(full.changes);
    assert.equal(deletes(full.changes).length, 0);
    assert.equal(users.length, BULK + 4, 'bulk users and the lab’s alice, bob, carol, dave');
    assert.equal(new Set(users.map((u) => u.anchor)).size, users.length, 'no duplicates');
    assert.ok(full.batches >= 7, `several batches (${full.batches})`);
    assert.ok(full.totals.every((t) => t === BULK + 4));
    assert.ok(!users.some((u) => u.login === 'outsider'));
    for (const u of users) anchorOf.set(u.login, u.anchor);
    incCursor = full.cursor;
    assert.match(incCursor, /^csn:i:/);

    const u002 = users.find((u) => u.login === 'u002');
    assert.deepEqual(u002, {
      anchor: anchorOf.get('u002'),
      login: 'u002',
      dn: `uid=u002,${ou.people}`,
      mail: 'u002@example.test',
      displayName: 'Sync User 2',
      mobile: '+4170000002',
      enabled: true,
      locked: false,
      mustChange: false,
      protected: false,
      passwordLastSetAt: null,
    });
    assert.equal(users.find((u) => u.login === 'dave')?.protected, true, 'member of the protected group');
    const found = await dir.findUser({ by: 'anchor', value: anchorOf.get('u002') ?? '' });
    assert.ok(found && found !== 'ambiguous' && found.login === 'u002');
  });

  it('resumes after a crash from the last cursor: the union is every user', async () => {
    const first = await open();
    const part = await pullAll(first.sync, null, 40, 3);
    assert.equal(part.batches, 3);
    await first.close();
    const second = await open();
    const rest = await pullAll(second.sync, part.cursor, 40);
    const anchors = new Set(upserts([...part.changes, ...rest.changes]).map((u) => u.anchor));
    assert.deepEqual([...anchors].sort(), [...anchorOf.values()].sort());
  });
});

describe('OpenLDAP sync: under a server size limit', () => {
  it('narrows its windows to the limit and still returns every user (total unknown)', async () => {
    const sizeLimit = await serverSizeLimit(100);
    try {
      const d = await open();
      const run = await pullAll(d.sync, null, 200);
      assert.deepEqual([...new Set(run.totals)], [undefined]);
      const anchors = upserts(run.changes).map((u) => u.anchor);
      assert.equal(new Set(anchors).size, anchors.length);
      assert.deepEqual([...anchors].sort(), [...anchorOf.values()].sort());
      const listed = await allAnchors(d.sync, 2000);
      assert.deepEqual([...listed.anchors].sort(), [...anchorOf.values()].sort());
    } finally {
      await sizeLimit.lift();
    }
  });
});

describe('OpenLDAP sync: incremental', () => {
  it('sees create, modify, rename, moves and disable after one pull; deletions only in the anchors pass', async () => {
    const created = await lab.addUser({ uid: 'new1' });
    const p = ou.people;
    await lab.ldapmodify(`dn: uid=u002,${p}\nchangetype: modify\nreplace: mail\nmail: changed@example.test\n`);
    await lab.ldapmodify(`dn: uid=u003,${p}\nchangetype: modrdn\nnewrdn: uid=u003r\ndeleteoldrdn: 1\n`);
    await lab.ldapmodify(
      `dn: uid=u004,${p}\nchangetype: modrdn\nnewrdn: uid=u004\ndeleteoldrdn: 1\nnewsuperior: ${ou.staff}\n`,
    );
    await lab.ldapmodify(
      `dn: uid=u005,${p}\nchangetype: modrdn\nnewrdn: uid=u005\ndeleteoldrdn: 1\nnewsuperior: ${ou.elsewhere}\n`,
    );
    await lab.ldapmodify(
      `dn: uid=u006,${p}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`,
    );
    await lab.ldapmodify(`dn: uid=u007,${p}\nchangetype: modify\nreplace: pwdReset\npwdReset: TRUE\n`);
    await lab.ldapmodify(`dn: uid=u008,${p}\nchangetype: delete\n`);
    await lab.ldapmodify(`dn: uid=outsider,${ou.elsewhere}\nchangetype: modify\nreplace: mail\nmail: o@example.test\n`);

    const data = await dir.sync.pullChanges(incCursor, 500);
    SyncPullDataSchema.parse(data);
    assert.equal(data.more, false);
    const up = new Map(upserts(data.changes).map((u) => [u.login, u]));
    const del = new Set(deletes(data.changes));

    assert.ok(up.has('new1'));
    assert.equal(up.get('new1')?.dn, created.dn);
    assert.equal(up.get('u002')?.mail, 'changed@example.test');
    assert.equal(up.get('u003r')?.anchor, anchorOf.get('u003'), 'rename keeps the anchor');
    assert.equal(up.get('u004')?.dn, `uid=u004,${ou.staff}`);
    assert.ok(del.has(anchorOf.get('u005') ?? ''), 'moved out of scope → delete');
    assert.ok(!up.has('u005'));
    assert.equal(up.get('u006')?.enabled, false);
    assert.equal(up.get('u006')?.locked, false);
    assert.equal(up.get('u007')?.mustChange, true);
    assert.ok(!del.has(anchorOf.get('u008') ?? ''), 'no tombstones: a deletion is invisible to pulls');
    assert.ok(!up.has('outsider'));
    assert.ok(!up.has('u009'), 'unchanged users are not sent again');

    const again = await dir.sync.pullChanges(incCursor, 500);
    assert.deepEqual(again, data, 'replaying a cursor gives the same batch');
    const next = await dir.sync.pullChanges(data.cursor, 500);
    assert.deepEqual(next.changes, []);
    incCursor = data.cursor;

    const { anchors, pages } = await allAnchors(dir.sync, 100);
    assert.ok(pages >= 3);
    assert.equal(new Set(anchors).size, anchors.length);
    const expected = new Set(anchorOf.values());
    expected.delete(anchorOf.get('u005') ?? '');
    expected.delete(anchorOf.get('u008') ?? '');
    expected.add(up.get('new1')?.anchor ?? '');
    assert.deepEqual([...anchors].sort(), [...expected].sort(), 'the anchors pass shows the deletion');
  });

  it('pages a burst of changes in bounded batches', async () => {
    const mods = Array.from(
      { length: 60 },
      (_, k) => `dn: uid=u${pad(k + 100)},${ou.people}\nchangetype: modify\nreplace: mobile\nmobile: +4179${k}\n`,
    );
    await lab.ldapmodify(mods.join('\n'));
    const run = await pullAll(dir.sync, incCursor, 25);
    assert.equal(run.batches, 3);
    const users = upserts(run.changes);
    assert.equal(users.length, 60);
    assert.equal(new Set(users.map((u) => u.anchor)).size, 60);
    incCursor = run.cursor;
  });

  it('a user written again while a window is read is not reported as having left scope', async () => {
    const mods = Array.from(
      { length: 60 },
      (_, k) => `dn: uid=u${pad(k + 200)},${ou.people}\nchangetype: modify\nreplace: mobile\nmobile: +4178${k}\n`,
    );
    await lab.ldapmodify(mods.join('\n'));
    const moving = 'u200'; // the first change, so in the first window
    // A server size limit of 20 makes the adapter read the 60 changes in bounded windows (they end
    // before now). Right after the first read of "every user changed in the window" of such a
    // window, the user is written again: its entryCSN leaves the window before the in-scope read.
    const writer = new Client({ url: lab.url });
    await writer.bind(lab.rootDn, lab.rootPassword);
    const original = Client.prototype.searchPaginated;
    let fired = false;
    Client.prototype.searchPaginated = async function* (
      this: Client,
      base: string,
      options: Parameters<Client['searchPaginated']>[1],
      controls?: Parameters<Client['searchPaginated']>[2],
    ) {
      let holdsMoving = false;
      for await (const page of original.call(this, base, options, controls)) {
        if (page.searchEntries.some((e) => e.dn === `uid=${moving},${ou.people}`)) holdsMoving = true;
        yield page;
      }
      const m = /!\(entryCSN>=(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{3})/.exec(String(options?.filter ?? ''));
      const hi = m
        ? Date.UTC(+(m[1] ?? 0), +(m[2] ?? 1) - 1, +(m[3] ?? 0), +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), +(m[7] ?? 0))
        : Number.POSITIVE_INFINITY;
      if (!fired && holdsMoving && base === lab.baseDn && hi + 2 < Date.now()) {
        fired = true;
        await writer.modify(
          `uid=${moving},${ou.people}`,
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'mobile', values: ['+41780000000'] }),
          }),
        );
      }
    } as Client['searchPaginated'];
    const sizeLimit = await serverSizeLimit(20);
    try {
      const run = await pullAll(dir.sync, incCursor, 25);
      assert.ok(fired, 'the second write happened between the two reads of a bounded window');
      assert.ok(!deletes(run.changes).includes(anchorOf.get(moving) ?? ''), 'no delete for a user who never left');
      assert.ok(
        upserts(run.changes).some((u) => u.login === moving && u.mobile === '+41780000000'),
        'its newer change is read later',
      );
      incCursor = run.cursor;
    } finally {
      Client.prototype.searchPaginated = original;
      await sizeLimit.lift();
      await writer.unbind();
    }
  });

  it('answers reset for a cursor it did not make', async () => {
    for (const c of ['usn:abc:i:1::1', 'csn:x', 'seq:4', `${incCursor}:1`]) {
      const r = await dir.sync.pullChanges(c, 100);
      assert.equal(r.reset, true, c);
      assert.deepEqual(r.changes, []);
    }
  });
});

describe('OpenLDAP sync: scope by filter and group', () => {
  let scoped: OpenLdapDirectory;
  let cursor: string;

  it('syncs only users matching the filter and in the group', async () => {
    scoped = await open({ scope: { baseDns: [ou.people], filter: '(departmentNumber=sales)', group: ou.group } });
    const run = await pullAll(scoped.sync, null, 100);
    assert.deepEqual(
      upserts(run.changes)
        .map((u) => u.login)
        .sort(),
      ['u012', 'u014', 'u016', 'u018', 'u020'],
    );
    assert.deepEqual(run.totals, [5]);
    cursor = run.cursor;
  });

  it('answers user_not_found for writes to users outside scope, as for unknown users', async () => {
    const opts = { forceChange: false, unlock: false, enforceHistory: false };
    // u013: in the group, not sales. u030: sales, not in the group. u004: now in ou=staff. outsider: elsewhere.
    for (const login of ['u013', 'u030', 'u004', 'outsider']) {
      assert.equal(
        (await scoped.resetPassword({ by: 'login', value: login }, 'Never-Written-1!', opts)).outcome,
        'user_not_found',
        login,
      );
      assert.equal(await scoped.findUser({ by: 'login', value: login }), null, login);
    }
    assert.equal(
      (await scoped.resetPassword({ by: 'login', value: 'u012' }, 'Written-Pass-12!', opts)).outcome,
      'succeeded',
    );
    // The unscoped adapter reaches u004 in ou=staff, not the outsider.
    assert.equal((await dir.unlock({ by: 'login', value: 'u004' })).outcome, 'succeeded');
    assert.equal((await dir.unlock({ by: 'login', value: 'outsider' })).outcome, 'user_not_found');
  });

  it('answers reset when the scoping group changes', async () => {
    const quiet = await scoped.sync.pullChanges(cursor, 100);
    assert.equal(quiet.reset, undefined);
    assert.deepEqual(
      upserts(quiet.changes).map((u) => u.login),
      ['u012'],
      'the password write above is a change',
    );
    await lab.ldapmodify(`dn: ${ou.group}\nchangetype: modify\nadd: member\nmember: uid=u022,${ou.people}\n`);
    assert.equal((await scoped.sync.pullChanges(quiet.cursor, 100)).reset, true);
    const again = await pullAll(scoped.sync, null, 100);
    assert.ok(upserts(again.changes).some((u) => u.login === 'u022'));
  });

  it('with groupMembership memberOf (slapd memberof overlay) the group is one condition of the search', async () => {
    const config = new Client({ url: lab.url });
    await config.bind('cn=admin,cn=config', lab.rootPassword);
    try {
      await config.modify(
        'cn=module{0},cn=config',
        new Change({ operation: 'add', modification: new Attribute({ type: 'olcModuleLoad', values: ['memberof'] }) }),
      );
      await config.add('olcOverlay=memberof,olcDatabase={1}mdb,cn=config', {
        objectClass: ['olcOverlayConfig', 'olcMemberOf'],
        olcOverlay: 'memberof',
      });
    } finally {
      await config.unbind();
    }
    // The overlay keeps memberOf for memberships made from now on.
    const group = `cn=overlaid,ou=groups,${lab.baseDn}`;
    const members = ['u040', 'u041', 'u042', 'u043'].map((u) => `member: uid=${u},${ou.people}`).join('\n');
    await lab.ldapadd(`dn: ${group}\nobjectClass: groupOfNames\ncn: overlaid\n${members}\n`);
    const viaMemberOf = await open({
      scope: { baseDns: [ou.people], filter: '(departmentNumber=sales)', group, groupMembership: 'memberOf' },
    });
    const run = await pullAll(viaMemberOf.sync, null, 100);
    const users = upserts(run.changes);
    assert.deepEqual(users.map((u) => u.login).sort(), ['u040', 'u042']);
    assert.ok(users.every((u) => u.groups?.includes(group)));
    const opts = { forceChange: false, unlock: false, enforceHistory: false };
    assert.equal(
      (await viaMemberOf.resetPassword({ by: 'login', value: 'u044' }, 'Never-Written-1!', opts)).outcome,
      'user_not_found',
    );
    assert.equal(
      (await viaMemberOf.resetPassword({ by: 'login', value: 'u041' }, 'Never-Written-1!', opts)).outcome,
      'user_not_found',
    );
    assert.equal(
      (await viaMemberOf.resetPassword({ by: 'login', value: 'u042' }, 'Written-Pass-42!', opts)).outcome,
      'succeeded',
    );
  });

  it('refuses hostile or misplaced scope options at config parse with a TypeError naming the option', () => {
    const cases: [Record<string, unknown>, string][] = [
      ...hostileScopeFilters('uid=*').map((filter): [Record<string, unknown>, string] => [
        { filter },
        'directory.scope.filter',
      ]),
      [{ baseDns: ['ou=x,dc=elsewhere,dc=test'] }, 'directory.scope.baseDns.0'],
      [{ baseDns: [ou.people, `ou=sub,${ou.people}`] }, 'directory.scope.baseDns.1'],
      [{ group: 'not a dn' }, 'directory.scope.group'],
      [{ groupMembership: 'nested' }, 'directory.scope.groupMembership'],
    ];
    for (const [scope, option] of cases) {
      assert.throws(
        () => parseOpenLdapConfig({ ...labConfig(lab), scope }, { prefix: 'directory' }),
        (err: unknown) => err instanceof TypeError && err.message.startsWith(`${option}:`),
        JSON.stringify(scope),
      );
    }
  });
});
