/**
 * The OpenLDAP adapter when the directory goes away: a connection lost after the Password Modify
 * request left the adapter is outcome_unknown (never succeeded), whether or not slapd applied it;
 * a server that is down or frozen is directory_unavailable; the pool reconnects after a restart.
 * The real slapd is crashed (SIGKILL) or frozen (SIGSTOP); a TCP relay holds or drops exactly the
 * one request or answer that must go missing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DirectoryError } from '../src/errors.js';
import type { OpenLdapDirectory } from '../src/openldap/index.js';
import { labPassword, startSlapd, type SlapdLab } from '@writeback/testkit/lab';
import { ldapOpTag, startTcpProxy, type TcpProxy } from './lab/tcp-proxy.js';
import { captureLog, openLab, type CapturedLog } from './openldap-helpers.js';

const EXTENDED_REQUEST = 0x77;
let lab: SlapdLab;
let proxy: TcpProxy;
let captured: CapturedLog;
const secrets: string[] = [];
const noOptions = { forceChange: false, unlock: false, enforceHistory: true };

before(async () => {
  lab = await startSlapd({ tls: false });
  proxy = await startTcpProxy(Number(new URL(lab.url).port));
  captured = captureLog();
});

after(async () => {
  await proxy?.close();
  await lab?.stop();
  captured.assertNoSecrets([...secrets, ...Object.values(lab.passwords)]);
});

/** A fresh user and the password a test sets next (both checked against the log after the run). */
async function userAndNext() {
  const u = await lab.addUser();
  const next = labPassword();
  secrets.push(u.password, next);
  return { u, next };
}

async function throughProxy(): Promise<OpenLdapDirectory> {
  return openLab(lab, { urls: [proxy.url], timeoutMs: 1500 }, { log: captured.log });
}

test('request lost before slapd saw it (slapd crashed): outcome_unknown, and indeed nothing was written', async () => {
  const { u, next } = await userAndNext();
  const dir = await throughProxy();
  try {
    proxy.onClientData = (chunk) => {
      if (ldapOpTag(chunk) !== EXTENDED_REQUEST) return 'forward';
      void lab.crash();
      return 'hold';
    };
    const r = await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions);
    assert.equal(r.outcome, 'outcome_unknown');
  } finally {
    proxy.onClientData = () => 'forward';
    await lab.restart();
  }
  assert.equal(await lab.whoami(u.dn, u.password), 0);
  assert.notEqual(await lab.whoami(u.dn, next), 0);
  // The pool noticed the dead connection: the next operation reconnects by itself.
  const again = await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions);
  assert.equal(again.outcome, 'succeeded');
  assert.equal(await lab.whoami(u.dn, next), 0);
  await dir.close();
});

test('answer lost after slapd applied the change: outcome_unknown, never succeeded (the write did happen)', async () => {
  const { u, next } = await userAndNext();
  const dir = await throughProxy();
  try {
    proxy.onClientData = (chunk) => {
      if (ldapOpTag(chunk) === EXTENDED_REQUEST) {
        proxy.dropServerData = true;
        setTimeout(() => void lab.crash(), 100);
      }
      return 'forward';
    };
    const r = await dir.changePassword({ by: 'login', value: u.uid }, u.password, next);
    assert.equal(r.outcome, 'outcome_unknown');
  } finally {
    proxy.onClientData = () => 'forward';
    proxy.dropServerData = false;
    await lab.restart();
  }
  assert.equal(await lab.whoami(u.dn, next), 0);
  await dir.close();
});

test('slapd frozen: the lookup times out before any write (directory_unavailable)', async () => {
  const { u, next } = await userAndNext();
  const dir = await openLab(lab, { timeoutMs: 300 }, { log: captured.log });
  try {
    assert.equal((await dir.health()).ok, true);
    await lab.pause();
    const r = await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions);
    assert.equal(r.outcome, 'directory_unavailable');
  } finally {
    lab.resume();
  }
  assert.equal(await lab.whoami(u.dn, u.password), 0);
  await dir.close();
});

test('slapd down: directory_unavailable everywhere; back up: the same adapter works again', async () => {
  const { u, next } = await userAndNext();
  const dir = await openLab(lab, { timeoutMs: 1000, serverRetryMs: 0 }, { log: captured.log });
  assert.equal((await dir.health()).ok, true);
  await lab.crash();
  try {
    assert.equal(
      (await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions)).outcome,
      'directory_unavailable',
    );
    assert.equal(
      (await dir.verifyCredentials({ by: 'login', value: u.uid }, u.password)).outcome,
      'directory_unavailable',
    );
    assert.equal((await dir.unlock({ by: 'login', value: u.uid })).outcome, 'directory_unavailable');
    assert.equal((await dir.health()).ok, false);
    await assert.rejects(
      dir.findUser({ by: 'login', value: u.uid }),
      (e: unknown) => e instanceof DirectoryError && e.code === 'unavailable',
    );
  } finally {
    await lab.restart();
  }
  assert.equal((await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions)).outcome, 'succeeded');
  assert.equal(await lab.whoami(u.dn, next), 0);
  await dir.close();
});

test('idle pooled connections killed by a restart are replaced without failing the next operation', async () => {
  const { u, next } = await userAndNext();
  const dir = await openLab(lab, {}, { log: captured.log });
  assert.equal((await dir.health()).ok, true);
  await lab.restart();
  const r = await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions);
  assert.equal(r.outcome, 'succeeded');
  assert.equal(await lab.whoami(u.dn, next), 0);
  await dir.close();
});

// Issue 12: one reset of 9,100 under load (concurrency 32) answered directory_unavailable from a
// healthy slapd. A pooled connection the server dropped while idle still looks bound until its
// close event arrives; the first request on it fails with a socket error. Nothing was written:
// the operation must run again on a fresh connection, never answer directory_unavailable.
test('pooled connections dropped while idle fail their next request: every operation still succeeds (issue 12)', async () => {
  const users = await Promise.all(Array.from({ length: 6 }, () => userAndNext()));
  const dir = await openLab(lab, { urls: [proxy.url], poolSize: 4, timeoutMs: 1500 }, { log: captured.log });
  try {
    // Fill the pool: four connections opened and left idle.
    const warm = await Promise.all(users.slice(0, 4).map(({ u }) => dir.getPolicy({ by: 'login', value: u.uid })));
    assert.deepEqual(
      warm.map((r) => r.outcome),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
    );
    assert.ok(proxy.dropIdleConnections() >= 4);
    const resets = await Promise.all(
      users.map(({ u, next }) => dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions)),
    );
    assert.deepEqual(
      resets.map((r) => r.outcome),
      users.map(() => 'succeeded'),
    );
    for (const { u, next } of users) assert.equal(await lab.whoami(u.dn, next), 0);

    // Every other operation too: policy reads, unlock, verify, change, lookups.
    const [a, b, c, d, e] = users;
    assert.ok(a && b && c && d && e);
    assert.ok(proxy.dropIdleConnections() >= 1);
    const [policy, unlock, verify, found] = await Promise.all([
      dir.getPolicy({ by: 'login', value: a.u.uid }),
      dir.unlock({ by: 'login', value: b.u.uid }),
      dir.verifyCredentials({ by: 'login', value: c.u.uid }, c.next),
      dir.findUser({ by: 'login', value: d.u.uid }),
    ]);
    assert.equal(policy.outcome, 'succeeded');
    assert.equal(unlock.outcome, 'succeeded');
    assert.equal(verify.outcome, 'succeeded');
    assert.ok(found && found !== 'ambiguous' && found.login === d.u.uid);
    assert.ok(proxy.dropIdleConnections() >= 1);
    const newer = labPassword();
    secrets.push(newer);
    const change = await dir.changePassword({ by: 'login', value: e.u.uid }, e.next, newer);
    assert.equal(change.outcome, 'succeeded');
    assert.ok(proxy.dropIdleConnections() >= 1);
    assert.equal((await dir.health()).ok, true);
  } finally {
    await dir.close();
  }
});
