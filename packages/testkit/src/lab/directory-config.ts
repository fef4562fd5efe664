/**
 * The adapter configuration for a lab server, as an administrator would write it: LDAPS with the
 * lab CA, the delegated service account, its password in a 0600 file the configuration names (so
 * an agent's state file holds no copy). Every path is absolute: an agent process reads them too.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SambaDc } from './samba.js';
import type { SlapdLab } from './slapd.js';

/** Writes `password` into `<dir>/<name>` (mode 0600) and returns the path. */
export async function writeSecretFile(dir: string, password: string, name = 'service.pw'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return file;
}

/**
 * `ad` adapter configuration for a lab DC as the directory package's own tests open it in this
 * process: the delegated svc-writeback with its password inline, the whole domain as the base
 * unless `extra` says otherwise (`extra` is spread last: baseDn, scope, timeouts...).
 */
export function sambaServiceConfig(
  dc: SambaDc,
  extra: Record<string, unknown> = {},
): { kind: 'ad' } & Record<string, unknown> {
  return {
    kind: 'ad',
    urls: [dc.url],
    bindDn: dc.serviceDn,
    bindPassword: dc.servicePassword,
    baseDn: dc.baseDn,
    caFile: dc.caFile,
    ...extra,
  };
}

/** `ad` adapter configuration for a lab DC: the delegated svc-writeback, users under OU=People unless told. */
export async function sambaDirectoryConfig(
  dc: SambaDc,
  secretsDir: string,
  o: { baseDn?: string } = {},
): Promise<{ kind: 'ad' } & Record<string, unknown>> {
  return {
    kind: 'ad',
    urls: [dc.url],
    bindDn: dc.serviceDn,
    bindPasswordFile: await writeSecretFile(secretsDir, dc.servicePassword),
    baseDn: o.baseDn ?? `OU=People,${dc.baseDn}`,
    caFile: dc.caFile,
  };
}

/**
 * `openldap` adapter configuration for a lab slapd started with TLS: the account with `write` (not
 * `manage`) on userPassword, so slapd checks its policy on admin resets too, as in production.
 */
export async function slapdDirectoryConfig(
  lab: SlapdLab,
  secretsDir: string,
): Promise<{ kind: 'openldap' } & Record<string, unknown>> {
  if (!lab.ldapsUrl || !lab.caFile) throw new Error('the slapd lab started without TLS');
  return {
    kind: 'openldap',
    urls: [lab.ldapsUrl],
    caFile: lab.caFile,
    bindDn: lab.pwAdminDn,
    bindPasswordFile: await writeSecretFile(secretsDir, lab.passwords[lab.pwAdminDn] ?? ''),
    baseDn: lab.baseDn,
    protectedGroups: [lab.protectedGroupDn],
  };
}
