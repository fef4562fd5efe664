/**
 * Sync and sign-in against a real Samba AD DC (lab, LDAPS with the lab CA pinned) through the whole
 * path (API → cloud → in-process relay → agent process): a full sync of ~100 users (anchor =
 * objectGUID), then a create, a mail change, a login rename, a disable and a deletion made on the DC
 * each seen after ONE incremental run; a password set on the DC with `samba-tool user setpassword`
 * behind the cloud's back (the stale cloud hash is not used: pass-through accepts the new one and
 * refuses the old one); and a must-change user (pwdLastSet=0) told must_change at sign-in, who then
 * changes the password through the API (`kinit` against the DC's KDC proves it).
 *
 * One DC for the file; the tests run in order (each builds on the directory the previous left).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change, type Client } from 'ldapts';
import type { Directory } from '@writeback/directory';
import {
  bulkAddUsers,
  grantDeletedObjectsRead,
  guidToString,
  startSambaDc,
  type SambaDc,
  type SambaUser as LabUser,
} from '@writeback/testkit/lab';
import {
  capturedLogs,
  changeOwnPassword,
  findSecrets,
  startSystemOnSamba,
  type System,
  missingPrograms,
  labPassword,
} from './harness.js';

const T = '/api/v1/tenants/acme';
const BULK = 100;
const secrets = new Set<string>();
const pw = (tag: string): string => labPassword(tag, secrets);
const pad = (i: number): string => String(i).padStart(3, '0');

interface CloudUserRow {
  anchor: string | null;
  login: string;
  mail: string | null;
  enabled: boolean;
  mustChange: boolean;
  source: string;
}

describe('sync and sign-in against Samba AD (agent process, ldaps)', {
  skip: missingPrograms(['samba', 'samba-tool', 'ldbadd', 'kinit']),
}, () => {
  let dc: SambaDc;
  let admin: Client;
  let sys: System<Directory>;
  let stopSystem: (() => Promise<void>) | undefined;
  const people = (): string => `OU=People,${dc.baseDn}`;
  const u: Record<'mod' | 'ren' | 'dis' | 'del' | 'pwd' | 'must', LabUser | undefined> = {
    mod: undefined,
    ren: undefined,
    dis: undefined,
    del: undefined,
    pwd: undefined,
    must: undefined,
  };
  const need = (k: keyof typeof u): LabUser => {
    const v = u[k];
    if (!v) throw new Error(`no user ${k}`);
    return v;
  };
  const tag = `${process.pid % 1000}`;

  const syncNow = async (full = false) => {
    const r = await sys.api('POST', `${T}/sync/run`, full ? { full: true } : undefined);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.phase, 'idle', JSON.stringify(r.body));
    assert.equal(r.body.lastError, null);
    return r.body;
  };
  const cloudUsers = async (): Promise<CloudUserRow[]> => {
    const r = await sys.api('GET', `${T}/users?limit=500&source=onprem`);
    assert.equal(r.status, 200);
    assert.equal(r.body.synced, true);
    return r.body.users as CloudUserRow[];
  };
  const getUser = async (login: string) => sys.api('GET', `${T}/users/${login}`);
  const signIn = async (login: string, password: string) => {
    const r = await sys.api('POST', `${T}/sign-in`, { login, password }, null);
    return { outcome: r.body.outcome, via: r.body.via };
  };
  const kinit = async (login: string, password: string) =>
    (await dc.kinit(`${login}@${dc.realm}`, password)).code === 0;
  /** The directory's own answer: every user account under OU=People, login → objectGUID. */
  const dcUsers = async (): Promise<Map<string, string>> => {
    const { searchEntries } = await admin.search(people(), {
      scope: 'sub',
      filter: '(sAMAccountType=805306368)',
      attributes: ['sAMAccountName', 'objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    const m = new Map<string, string>();
    for (const e of searchEntries) {
      const guid = e.objectGUID;
      if (typeof e.sAMAccountName !== 'string' || !Buffer.isBuffer(guid)) throw new Error(`unexpected entry ${e.dn}`);
      m.set(e.sAMAccountName.toLowerCase(), guidToString(guid));
    }
    return m;
  };

  before(async () => {
    dc = await startSambaDc();
    secrets.add(dc.servicePassword);
    secrets.add(dc.adminPassword);
    admin = await dc.admin();
    // The documented delegation step: the service account may list tombstones (deletions).
    await grantDeletedObjectsRead(dc);
    // Bulk users (disabled, no password: one ldbadd), plus enabled ones to change later.
    await bulkAddUsers(
      dc,
      Array.from({ length: BULK }, (_, k) => ({
        cn: `b${tag}x${pad(k)}`,
        login: `b${tag}x${pad(k)}`,
        parentDn: people(),
        mail: `b${tag}x${pad(k)}@example.test`,
        displayName: `Bulk ${k}`,
      })),
    );
    for (const k of Object.keys(u) as (keyof typeof u)[])
      u[k] = await dc.createUser({ login: `s${tag}${k}`, password: pw(`Init${k}`) });
    ({ sys, stop: stopSystem } = await startSystemOnSamba(dc, { baseDn: people() }));
  });
  after(async () => {
    await stopSystem?.();
    await admin?.unbind().catch(() => undefined);
    await dc?.stop();
    assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password appeared in a log line');
  });

  it('full sync through the API: every user of the DC once, anchored by objectGUID', async () => {
    await syncNow();
    const truth = await dcUsers();
    assert.ok(truth.size >= BULK + 6, `lab users (${truth.size})`);
    const rows = await cloudUsers();
    assert.equal(rows.length, truth.size, 'each user once');
    const got = new Map(rows.map((r) => [r.login.toLowerCase(), r.anchor]));
    assert.equal(got.size, rows.length, 'no duplicate logins');
    assert.deepEqual([...got.entries()].sort(), [...truth.entries()].sort());
    assert.equal(got.get(need('mod').login), need('mod').guid);
    const b = rows.find((r) => r.login === `b${tag}x007`);
    assert.deepEqual(
      { mail: b?.mail, enabled: b?.enabled, mustChange: b?.mustChange },
      { mail: `b${tag}x007@example.test`, enabled: false, mustChange: true },
    );
  });

  it('create, mail change, login rename, disable and delete on the DC: one incremental run shows each', async () => {
    const before = Number((await sys.api('GET', `${T}/users?limit=1&source=onprem`)).body.total);
    const created = await dc.createUser({ login: `s${tag}new`, password: pw('New') });
    const mod = need('mod');
    const ren = need('ren');
    const dis = need('dis');
    const del = need('del');
    const replace = (type: string, value: string) =>
      new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) });
    await admin.modify(mod.dn, replace('mail', `changed${tag}@example.test`));
    await admin.modify(ren.dn, [
      replace('sAMAccountName', `s${tag}renamed`),
      replace('userPrincipalName', `s${tag}renamed@example.test`),
    ]);
    await admin.modify(dis.dn, replace('userAccountControl', '514'));
    await admin.del(del.dn);

    const status = await syncNow();
    assert.equal(status.pendingDeletions, 0, JSON.stringify(status));
    const created1 = (await getUser(created.login)).body.user as CloudUserRow;
    assert.deepEqual({ anchor: created1.anchor, enabled: created1.enabled }, { anchor: created.guid, enabled: true });
    assert.equal(((await getUser(mod.login)).body.user as CloudUserRow).mail, `changed${tag}@example.test`);
    const renamed = await getUser(`s${tag}renamed`);
    assert.equal(renamed.status, 200);
    assert.equal((renamed.body.user as CloudUserRow).anchor, ren.guid, 'same user, same anchor');
    assert.equal((await getUser(ren.login)).status, 404, 'the old login is gone');
    assert.equal(((await getUser(dis.login)).body.user as CloudUserRow).enabled, false);
    assert.equal((await getUser(del.login)).status, 404);
    assert.equal(Number((await sys.api('GET', `${T}/users?limit=1&source=onprem`)).body.total), before);
    const truth = await dcUsers();
    const rows = await cloudUsers();
    assert.deepEqual(rows.map((r) => [r.login.toLowerCase(), r.anchor]).sort(), [...truth.entries()].sort());
  });

  it('a password set on the DC with samba-tool: the stale cloud hash is not used, the new one signs in, the old one is refused', async () => {
    const p = need('pwd');
    assert.deepEqual(await signIn(p.login, p.password), { outcome: 'succeeded', via: 'pass_through' });
    assert.deepEqual(await signIn(p.login, p.password), { outcome: 'succeeded', via: 'cloud_hash' });
    // pwdLastSet vs the hash's time: stay clear of the cloud hash's 1 s tolerance.
    await new Promise((r) => setTimeout(r, 2_100));
    const next = pw('SetOnDc');
    await dc.sambaTool(['user', 'setpassword', p.login, `--newpassword=${next}`]);
    await syncNow();
    assert.deepEqual(await signIn(p.login, p.password), { outcome: 'invalid_credentials', via: null });
    assert.deepEqual(await signIn(p.login, next), { outcome: 'succeeded', via: 'pass_through' });
    assert.deepEqual(await signIn(p.login, next), { outcome: 'succeeded', via: 'cloud_hash' });
  });

  it('a must-change user (pwdLastSet=0) gets must_change at sign-in, then changes the password (kinit proves it)', async () => {
    const m = need('must');
    const temp = pw('Temp');
    await dc.sambaTool(['user', 'setpassword', m.login, `--newpassword=${temp}`, '--must-change-at-next-login']);
    await syncNow();
    assert.equal(((await getUser(m.login)).body.user as CloudUserRow).mustChange, true);
    assert.deepEqual(await signIn(m.login, temp), { outcome: 'must_change', via: 'pass_through' });
    const next = pw('Changed');
    const r = await changeOwnPassword(sys, m.login, temp, next);
    assert.equal(r.body.outcome, 'succeeded', JSON.stringify(r.body));
    assert.equal(await kinit(m.login, next), true);
    assert.equal(await kinit(m.login, temp), false);
    assert.equal((await signIn(m.login, next)).outcome, 'succeeded');
    await syncNow();
    assert.equal(((await getUser(m.login)).body.user as CloudUserRow).mustChange, false, 'the DC cleared must-change');
  });
});
