/**
 * `openLdapDoctorChecks` against a real slapd: a healthy set-up passes; a service account without
 * rights, one that bypasses the policy while the config says otherwise, a wrong CA, a missing
 * default policy and a minimum age are each named with a fix.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DoctorCheck } from '../src/doctor.js';
import { openLdapDoctorChecks } from '../src/openldap/index.js';
import { startSlapd, type SlapdUser as LabUser, type SlapdLab } from '@writeback/testkit/lab';
import { captureLog, labConfig } from './openldap-helpers.js';

let lab: SlapdLab;
let canary: LabUser;
const { log } = captureLog();

before(async () => {
  lab = await startSlapd();
  canary = await lab.addUser({ uid: 'wb-canary' });
});

after(async () => {
  await lab?.stop();
});

const byId = (checks: DoctorCheck[]) => new Map(checks.map((c) => [c.id, c]));
const status = (checks: DoctorCheck[], id: string) => byId(checks).get(id)?.status;

test('a healthy set-up (ldaps, write-right account, canary) passes every check', async () => {
  const checks = await openLdapDoctorChecks(
    labConfig(lab, {
      urls: [lab.ldapsUrl ?? ''],
      allowPlaintext: false,
      caFile: lab.caFile,
      doctorCanaryLogin: canary.uid,
    }),
    { log },
  );
  const notPass = checks.filter((c) => c.status !== 'pass');
  assert.deepEqual(notPass, []);
  for (const id of [
    'config',
    'tls',
    'bind',
    'password_modify',
    'ppolicy',
    'policy.default',
    'users',
    'rights.userPassword',
    'rights.pwdReset',
    'rights.pwdAccountLockedTime',
    'rights.policy_enforced',
    `protected:${lab.protectedGroupDn}`,
    'clock',
  ]) {
    assert.equal(status(checks, id), 'pass', id);
  }
});

test('plain LDAP is a warning; no canary: enforcement not verified (warn)', async () => {
  const checks = await openLdapDoctorChecks(labConfig(lab), { log });
  assert.equal(status(checks, 'tls'), 'warn');
  assert.equal(status(checks, 'rights.policy_enforced'), 'warn');
});

test('a manage-right account with serviceAccountEnforcesPolicy true fails the canary check', async () => {
  const bad = await openLdapDoctorChecks(labConfig(lab, { bindDn: lab.pwManagerDn, doctorCanaryLogin: canary.uid }), {
    log,
  });
  const c = byId(bad).get('rights.policy_enforced');
  assert.equal(c?.status, 'fail');
  assert.ok(c?.fix);
  const good = await openLdapDoctorChecks(
    labConfig(lab, { bindDn: lab.pwManagerDn, doctorCanaryLogin: canary.uid, serviceAccountEnforcesPolicy: false }),
    { log },
  );
  assert.equal(status(good, 'rights.policy_enforced'), 'pass');
  assert.equal(status(good, 'policy.reset_bypass'), 'warn');
});

test('a service account without rights fails the rights checks, each with a fix', async () => {
  const checks = await openLdapDoctorChecks(labConfig(lab, { bindDn: lab.readerDn }), { log });
  for (const id of ['rights.userPassword', 'rights.pwdReset', 'rights.pwdAccountLockedTime']) {
    const c = byId(checks).get(id);
    assert.equal(c?.status, 'fail', id);
    assert.ok(c?.fix);
  }
});

test('a certificate issued for other names: the server check lists the names it carries (issue 12)', async () => {
  // The lab's server certificate (openssl-made) names localhost and 127.0.0.1, not this name.
  const ldaps = lab.ldapsUrl ?? '';
  for (const [url, startTls] of [
    [ldaps, false],
    [lab.url, true],
  ] as const) {
    const checks = await openLdapDoctorChecks(
      labConfig(lab, {
        urls: [url],
        startTls,
        allowPlaintext: false,
        caFile: lab.caFile,
        tlsServerName: 'dc.elsewhere.test',
      }),
      { log },
    );
    const c = byId(checks).get(`server:${url}`);
    assert.equal(c?.status, 'fail', JSON.stringify(checks));
    assert.equal(c?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const named = c?.fix?.split(/[\s,:]+/) ?? [];
    assert.ok(named.includes('localhost') && named.includes('127.0.0.1'), c?.fix);
    assert.equal(status(checks, 'bind'), 'fail');
  }
});

test('a wrong CA fails the server check; a wrong password fails the bind', async () => {
  const tls = await openLdapDoctorChecks(
    labConfig(lab, { urls: [lab.ldapsUrl ?? ''], allowPlaintext: false, caFile: lab.wrongCaFile }),
    { log },
  );
  assert.equal(status(tls, `server:${lab.ldapsUrl}`), 'fail');
  assert.match(byId(tls).get(`server:${lab.ldapsUrl}`)?.summary ?? '', /TLS/);
  assert.equal(status(tls, 'bind'), 'fail');
  const pw = await openLdapDoctorChecks(labConfig(lab, { bindPassword: 'wrong-service-password' }), { log });
  assert.equal(status(pw, 'bind'), 'fail');
});

test('plain LDAP without allowPlaintext fails with a fix, before connecting', async () => {
  const checks = await openLdapDoctorChecks(labConfig(lab, { allowPlaintext: false }), { log });
  assert.equal(checks.length, 1);
  assert.equal(checks[0]?.id, 'tls');
  assert.equal(checks[0]?.status, 'fail');
});

test('a missing default policy fails; a minimum age warns; a missing protected group fails', async () => {
  const missing = await openLdapDoctorChecks(labConfig(lab, { defaultPolicyDn: `cn=nope,ou=policies,${lab.baseDn}` }), {
    log,
  });
  assert.equal(status(missing, 'policy.default'), 'fail');
  const strict = await openLdapDoctorChecks(
    labConfig(lab, { defaultPolicyDn: lab.strictPolicyDn, protectedGroups: [`cn=ghosts,ou=groups,${lab.baseDn}`] }),
    { log },
  );
  assert.equal(status(strict, 'policy.min_age'), 'warn');
  assert.equal(status(strict, `protected:cn=ghosts,ou=groups,${lab.baseDn}`), 'fail');
});

test('clock skew beyond a minute warns (frozen clock an hour ahead)', async () => {
  const checks = await openLdapDoctorChecks(labConfig(lab), { log, now: () => Date.now() + 3600_000 });
  assert.equal(status(checks, 'clock'), 'warn');
});
