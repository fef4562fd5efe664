/**
 * Test lab: a real Samba AD domain controller on loopback, for the AD adapter tests and the
 * end-to-end tests.
 *
 * Provisioning a domain takes several seconds, so it happens once into a template folder cached
 * under /var/tmp (keyed by the Samba version and this harness's template version); every start
 * copies the template (`cp -a`, 0.05 s), rewrites the paths in etc/smb.conf and runs
 * `samba -i -M single` in the foreground. The LDAP ports of Samba cannot be changed, so parallel
 * DCs (parallel test files) each take their own loopback address (127.0.0.1, 127.0.0.2, ...),
 * claimed with a lock folder. The TLS certificate is made by our own CA with SANs for those
 * addresses, so clients verify it the normal way (CA pinned, no name override).
 *
 * The template domain EXAMPLE.TEST has: complexity on, min length 7, history 24, min age 0,
 * lockout after 3 bad passwords; OU=People; a delegated service account `svc-writeback` with
 * Reset Password plus write pwdLastSet / lockoutTime on every user (inherited from the domain root)
 * and read access to the Password Settings Container (fine-grained policies), and no other rights.
 *
 * One file (over 400 lines) on purpose: provisioning the template, claiming a loopback address, starting
 * the DC and cleaning up after a crash are one lifecycle of one server sharing its lock and cleanup
 * state; it reads top to bottom as startSambaDc.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { Attribute, Change, Client, EqualityFilter } from 'ldapts';
import { selfSignedCertificate, signedCertificate } from './pki.js';

const execFileP = promisify(execFile);

/** Bump when the template's content changes, so stale caches are not reused. */
const TEMPLATE_VERSION = 4;
const REALM = 'EXAMPLE.TEST';
const DOMAIN = 'EXAMPLE';
const BASE_DN = 'DC=example,DC=test';
const SERVER_NAME = 'dc1.example.test';
const ADMIN_PASSWORD = 'Adm1n-Lab-Pass!42';
const SERVICE_LOGIN = 'svc-writeback';
const SERVICE_PASSWORD = 'Svc-Lab-Pass!42';
const LOCK_ROOT = '/tmp/writeback-samba-locks';
/** The server certificate has SANs for these addresses; one DC per address. */
const MAX_ADDRESSES = 16;

/** What a started DC offers a test. */
export interface SambaDc {
  /** `ldaps://127.0.0.N:636` */
  url: string;
  /** The loopback address this DC listens on (LDAP 389/636, GC 3268/3269, KDC 88, kpasswd 464). */
  host: string;
  /** CA that signed the DC's certificate (SANs: the loopback addresses and dc1.example.test). */
  caFile: string;
  /** An unrelated CA, for "wrong CA" tests. */
  otherCaFile: string;
  /** DNS name in the certificate (the IP SAN also verifies, so this is optional for clients). */
  tlsServerName: string;
  baseDn: string;
  realm: string;
  adminDn: string;
  adminPassword: string;
  /** Delegated service account: reset password + write pwdLastSet/lockoutTime on users. */
  serviceDn: string;
  servicePassword: string;
  /** The DC's private folder (a copy of the template). */
  dir: string;
  /** PID of the samba process (its own process group). */
  readonly pid: number;
  /** Run `samba-tool <args> -H <dir>/private/sam.ldb` (local database access, as root). */
  sambaTool(args: string[]): Promise<string>;
  /** `kinit principal` with the password on stdin, against this DC's KDC. */
  kinit(principal: string, password: string): Promise<{ code: number; stderr: string }>;
  /** `ldapsearch -x -D bindDn -w password` of the rootDSE over LDAPS: exit code 0 = bind accepted. */
  ldapBind(bindDn: string, password: string): Promise<{ code: number; stderr: string }>;
  /** Create an enabled user in OU=People (fast: one LDAP add as Administrator). */
  createUser(opts: CreateUserOptions): Promise<LabUser>;
  /** An Administrator LDAP connection (LDAPS, CA verified); closed by stop(). */
  admin(): Promise<Client>;
  /** Send a signal to the samba process group (SIGSTOP/SIGCONT/SIGKILL for failure tests). */
  signal(sig: NodeJS.Signals): void;
  /** Start samba again on the same folder and address (after stop() with keepDir or a kill). */
  restart(): Promise<void>;
  /** Stop samba; `keepDir` keeps the folder and the address for restart(). */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

export interface CreateUserOptions {
  login: string;
  password: string;
  upn?: string;
  displayName?: string;
  givenName?: string;
  sn?: string;
  /** userAccountControl; default 512 (normal, enabled). 514 = disabled. */
  userAccountControl?: number;
  /** Parent container; default OU=People. */
  parentDn?: string;
  /** CN; default the login. */
  cn?: string;
}

export interface LabUser {
  dn: string;
  login: string;
  /** objectGUID as the standard GUID string. */
  guid: string;
  password: string;
}

export interface StartSambaOptions {
  /** Where the template is cached (default /var/tmp/writeback-samba-template-<samba version>-v<n>). */
  templateDir?: string;
  /** Extra smb.conf [global] lines, e.g. `check password script = ...`. */
  extraConfig?: string[];
  /**
   * A password filter: Samba's `check password script`, a script (written into the DC's folder)
   * that refuses every password containing this word, case-insensitive (letters, digits and `-`
   * only). Samba calls it for resets, changes and new users, only while complexity is on (the
   * lab's domain policy has it on); a refusal looks to LDAP clients exactly like a complexity
   * failure (/work/shared/notes/directory-lab.md, probe f).
   */
  passwordFilter?: { refuse: string };
  /** Seconds before samba exits by itself (safety net). Default 1800. */
  maximumRuntime?: number;
}

/** Start a DC from the (cached) template. Stop it with `stop()` (also done at process exit). */
export async function startSambaDc(opts: StartSambaOptions = {}): Promise<SambaDc> {
  const version = await sambaVersion();
  const templateDir = opts.templateDir ?? `/var/tmp/writeback-samba-template-${version}-v${TEMPLATE_VERSION}`;
  if (!existsSync(path.join(templateDir, 'READY'))) await buildTemplate(templateDir);

  const lease = claimAddress();
  const dir = await mkdtemp(path.join(tmpdir(), 'writeback-samba-'));
  lease.recordDir(dir);
  let proc: ChildProcess | undefined;
  let adminClient: Client | undefined;
  let stopped = false;
  const cleanupSync = (): void => {
    if (proc?.pid && proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    lease.release();
  };
  registerCleanup(cleanupSync);

  try {
    await execFileP('cp', ['-a', `${templateDir}/.`, dir]);
    const extra = [...(opts.extraConfig ?? [])];
    if (opts.passwordFilter) {
      const word = opts.passwordFilter.refuse;
      if (!/^[A-Za-z0-9-]+$/.test(word)) throw new TypeError('passwordFilter.refuse: letters, digits and - only');
      const script = path.join(dir, 'check-password.sh');
      await writeFile(
        script,
        `#!/bin/sh\n# The password arrives on stdin.\nif grep -qi -- '${word}'; then exit 1; fi\nexit 0\n`,
        {
          mode: 0o755,
        },
      );
      extra.push(`check password script = ${script}`);
    }
    const conf = (await readFile(path.join(dir, 'etc/smb.conf'), 'utf8'))
      .split(templateDir)
      .join(dir)
      .replace(/^\tinterfaces = .*$/m, `\tinterfaces = ${lease.address}/8`)
      .replace(/^\[global\]$/m, ['[global]', ...extra.map((l) => `\t${l}`)].join('\n'));
    await writeFile(path.join(dir, 'etc/smb.conf'), conf);
    await writeFile(
      path.join(dir, 'krb5.conf'),
      `[libdefaults]\n\tdefault_realm = ${REALM}\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\tudp_preference_limit = 1\n[realms]\n\t${REALM} = {\n\t\tkdc = ${lease.address}\n\t}\n`,
    );
  } catch (err) {
    cleanupSync();
    unregisterCleanup(cleanupSync);
    throw err;
  }

  const caFile = path.join(dir, 'tls/ca.pem');
  const ca = readFileSync(caFile);
  const url = `ldaps://${lease.address}:636`;

  const launch = async (): Promise<void> => {
    const out = path.join(dir, 'log/samba.out');
    const child = spawn(
      'samba',
      ['-i', '-M', 'single', `--maximum-runtime=${opts.maximumRuntime ?? 1800}`, '-s', path.join(dir, 'etc/smb.conf')],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = child;
    if (child.pid) lease.recordPid(child.pid);
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => chunks.push(b));
    child.stderr?.on('data', (b: Buffer) => chunks.push(b));
    child.on('exit', () => {
      try {
        writeFileSync(out, Buffer.concat(chunks));
      } catch {
        // folder already removed
      }
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `samba exited early (${child.exitCode ?? child.signalCode}): ${Buffer.concat(chunks).toString().slice(-2000)}`,
        );
      }
      if (await tlsAnswers(lease.address, ca)) return;
      if (Date.now() > deadline) throw new Error(`samba did not answer LDAPS on ${lease.address}:636 within 30 s`);
      await sleep(100);
    }
  };

  const stopProcess = async (): Promise<void> => {
    const child = proc;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, 'SIGCONT');
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    await stopProcess();
    cleanupSync();
    unregisterCleanup(cleanupSync);
    throw err;
  }

  const dc: SambaDc = {
    url,
    host: lease.address,
    caFile,
    otherCaFile: path.join(dir, 'tls/other-ca.pem'),
    tlsServerName: SERVER_NAME,
    baseDn: BASE_DN,
    realm: REALM,
    adminDn: `CN=Administrator,CN=Users,${BASE_DN}`,
    adminPassword: ADMIN_PASSWORD,
    serviceDn: `CN=${SERVICE_LOGIN},CN=Users,${BASE_DN}`,
    servicePassword: SERVICE_PASSWORD,
    dir,
    get pid() {
      return proc?.pid ?? 0;
    },
    async sambaTool(args) {
      const { stdout } = await execFileP('samba-tool', [...args, '-H', path.join(dir, 'private/sam.ldb')], {
        env: { ...process.env, KRB5_CONFIG: path.join(dir, 'krb5.conf') },
      });
      return stdout;
    },
    kinit(principal, password) {
      return runWithInput('kinit', [principal], `${password}\n`, {
        KRB5_CONFIG: path.join(dir, 'krb5.conf'),
        KRB5CCNAME: `FILE:${path.join(dir, `ccache-${process.pid}-${Math.random().toString(36).slice(2)}`)}`,
      });
    },
    ldapBind(bindDn, password) {
      // -y reads the password from a file, keeping it out of the process list.
      const pwFile = path.join(dir, `pw-${Math.random().toString(36).slice(2)}`);
      writeFileSync(pwFile, password, { mode: 0o600 });
      return runWithInput(
        'ldapsearch',
        ['-x', '-H', url, '-D', bindDn, '-y', pwFile, '-b', '', '-s', 'base', '1.1'],
        '',
        {
          LDAPTLS_CACERT: caFile,
        },
      ).finally(() => rmSync(pwFile, { force: true }));
    },
    async admin() {
      if (adminClient?.isBound) return adminClient;
      adminClient = new Client({ url, tlsOptions: { ca }, timeout: 10_000, connectTimeout: 10_000 });
      await adminClient.bind(dc.adminDn, ADMIN_PASSWORD);
      return adminClient;
    },
    async createUser(o) {
      const client = await dc.admin();
      const cn = o.cn ?? o.login;
      const dn = `CN=${escapeDnValue(cn)},${o.parentDn ?? `OU=People,${BASE_DN}`}`;
      const attrs: Record<string, string | string[]> = {
        objectClass: ['top', 'person', 'organizationalPerson', 'user'],
        sAMAccountName: o.login,
        userPrincipalName: o.upn ?? `${o.login}@example.test`,
      };
      if (o.displayName) attrs.displayName = o.displayName;
      if (o.givenName) attrs.givenName = o.givenName;
      if (o.sn) attrs.sn = o.sn;
      await client.add(dn, attrs);
      await client.modify(dn, [
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'unicodePwd', values: [adPassword(o.password)] }),
        }),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: [String(o.userAccountControl ?? 512)] }),
        }),
      ]);
      const res = await client.search(BASE_DN, {
        filter: new EqualityFilter({ attribute: 'sAMAccountName', value: o.login }),
        attributes: ['objectGUID'],
        explicitBufferAttributes: ['objectGUID'],
      });
      const raw = res.searchEntries[0]?.objectGUID;
      if (!Buffer.isBuffer(raw)) throw new Error('created user has no objectGUID');
      return { dn, login: o.login, guid: guidToString(raw), password: o.password };
    },
    signal(sig) {
      if (proc?.pid) process.kill(-proc.pid, sig);
    },
    async restart() {
      await stopProcess();
      await launch();
    },
    async stop(o) {
      if (stopped) return;
      if (adminClient) {
        await adminClient.unbind().catch(() => undefined);
        adminClient = undefined;
      }
      await stopProcess();
      if (o?.keepDir) return;
      stopped = true;
      await rm(dir, { recursive: true, force: true });
      lease.release();
      unregisterCleanup(cleanupSync);
    },
  };
  return dc;
}

/** `"password"` as UTF-16LE: the only form AD accepts in unicodePwd. */
export function adPassword(pw: string): Buffer {
  return Buffer.from(`"${pw}"`, 'utf16le');
}

/** objectGUID bytes → the standard GUID string (first three groups little-endian). */
export function guidToString(b: Buffer): string {
  const h = b.toString('hex');
  const le = (s: string): string => s.match(/../g)?.reverse().join('') ?? '';
  return `${le(h.slice(0, 8))}-${le(h.slice(8, 12))}-${le(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function escapeDnValue(v: string): string {
  return v.replace(/[,+"\\<>;=#]/g, (c) => `\\${c}`).replace(/^ | $/g, (c) => `\\${c}`);
}

async function sambaVersion(): Promise<string> {
  const { stdout } = await execFileP('samba', ['--version']);
  return stdout
    .trim()
    .replace(/^Version\s+/, '')
    .replace(/[^A-Za-z0-9.+-]/g, '_');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tlsAnswers(host: string, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host, port: 636, ca, timeout: 2000 });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('secureConnect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

function runWithInput(
  cmd: string,
  args: string[],
  input: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.end(input);
  });
}

// ---------------------------------------------------------------------------------------------
// Loopback address leases: a lock folder per address, owned by a live process.

interface Lease {
  address: string;
  /** Remember the DC folder, so a later run can remove it if this process dies without cleaning up. */
  recordDir(dir: string): void;
  /** Remember the samba PID, so a later run can stop an orphan DC of a process that died. */
  recordPid(pid: number): void;
  release(): void;
}

// Cleanup at exit and on the usual termination signals (the test runner sends SIGTERM on timeout):
// kill the samba process group, remove the folder, release the address.
const cleanups = new Set<() => void>();
const TERM_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
function runCleanups(): void {
  for (const c of [...cleanups]) {
    cleanups.delete(c);
    try {
      c();
    } catch {
      // best effort
    }
  }
}
function onSignal(sig: NodeJS.Signals): void {
  runCleanups();
  for (const s of TERM_SIGNALS) process.removeListener(s, onSignal);
  process.removeListener('exit', runCleanups);
  // Re-raise so the process ends the way it would have without us.
  process.kill(process.pid, sig);
}
function registerCleanup(c: () => void): void {
  if (cleanups.size === 0) {
    process.on('exit', runCleanups);
    for (const s of TERM_SIGNALS) process.on(s, onSignal);
  }
  cleanups.add(c);
}
function unregisterCleanup(c: () => void): void {
  cleanups.delete(c);
  if (cleanups.size === 0) {
    process.removeListener('exit', runCleanups);
    for (const s of TERM_SIGNALS) process.removeListener(s, onSignal);
  }
}

function claimAddress(): Lease {
  mkdirSync(LOCK_ROOT, { recursive: true });
  for (let i = 1; i <= MAX_ADDRESSES; i++) {
    const address = `127.0.0.${i}`;
    const lock = path.join(LOCK_ROOT, address);
    if (!tryLock(lock)) continue;
    return {
      address,
      recordDir: (dir) => writeFileSync(path.join(lock, 'dir'), dir),
      recordPid: (pid) => writeFileSync(path.join(lock, 'samba-pid'), `${pid} ${startTimeOf(pid) ?? ''}`),
      release: () => {
        try {
          if (readFileSync(path.join(lock, 'pid'), 'utf8') === String(process.pid))
            rmSync(lock, { recursive: true, force: true });
        } catch {
          // already released
        }
      },
    };
  }
  throw new Error(`no free loopback address for a Samba DC (all ${MAX_ADDRESSES} leased under ${LOCK_ROOT})`);
}

function tryLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (portsBusySync(lock)) {
        rmSync(lock, { recursive: true, force: true });
        return false;
      }
      return true;
    } catch (err) {
      if (!(err instanceof Error) || !('code' in err) || err.code !== 'EEXIST') throw err;
      // A lock whose owner died is stale: take it over once.
      let owner = 0;
      try {
        owner = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
      } catch {
        owner = 0;
      }
      if (owner && isAlive(owner)) return false;
      killOrphanSamba(lock);
      try {
        const leftover = readFileSync(path.join(lock, 'dir'), 'utf8');
        if (path.dirname(leftover) === tmpdir() && path.basename(leftover).startsWith('writeback-samba-'))
          rmSync(leftover, { recursive: true, force: true });
      } catch {
        // no folder recorded
      }
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return false;
}

/** A leftover samba (killed test run) may still hold the address: check with `ss`, synchronously. */
function portsBusySync(lock: string): boolean {
  const address = path.basename(lock);
  try {
    const out = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
    return out.split('\n').some((l) => l.includes(`${address}:636 `) || l.includes(`${address}:88 `));
  } catch {
    return false;
  }
}

/** Process start time (clock ticks since boot, /proc/<pid>/stat field 22): with the PID, identifies one process. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Stop the samba a dead test process left running, if that PID still is the same process. */
function killOrphanSamba(lock: string): void {
  let recorded: string[] = [];
  try {
    recorded = readFileSync(path.join(lock, 'samba-pid'), 'utf8').split(' ');
  } catch {
    return;
  }
  const pid = Number(recorded[0]);
  if (!pid || !recorded[1] || startTimeOf(pid) !== recorded[1]) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    return;
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 50 && isAlive(pid); i++) Atomics.wait(pause, 0, 0, 50);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Template: provision once, configure, cache.

async function buildTemplate(templateDir: string): Promise<void> {
  const parent = path.dirname(templateDir);
  mkdirSync(parent, { recursive: true });
  const work = await mkdtemp(`${templateDir}.build-`);
  try {
    for (const d of ['log', 'run/ncalrpc', 'run/winbindd', 'run/ntp_signd', 'tls'])
      mkdirSync(path.join(work, d), { recursive: true });
    await execFileP(
      'samba-tool',
      [
        'domain',
        'provision',
        `--targetdir=${work}`,
        `--realm=${REALM}`,
        `--domain=${DOMAIN}`,
        '--server-role=dc',
        '--dns-backend=NONE',
        '--use-rfc2307',
        `--adminpass=${ADMIN_PASSWORD}`,
        '--host-name=dc1',
        '--host-ip=127.0.0.1',
        '--option=netbios name=DC1',
        '--option=interfaces=lo',
        '--option=bind interfaces only=yes',
        '--option=server services=ldap kdc',
        `--option=log file=${work}/log/log.%m`,
        `--option=pid directory=${work}/run`,
        `--option=ncalrpc dir=${work}/run/ncalrpc`,
        `--option=winbindd socket directory=${work}/run/winbindd`,
        `--option=ntp signd socket directory=${work}/run/ntp_signd`,
        '--option=unix password sync=no',
        '--option=pam password change=no',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    await makeCertificates(path.join(work, 'tls'));
    const confPath = path.join(work, 'etc/smb.conf');
    const conf = readFileSync(confPath, 'utf8').replace(
      /^\tinterfaces = lo$/m,
      [
        '\tinterfaces = lo',
        '\ttls enabled = yes',
        `\ttls keyfile = ${work}/tls/key.pem`,
        `\ttls certfile = ${work}/tls/cert.pem`,
        `\ttls cafile = ${work}/tls/ca.pem`,
        // Samba accepts the previous password for 60 min after a change by default (NTLM grace);
        // tests check that the old password stops working at once.
        '\told password allowed period = 0',
      ].join('\n'),
    );
    writeFileSync(confPath, conf);

    const h = ['-H', path.join(work, 'private/sam.ldb')];
    const tool = (args: string[]) => execFileP('samba-tool', [...args, ...h]);
    await tool([
      'domain',
      'passwordsettings',
      'set',
      '--min-pwd-age=0',
      '--complexity=on',
      '--history-length=24',
      '--min-pwd-length=7',
      '--account-lockout-threshold=3',
    ]);
    await tool(['ou', 'create', `OU=People,${BASE_DN}`]);
    await tool(['user', 'create', SERVICE_LOGIN, SERVICE_PASSWORD]);
    const { stdout } = await execFileP('ldbsearch', [...h, `(sAMAccountName=${SERVICE_LOGIN})`, 'objectSid']);
    const sid = /^objectSid: (S-[0-9-]+)$/m.exec(stdout)?.[1];
    if (!sid) throw new Error('service account has no objectSid');
    const userClass = 'bf967aba-0de6-11d0-a285-00aa003049e2';
    const resetPassword = '00299570-246d-11d0-a768-00aa006e0529';
    const pwdLastSet = 'bf967a0a-0de6-11d0-a285-00aa003049e2';
    const lockoutTime = '28630ebf-41d5-11d1-a9c1-0000f80367c1';
    await tool([
      'dsacl',
      'set',
      `--objectdn=${BASE_DN}`,
      `--sddl=(OA;CIIO;CR;${resetPassword};${userClass};${sid})(OA;CIIO;WP;${pwdLastSet};${userClass};${sid})(OA;CIIO;WP;${lockoutTime};${userClass};${sid})`,
    ]);
    // Fine-grained policies are readable only by Domain Admins by default; the adapter needs to
    // read them to pre-check and to tell users the rule (a documented delegation step).
    await tool([
      'dsacl',
      'set',
      `--objectdn=CN=Password Settings Container,CN=System,${BASE_DN}`,
      `--sddl=(A;CI;RPLCLORC;;;${sid})`,
    ]);
    // Paths inside smb.conf name the build folder; point them at the final one before it appears,
    // since a parallel test process may copy the template the moment the rename lands.
    const finalConf = readFileSync(confPath, 'utf8').split(work).join(templateDir);
    writeFileSync(confPath, finalConf);
    writeFileSync(path.join(work, 'READY'), `${new Date().toISOString()}\n`);
    try {
      renameSync(work, templateDir);
    } catch {
      // Another process built it at the same time; keep theirs.
      await rm(work, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

async function makeCertificates(tlsDir: string): Promise<void> {
  const at = (name: string) => path.join(tlsDir, name);
  const ca = await selfSignedCertificate(
    { cert: at('ca.pem'), key: at('ca.key') },
    { subject: '/CN=writeback lab CA', days: 3650 },
  );
  await selfSignedCertificate(
    { cert: at('other-ca.pem'), key: at('other-ca.key') },
    { subject: '/CN=unrelated lab CA', days: 3650 },
  );
  const sans = [`DNS:${SERVER_NAME}`, 'DNS:localhost'];
  for (let i = 1; i <= MAX_ADDRESSES; i++) sans.push(`IP:127.0.0.${i}`);
  await signedCertificate({ cert: at('cert.pem'), key: at('key.pem') }, ca, {
    subject: `/CN=${SERVER_NAME}`,
    days: 3650,
    extensions: [`subjectAltName=${sans.join(',')}`, 'extendedKeyUsage=serverAuth', 'basicConstraints=CA:FALSE'],
  });
  await execFileP('chmod', [
    '600',
    path.join(tlsDir, 'key.pem'),
    path.join(tlsDir, 'ca.key'),
    path.join(tlsDir, 'other-ca.key'),
  ]);
}
