/**
 * A real OpenLDAP slapd (2.5, Debian packages) for the OpenLDAP adapter's tests, started in a
 * temporary folder on free loopback ports: cn=config with back_mdb and the ppolicy overlay, the
 * access rules that give the two service accounts their different password semantics (write: the
 * server treats the writer like the user and enforces the policy; manage: every check is
 * bypassed), a default and a stricter password policy, a few users, and TLS on ldaps:// plus
 * StartTLS on ldap:// with a CA made here by openssl.
 *
 * Facts this set-up relies on are in /work/shared/notes/directory-lab.md (observed on slapd
 * 2.5.13). It starts in about 0.2 s: one instance per test file.
 *
 * One file (over 400 lines) on purpose: the cn=config, ACLs, policies, users and TLS are one
 * recipe for one server, whose parts only make sense together; it reads top to bottom as startSlapd.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../process.js';
import { selfSignedCertificate, signedCertificate, type CertificateFiles } from './pki.js';

const run = promisify(execFile);

export interface LabUser {
  uid: string;
  dn: string;
  password: string;
}

export interface StartSlapdOptions {
  /** Suffix of the test database (default dc=example,dc=test). */
  baseDn?: string;
  /** Also serve ldaps:// and StartTLS (default true). */
  tls?: boolean;
}

export interface AddUserOptions {
  uid?: string;
  /** Container below the suffix (default ou=people). */
  ou?: string;
  password?: string;
  /** DN of a per-user policy entry (pwdPolicySubentry). */
  policyDn?: string;
  /** Extra LDIF attribute lines ("attr: value"). */
  extra?: string[];
}

export interface SlapdLab {
  url: string;
  ldapsUrl?: string;
  /** CA that signed the server certificate (SAN IP:127.0.0.1, DNS:localhost). */
  caFile?: string;
  /** A CA that did NOT sign the server certificate. */
  wrongCaFile?: string;
  baseDn: string;
  rootDn: string;
  rootPassword: string;
  /** Service account with `write` on userPassword: slapd treats its writes like the user's. */
  pwAdminDn: string;
  /** Service account with `manage` on userPassword: slapd bypasses every policy check for it. */
  pwManagerDn: string;
  /** Service account that can read but has no right on any password attribute. */
  readerDn: string;
  /** Passwords of rootDn, pwAdminDn, pwManagerDn and readerDn, by DN. */
  passwords: Record<string, string>;
  defaultPolicyDn: string;
  /** Stricter policy (min length 12, min age 1 h, history 5) for pwdPolicySubentry. */
  strictPolicyDn: string;
  /** groupOfNames whose members are protected accounts. */
  protectedGroupDn: string;
  /** Users created at start: alice, bob (default policy), carol (strict policy), dave (protected). */
  users: Record<'alice' | 'bob' | 'carol' | 'dave', LabUser>;
  dir: string;
  /** ldapadd as the rootDN (the LDIF is applied by the OpenLDAP CLI, not by code under test). */
  ldapadd(ldif: string): Promise<void>;
  /** ldapmodify as the rootDN; `relax` sends the Relax Rules control (needed for pwdChangedTime). */
  ldapmodify(ldif: string, opts?: { relax?: boolean }): Promise<void>;
  /** ldapsearch as the rootDN, operational attributes included; returns the LDIF text. */
  ldapsearch(base: string, filter: string, attrs?: string[]): Promise<string>;
  /** Creates an inetOrgPerson with a unique uid unless given (any characters: the DN is escaped). */
  addUser(opts?: AddUserOptions): Promise<LabUser>;
  /** Exit code of `ldapwhoami -x -D dn -y <file>`: an independent witness of which password works. */
  whoami(dn: string, password: string): Promise<number>;
  /** SIGSTOP the server and wait until it is stopped (the kernel still accepts and buffers requests). */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL the server, keeping its folder and ports for restart(). */
  crash(): Promise<void>;
  /** Start the server again on the same ports and data. */
  restart(): Promise<void>;
  /** Kill the server and remove its folder. */
  stop(): Promise<void>;
}

/** {SSHA} like slapd writes it, so the fixture data looks like real data. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** RFC 4514 escaping of one RDN value (so fixtures can hold hostile names). */
export function escapeRdnValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replaceAll(String.fromCharCode(0), '\\00');
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** A password that satisfies both lab policies (length >= 12). */
export function labPassword(): string {
  return `Lab-${randomBytes(9).toString('base64url')}`;
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A lab CA of its own (`<name>.pem`, `<name>.key` in `dir`). */
function makeCa(dir: string, name: string): Promise<CertificateFiles> {
  return selfSignedCertificate(
    { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) },
    {
      subject: `/CN=writeback lab ${name}`,
      days: 2,
      extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    },
  );
}

async function makeTls(
  dir: string,
): Promise<{ caFile: string; wrongCaFile: string; certFile: string; keyFile: string }> {
  const [ca, wrong] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'wrong-ca')]);
  const server = await signedCertificate({ cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }, ca, {
    subject: '/CN=127.0.0.1',
    days: 2,
    extensions: [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ],
  });
  return { caFile: ca.cert, wrongCaFile: wrong.cert, certFile: server.cert, keyFile: server.key };
}

const live = new Set<() => void>();
let exitHookInstalled = false;
function onExitCleanup(fn: () => void): void {
  live.add(fn);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    const all = () => {
      for (const f of live) f();
      live.clear();
    };
    process.once('exit', all);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        all();
        process.kill(process.pid, sig);
      });
    }
  }
}

/** Starts a throwaway slapd and returns how to reach and drive it. */
export async function startSlapd(opts: StartSlapdOptions = {}): Promise<SlapdLab> {
  const baseDn = opts.baseDn ?? 'dc=example,dc=test';
  const withTls = opts.tls ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'wb-slapd-'));
  const rootDn = `cn=admin,${baseDn}`;
  const pwAdminDn = `cn=pwadmin,${baseDn}`;
  const pwManagerDn = `cn=pwmanager,${baseDn}`;
  const readerDn = `cn=reader,${baseDn}`;
  const defaultPolicyDn = `cn=default,ou=policies,${baseDn}`;
  const strictPolicyDn = `cn=strict,ou=policies,${baseDn}`;
  const protectedGroupDn = `cn=protected,ou=groups,${baseDn}`;
  const passwords: Record<string, string> = {
    [rootDn]: labPassword(),
    [pwAdminDn]: labPassword(),
    [pwManagerDn]: labPassword(),
    [readerDn]: labPassword(),
  };
  const rootPassword = passwords[rootDn] ?? '';
  const rootPwFile = join(dir, 'root.pw');
  writeFileSync(rootPwFile, rootPassword, { mode: 0o600 });

  const tls = withTls ? await makeTls(dir) : undefined;
  const confDir = join(dir, 'slapd.d');
  const dataDir = join(dir, 'data');
  mkdirSync(confDir);
  mkdirSync(dataDir);

  const dc = /^dc=([^,]+)/.exec(baseDn)?.[1] ?? 'example';
  const config = `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${dir}/slapd.pid
olcArgsFile: ${dir}/slapd.args
${tls ? `olcTLSCACertificateFile: ${tls.caFile}\nolcTLSCertificateFile: ${tls.certFile}\nolcTLSCertificateKeyFile: ${tls.keyFile}\n` : ''}
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcPasswordHash: {SSHA}

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=admin,cn=config
olcRootPW: ${ssha(rootPassword)}

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${baseDn}
olcRootDN: ${rootDn}
olcRootPW: ${ssha(rootPassword)}
olcDbDirectory: ${dataDir}
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: entryUUID eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self write by dn.exact="${pwAdminDn}" write by dn.exact="${pwManagerDn}" manage by anonymous auth by * none
olcAccess: {1}to attrs=pwdReset,pwdAccountLockedTime,pwdFailureTime by dn.exact="${pwAdminDn}" manage by dn.exact="${pwManagerDn}" manage by * read
olcAccess: {2}to * by dn.exact="${pwAdminDn}" read by dn.exact="${pwManagerDn}" read by self read by users read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: ${defaultPolicyDn}
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: TRUE

dn: olcDatabase={2}monitor,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {2}monitor
olcAccess: {0}to dn.subtree="cn=Monitor" by users read by * none
`;

  const person = (uid: string, ou: string, password: string, extra: string[] = []): string =>
    `dn:: ${b64(`uid=${escapeRdnValue(uid)},${ou},${baseDn}`)}
objectClass: inetOrgPerson
uid:: ${b64(uid)}
cn:: ${b64(uid)}
sn:: ${b64(uid)}
userPassword: ${ssha(password)}
${extra.join('\n')}`.trimEnd();

  const users = {
    alice: { uid: 'alice', dn: `uid=alice,ou=people,${baseDn}`, password: labPassword() },
    bob: { uid: 'bob', dn: `uid=bob,ou=people,${baseDn}`, password: labPassword() },
    carol: { uid: 'carol', dn: `uid=carol,ou=people,${baseDn}`, password: labPassword() },
    dave: { uid: 'dave', dn: `uid=dave,ou=people,${baseDn}`, password: labPassword() },
  };

  const account = (dn: string): string => {
    const cn = /^cn=([^,]+)/.exec(dn)?.[1] ?? 'x';
    return `dn: ${dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: ${cn}\nuserPassword: ${ssha(passwords[dn] ?? '')}`;
  };

  const data = [
    `dn: ${baseDn}\nobjectClass: dcObject\nobjectClass: organization\ndc: ${dc}\no: ${dc}`,
    `dn: ou=people,${baseDn}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=staff,${baseDn}\nobjectClass: organizationalUnit\nou: staff`,
    `dn: ou=groups,${baseDn}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ou=policies,${baseDn}\nobjectClass: organizationalUnit\nou: policies`,
    `dn: ${defaultPolicyDn}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 8
pwdCheckQuality: 2
pwdInHistory: 3
pwdMaxFailure: 3
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdMustChange: TRUE
pwdMinAge: 0
pwdMaxAge: 0
pwdSafeModify: FALSE`,
    `dn: ${strictPolicyDn}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: strict
pwdAttribute: userPassword
pwdMinLength: 12
pwdCheckQuality: 2
pwdInHistory: 5
pwdMaxFailure: 5
pwdLockout: TRUE
pwdLockoutDuration: 900
pwdMustChange: TRUE
pwdMinAge: 3600
pwdMaxAge: 7776000
pwdSafeModify: FALSE`,
    account(pwAdminDn),
    account(pwManagerDn),
    account(readerDn),
    person('alice', 'ou=people', users.alice.password),
    person('bob', 'ou=people', users.bob.password),
    person('carol', 'ou=people', users.carol.password, [`pwdPolicySubentry: ${strictPolicyDn}`]),
    person('dave', 'ou=people', users.dave.password),
    `dn: ${protectedGroupDn}\nobjectClass: groupOfNames\ncn: protected\nmember: ${users.dave.dn}`,
  ].join('\n\n');

  writeFileSync(join(dir, 'config.ldif'), config);
  writeFileSync(join(dir, 'data.ldif'), `${data}\n`);
  await run('slapadd', ['-n0', '-F', confDir, '-l', join(dir, 'config.ldif')]);
  await run('slapadd', ['-n1', '-F', confDir, '-l', join(dir, 'data.ldif')]);

  let port = 0;
  let tlsPort = 0;
  let child: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let stderr = '';

  const launch = async (): Promise<void> => {
    const urls = [`ldap://127.0.0.1:${port}/`];
    if (tls) urls.push(`ldaps://127.0.0.1:${tlsPort}/`);
    stderr = '';
    const proc = spawn('slapd', ['-h', urls.join(' '), '-F', confDir, '-d', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    child = proc;
    // A watchdog that outlives a test process killed with SIGKILL (no exit hook runs then): when
    // our end of its stdin closes without a word, it kills slapd and removes the folder.
    watchdog?.stdin?.end('keep\n');
    const dog = spawn(
      'sh',
      [
        '-c',
        `if read _; then kill -9 ${proc.pid} 2>/dev/null; else kill -9 ${proc.pid} 2>/dev/null; rm -rf '${dir}'; fi`,
      ],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    dog.unref();
    watchdog = dog;
    let exited = false;
    proc.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited) throw new Error(`slapd exited at start: ${stderr}`);
      if ((await portAnswers(port)) && (!tls || (await portAnswers(tlsPort)))) return;
      if (Date.now() > deadline) throw new Error(`slapd did not answer in 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 15));
    }
  };

  // Another process may take the free port between our probe and slapd's bind: retry a few times.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    tlsPort = tls ? await freePort() : 0;
    try {
      await launch();
      break;
    } catch (err) {
      child?.kill('SIGKILL');
      if (attempt >= 3) throw err;
    }
  }

  const killNow = (): void => {
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const cleanup = (): void => {
    killNow();
    watchdog?.stdin?.end('keep\n');
    rmSync(dir, { recursive: true, force: true });
  };
  onExitCleanup(cleanup);

  const waitExit = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      killNow();
    });
  };

  const url = `ldap://127.0.0.1:${port}`;
  const cli = async (tool: string, args: string[], input?: string): Promise<string> => {
    const p = run(tool, ['-x', '-H', url, '-D', rootDn, '-y', rootPwFile, ...args], { maxBuffer: 8 << 20 });
    if (input !== undefined) {
      p.child.stdin?.end(input);
    }
    const { stdout } = await p;
    return stdout;
  };

  const lab: SlapdLab = {
    url,
    ...(tls ? { ldapsUrl: `ldaps://127.0.0.1:${tlsPort}`, caFile: tls.caFile, wrongCaFile: tls.wrongCaFile } : {}),
    baseDn,
    rootDn,
    rootPassword,
    pwAdminDn,
    pwManagerDn,
    readerDn,
    passwords,
    defaultPolicyDn,
    strictPolicyDn,
    protectedGroupDn,
    users,
    dir,
    async ldapadd(ldif) {
      await cli('ldapadd', [], ldif);
    },
    async ldapmodify(ldif, o = {}) {
      await cli('ldapmodify', o.relax ? ['-e', 'relax'] : [], ldif);
    },
    async ldapsearch(base, filter, attrs = ['*', '+']) {
      return cli('ldapsearch', ['-LLL', '-o', 'ldif-wrap=no', '-b', base, filter, ...attrs]);
    },
    async addUser(o = {}) {
      const uid = o.uid ?? `u${randomUUID().slice(0, 8)}`;
      const ou = o.ou ?? 'ou=people';
      const password = o.password ?? labPassword();
      const extra = [...(o.extra ?? [])];
      if (o.policyDn) extra.push(`pwdPolicySubentry: ${o.policyDn}`);
      await lab.ldapadd(`${person(uid, ou, password, extra)}\n`);
      return { uid, dn: `uid=${escapeRdnValue(uid)},${ou},${baseDn}`, password };
    },
    async whoami(dn, password) {
      const f = join(dir, `pw-${randomUUID()}`);
      writeFileSync(f, password, { mode: 0o600 });
      try {
        await run('ldapwhoami', ['-x', '-H', url, '-D', dn, '-y', f]);
        return 0;
      } catch (err) {
        const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
        return typeof code === 'number' ? code : 255;
      } finally {
        rmSync(f, { force: true });
      }
    },
    async pause() {
      const pid = child?.pid;
      child?.kill('SIGSTOP');
      // Signal delivery is asynchronous: wait for the stopped state (field 3 of /proc/<pid>/stat).
      for (let i = 0; pid !== undefined && i < 200; i++) {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (/^\d+ \(.*\) [Tt] /.test(stat)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async crash() {
      await waitExit();
    },
    async restart() {
      await waitExit();
      await launch();
    },
    async stop() {
      await waitExit();
      live.delete(cleanup);
      cleanup();
    },
  };
  return lab;
}
