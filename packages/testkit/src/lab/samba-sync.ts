/**
 * Sync test helpers for the Samba lab (samba.ts), working on the DC's own database
 * (`ldbadd` / `ldbmodify` on private/sam.ldb, as root, while samba runs):
 * - bulk users: one ldbadd of an LDIF file adds ~300 users in about 1.5 s (one LDAP add over
 *   LDAPS is ~50 ms on this DC); each still gets its own objectGUID and uSNChanged;
 * - the documented delegation step "the service account may list CN=Deleted Objects", which
 *   samba-tool dsacl cannot do (the container is itself deleted, so only show_deleted reaches it).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SambaDc } from './samba.js';

const execFileP = promisify(execFile);

export interface BulkUser {
  cn: string;
  login: string;
  /** Parent container DN (an OU that exists). */
  parentDn: string;
  mail?: string;
  displayName?: string;
  mobile?: string;
  department?: string;
  /** Default 514 (disabled: no password is set, which keeps the import fast). */
  userAccountControl?: number;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function ldb(dc: SambaDc): string {
  return path.join(dc.dir, 'private/sam.ldb');
}

/** Adds many users in one ldbadd run. */
export async function bulkAddUsers(dc: SambaDc, users: readonly BulkUser[]): Promise<void> {
  const blocks = users.map((u) => {
    const lines = [
      `dn:: ${b64(`CN=${u.cn},${u.parentDn}`)}`,
      'objectClass: user',
      `sAMAccountName:: ${b64(u.login)}`,
      `userPrincipalName:: ${b64(`${u.login}@example.test`)}`,
      `userAccountControl: ${u.userAccountControl ?? 514}`,
    ];
    if (u.mail) lines.push(`mail:: ${b64(u.mail)}`);
    if (u.displayName) lines.push(`displayName:: ${b64(u.displayName)}`);
    if (u.mobile) lines.push(`mobile:: ${b64(u.mobile)}`);
    if (u.department) lines.push(`department:: ${b64(u.department)}`);
    return lines.join('\n');
  });
  const file = path.join(dc.dir, `bulk-${process.pid}-${Date.now()}.ldif`);
  await writeFile(file, `${blocks.join('\n\n')}\n`);
  await execFileP('ldbadd', ['-H', ldb(dc), file], { maxBuffer: 16 << 20 });
}

/** Adds organizational units (parents first). */
export async function addOus(dc: SambaDc, dns: readonly string[]): Promise<void> {
  const file = path.join(dc.dir, `ous-${process.pid}-${Date.now()}.ldif`);
  await writeFile(file, `${dns.map((dn) => `dn: ${dn}\nobjectClass: organizationalUnit`).join('\n\n')}\n`);
  await execFileP('ldbadd', ['-H', ldb(dc), file]);
}

/** Lets the lab's service account list and read tombstones (Show Deleted searches). */
export async function grantDeletedObjectsRead(dc: SambaDc): Promise<void> {
  const H = ldb(dc);
  const { stdout: who } = await execFileP('ldbsearch', ['-H', H, '-b', dc.serviceDn, '-s', 'base', 'objectSid']);
  const sid = /^objectSid: (S-[0-9-]+)$/m.exec(who)?.[1];
  if (!sid) throw new Error('service account has no objectSid');
  const container = `CN=Deleted Objects,${dc.baseDn}`;
  const { stdout } = await execFileP('ldbsearch', [
    '-H',
    H,
    '--controls=show_deleted:1',
    '-b',
    container,
    '-s',
    'base',
    'nTSecurityDescriptor',
  ]);
  const sd = /^nTSecurityDescriptor: (.*)$/m.exec(stdout.replace(/\n /g, ''))?.[1];
  if (!sd) throw new Error('no security descriptor on CN=Deleted Objects');
  const next = sd.replace(/D:([A-Z]*)/, (m) => `${m}(A;;LCRP;;;${sid})`);
  const file = path.join(dc.dir, `sd-${process.pid}.ldif`);
  await writeFile(
    file,
    `dn: ${container}\nchangetype: modify\nreplace: nTSecurityDescriptor\nnTSecurityDescriptor: ${next}\n`,
  );
  await execFileP('ldbmodify', ['-H', H, '--controls=show_deleted:1', file]);
}
