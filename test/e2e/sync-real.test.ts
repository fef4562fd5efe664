/**
 * Sync and sign-in against a real slapd (lab, ppolicy, ldaps with the lab CA pinned), the agent as
 * its own process: full sync, a change and a deletion made with OpenLDAP's own tools seen by the
 * cloud, writeback by entryUUID, and a password changed with `ldappasswd` behind the cloud's back
 * then used to sign in (the stale cloud hash is not used: pass-through, then a fresh hash).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Directory } from '@writeback/directory';
import { startSlapd, type SlapdLab, type SlapdUser as LabUser } from '@writeback/testkit/lab';
import { capturedLogs, findSecrets, labPassword, missingPrograms, startSystemOnSlapd, type System } from './harness.js';

const run = promisify(execFile);

const T = '/api/v1/tenants/acme';
const secrets = new Set<string>();
const pw = (tag: string): string => labPassword(tag, secrets);

after(() => {
  assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password appeared in a log line');
});

describe('sync and sign-in against slapd (agent process, ldaps)', {
  skip: missingPrograms(['slapd', 'slapadd', 'ldappasswd', 'ldapsearch']),
}, () => {
  let lab: SlapdLab;
  let sys: System<Directory>;
  let scratch = '';
  let stopSystem: (() => Promise<void>) | undefined;
  const users: LabUser[] = [];

  const syncNow = async (full = false) => {
    const r = await sys.api('POST', `${T}/sync/run`, full ? { full: true } : undefined);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const signIn = async (login: string, password: string) => {
    const r = await sys.api('POST', `${T}/sign-in`, { login, password }, null);
    return { outcome: r.body.outcome, via: r.body.via };
  };

  before(async () => {
    lab = await startSlapd({ tls: true });
    if (!lab.ldapsUrl || !lab.caFile) throw new Error('the slapd lab started without TLS');
    for (const p of Object.values(lab.passwords)) secrets.add(p);
    for (let i = 0; i < 40; i++)
      users.push(await lab.addUser({ password: pw('Init'), extra: [`mail: sync${i}@example.test`] }));
    ({ sys, scratch, stop: stopSystem } = await startSystemOnSlapd(lab));
  });
  after(async () => {
    await stopSystem?.();
    await lab?.stop();
  });

  it('full sync brings every user; a change made with ldapmodify and a deletion are seen', async () => {
    const first = await syncNow();
    assert.equal(first.phase, 'idle', JSON.stringify(first));
    const list = await sys.api('GET', `${T}/users?limit=500`);
    const logins = new Set((list.body.users as { login: string }[]).map((u) => u.login));
    for (const u of users) assert.ok(logins.has(u.uid), `${u.uid} synced`);
    const total = Number(list.body.total);

    const changed = users[0];
    const gone = users[1];
    if (!changed || !gone) throw new Error('no users');
    await lab.ldapmodify(
      `dn: ${changed.dn}\nchangetype: modify\nreplace: displayName\ndisplayName: Changed On Slapd\n`,
    );
    await lab.ldapmodify(`dn: ${gone.dn}\nchangetype: delete\n`);
    const inc = await syncNow();
    assert.equal(inc.lastError, null);
    const one = await sys.api('GET', `${T}/users/${changed.uid}`);
    assert.equal((one.body.user as { displayName: string }).displayName, 'Changed On Slapd');
    // slapd keeps no tombstones: the anchors pass (after a full sync, and periodically) finds it.
    await syncNow(true);
    assert.equal((await sys.api('GET', `${T}/users/${gone.uid}`)).status, 404);
    assert.equal(Number((await sys.api('GET', `${T}/users?limit=1`)).body.total), total - 1);
  });

  it('a password changed with ldappasswd behind the cloud: the stale hash is not used, pass-through accepts the new one', async () => {
    const u = users[2];
    if (!u) throw new Error('no user');
    assert.deepEqual(await signIn(u.uid, u.password), { outcome: 'succeeded', via: 'pass_through' });
    assert.deepEqual(await signIn(`sync2@example.test`, u.password), { outcome: 'succeeded', via: 'cloud_hash' });

    // pwdChangedTime has whole seconds: stay clear of the cloud hash's 1 s tolerance.
    await new Promise((r) => setTimeout(r, 2_100));
    const next = pw('Ldappasswd');
    const newFile = join(scratch, 'new.pw');
    const oldFile = join(scratch, 'old.pw');
    await writeFile(newFile, next, { mode: 0o600 });
    await writeFile(oldFile, u.password, { mode: 0o600 });
    // The user changes it on-premises (as the user: an admin's ldappasswd would set pwdReset, must-change).
    await run('ldappasswd', ['-x', '-H', lab.url, '-D', u.dn, '-y', oldFile, '-T', newFile, u.dn]);
    await rm(newFile);
    await rm(oldFile);
    await syncNow();
    assert.deepEqual(await signIn(u.uid, u.password), { outcome: 'invalid_credentials', via: null });
    assert.deepEqual(await signIn(u.uid, next), { outcome: 'succeeded', via: 'pass_through' });
    assert.deepEqual(await signIn(u.uid, next), { outcome: 'succeeded', via: 'cloud_hash' });
  });

  it('writeback goes by entryUUID once synced: a reset through the API is the new directory password', async () => {
    const u = users[3];
    if (!u) throw new Error('no user');
    const next = pw('Reset');
    const r = await sys.api('POST', `${T}/users/${u.uid}/password/reset`, { newPassword: next, forceChange: false });
    assert.equal(r.body.outcome, 'succeeded', JSON.stringify(r.body));
    assert.equal(await lab.whoami(u.dn, next), 0);
    assert.deepEqual(await signIn(u.uid, next), { outcome: 'succeeded', via: 'cloud_hash' });
  });
});
