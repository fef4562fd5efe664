/**
 * The OpenLDAP adapter's transport: ldaps:// and StartTLS verified against the lab CA, a wrong CA
 * or name refused, plain LDAP refused unless allowed (and then only to loopback), several servers
 * tried in order, and configuration errors named by option path.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirectoryError } from '../src/errors.js';
import { openOpenLdapDirectory, parseOpenLdapConfig } from '../src/openldap/index.js';
import { labPassword, startSlapd, type SlapdLab } from '@writeback/testkit/lab';
import { captureLog, labConfig, type CapturedLog } from './openldap-helpers.js';

let lab: SlapdLab;
let captured: CapturedLog;
const noOptions = { forceChange: false, unlock: false, enforceHistory: true };

before(async () => {
  lab = await startSlapd();
  captured = captureLog();
});

after(async () => {
  await lab?.stop();
  captured.assertNoSecrets([...Object.values(lab.passwords)]);
});

/** Opens with `over`, resets a fresh user, closes; returns the outcome and whether it really changed. */
async function resetThrough(over: Parameters<typeof labConfig>[1]): Promise<{ outcome: string; changed: boolean }> {
  const dir = await openOpenLdapDirectory(labConfig(lab, over), { log: captured.log });
  try {
    const u = await lab.addUser();
    const next = labPassword();
    const r = await dir.resetPassword({ by: 'login', value: u.uid }, next, noOptions);
    return { outcome: r.outcome, changed: (await lab.whoami(u.dn, next)) === 0 };
  } finally {
    await dir.close();
  }
}

describe('TLS', () => {
  test('ldaps:// with the right CA', async () => {
    const r = await resetThrough({ urls: [lab.ldapsUrl ?? ''], allowPlaintext: false, caFile: lab.caFile });
    assert.deepEqual(r, { outcome: 'succeeded', changed: true });
  });

  test('ldaps:// with a wrong CA: directory_unavailable, nothing written', async () => {
    const r = await resetThrough({ urls: [lab.ldapsUrl ?? ''], allowPlaintext: false, caFile: lab.wrongCaFile });
    assert.deepEqual(r, { outcome: 'directory_unavailable', changed: false });
    const dir = await openOpenLdapDirectory(
      labConfig(lab, { urls: [lab.ldapsUrl ?? ''], allowPlaintext: false, caFile: lab.wrongCaFile }),
      {
        log: captured.log,
      },
    );
    const h = await dir.health();
    await dir.close();
    assert.equal(h.ok, false);
    assert.match(h.detail ?? '', /TLS/);
  });

  test('ldaps:// with the right CA but another expected name (tlsServerName): refused', async () => {
    const r = await resetThrough({
      urls: [lab.ldapsUrl ?? ''],
      allowPlaintext: false,
      caFile: lab.caFile,
      tlsServerName: 'dc.elsewhere.test',
    });
    assert.deepEqual(r, { outcome: 'directory_unavailable', changed: false });
  });

  test('ldaps:// to "localhost" matches the DNS name in the certificate', async () => {
    const url = (lab.ldapsUrl ?? '').replace('127.0.0.1', 'localhost');
    const r = await resetThrough({ urls: [url], allowPlaintext: false, caFile: lab.caFile });
    assert.deepEqual(r, { outcome: 'succeeded', changed: true });
  });

  test('StartTLS with the right CA, and with a wrong one', async () => {
    assert.deepEqual(await resetThrough({ startTls: true, allowPlaintext: false, caFile: lab.caFile }), {
      outcome: 'succeeded',
      changed: true,
    });
    assert.deepEqual(await resetThrough({ startTls: true, allowPlaintext: false, caFile: lab.wrongCaFile }), {
      outcome: 'directory_unavailable',
      changed: false,
    });
  });

  test('change and verify also run over TLS (user-bound connections)', async () => {
    const dir = await openOpenLdapDirectory(
      labConfig(lab, { startTls: true, allowPlaintext: false, caFile: lab.caFile }),
      { log: captured.log },
    );
    try {
      const u = await lab.addUser();
      const next = labPassword();
      assert.equal((await dir.changePassword({ by: 'login', value: u.uid }, u.password, next)).outcome, 'succeeded');
      assert.equal((await dir.verifyCredentials({ by: 'login', value: u.uid }, next)).outcome, 'succeeded');
    } finally {
      await dir.close();
    }
  });

  test('dangerouslySkipTlsVerification works with any certificate and is warned about loudly', async () => {
    const log = captureLog();
    const dir = await openOpenLdapDirectory(
      labConfig(lab, {
        urls: [lab.ldapsUrl ?? ''],
        allowPlaintext: false,
        caFile: lab.wrongCaFile,
        dangerouslySkipTlsVerification: true,
      }),
      { log: log.log },
    );
    try {
      assert.equal((await dir.health()).ok, true);
      assert.ok(log.lines.some((l) => l.includes('"level":"warn"') && l.includes('TLS VERIFICATION DISABLED')));
    } finally {
      await dir.close();
    }
  });
});

describe('plain LDAP', () => {
  test('refused without allowPlaintext (insecure_transport)', async () => {
    const cfg = labConfig(lab, { allowPlaintext: false });
    assert.throws(
      () => parseOpenLdapConfig(cfg),
      (e: unknown) => e instanceof DirectoryError && e.code === 'insecure_transport',
    );
    await assert.rejects(
      openOpenLdapDirectory(cfg),
      (e: unknown) => e instanceof DirectoryError && e.code === 'insecure_transport',
    );
  });

  test('allowPlaintext is honoured for loopback only', () => {
    assert.throws(
      () => parseOpenLdapConfig(labConfig(lab, { urls: ['ldap://dc.example.test:389'] })),
      (e: unknown) => e instanceof DirectoryError && e.code === 'insecure_transport',
    );
  });

  test('allowed plaintext is warned about loudly', async () => {
    const log = captureLog();
    const dir = await openOpenLdapDirectory(labConfig(lab), { log: log.log });
    await dir.close();
    assert.ok(log.lines.some((l) => l.includes('"level":"warn"') && l.includes('PLAINTEXT')));
  });
});

describe('servers and configuration', () => {
  test('several servers are tried in order: a dead first one is skipped', async () => {
    const r = await resetThrough({ urls: ['ldap://127.0.0.1:1', lab.url] });
    assert.deepEqual(r, { outcome: 'succeeded', changed: true });
  });

  test('no server reachable: directory_unavailable, health not ok, open() does not throw', async () => {
    const dir = await openOpenLdapDirectory(labConfig(lab, { urls: ['ldap://127.0.0.1:1'] }), { log: captured.log });
    try {
      assert.equal(
        (await dir.resetPassword({ by: 'login', value: 'alice' }, labPassword(), noOptions)).outcome,
        'directory_unavailable',
      );
      assert.equal(
        (await dir.changePassword({ by: 'login', value: 'alice' }, 'a-current', labPassword())).outcome,
        'directory_unavailable',
      );
      assert.equal((await dir.getPolicy()).outcome, 'directory_unavailable');
      assert.equal((await dir.health()).ok, false);
    } finally {
      await dir.close();
    }
  });

  test('a wrong service password: directory_unavailable, detail names the bind', async () => {
    const dir = await openOpenLdapDirectory(labConfig(lab, { bindPassword: 'not-the-service-password' }), {
      log: captured.log,
    });
    try {
      const r = await dir.resetPassword({ by: 'login', value: 'alice' }, labPassword(), noOptions);
      assert.equal(r.outcome, 'directory_unavailable');
      assert.match(r.detail ?? '', /service account/);
    } finally {
      await dir.close();
    }
  });

  test('bindPasswordFile is read (trailing newline ignored)', async () => {
    const f = join(lab.dir, 'svc.pw');
    writeFileSync(f, `${lab.passwords[lab.pwAdminDn] ?? ''}\n`, { mode: 0o600 });
    const { bindPassword: _omit, ...rest } = labConfig(lab);
    const dir = await openOpenLdapDirectory({ ...rest, bindPasswordFile: f }, { log: captured.log });
    try {
      assert.equal((await dir.health()).ok, true);
    } finally {
      await dir.close();
    }
  });

  test('bad options throw TypeError naming the dotted path', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ urls: [] }, /^directory\.urls:/],
      [{ urls: ['http://x'] }, /^directory\.urls\.0:/],
      [{ poolSize: 0 }, /^directory\.poolSize:/],
      [{ userFilter: '(((' }, /^directory\.userFilter:/],
      [{ loginAttribute: 'uid)(x=*' }, /^directory\.loginAttribute:/],
      [{ bindPasswordFile: '/nonexistent' }, /^directory\.bindPassword:/],
      [{ caFile: '/nonexistent/ca.pem' }, /^directory\.caFile:/],
      [{ extra: true }, /^directory:|^directory\b/],
    ];
    for (const [over, re] of bad) {
      assert.throws(
        () => parseOpenLdapConfig({ ...labConfig(lab), ...over }, { prefix: 'directory' }),
        (e: unknown) => e instanceof TypeError && re.test(e.message),
        JSON.stringify(over),
      );
    }
  });

  test('closed: operations throw DirectoryError closed', async () => {
    const dir = await openOpenLdapDirectory(labConfig(lab), { log: captured.log });
    await dir.close();
    await assert.rejects(
      dir.resetPassword({ by: 'login', value: 'alice' }, labPassword(), noOptions),
      (e: unknown) => e instanceof DirectoryError && e.code === 'closed',
    );
  });
});
