/**
 * Shared set-up for the OpenLDAP adapter tests: an adapter opened against a lab slapd with a
 * captured log, and a check that no password ever reached that log.
 */
import assert from 'node:assert/strict';
import { createLogger, type Logger } from '@writeback/protocol';
import { openOpenLdapDirectory, type OpenLdapConfig, type OpenLdapDirectory } from '../src/openldap/index.js';
import type { SlapdLab } from '@writeback/testkit/lab';

export interface CapturedLog {
  log: Logger;
  lines: string[];
  /** Fails when any of these secrets appears in any captured line. */
  assertNoSecrets(secrets: Iterable<string>): void;
}

export function captureLog(name = 'test.openldap'): CapturedLog {
  const lines: string[] = [];
  return {
    lines,
    log: createLogger({ name, level: 'debug', sink: (l) => lines.push(l) }),
    assertNoSecrets(secrets) {
      for (const s of secrets) {
        if (s.length < 4) continue;
        for (const line of lines) assert.ok(!line.includes(s), `a password appeared in the log: ${line.slice(0, 120)}`);
      }
    },
  };
}

/** A config for the lab: plain loopback LDAP, the write-right service account, protected group. */
export function labConfig(lab: SlapdLab, over: Partial<OpenLdapConfig> = {}): OpenLdapConfig {
  const bindDn = over.bindDn ?? lab.pwAdminDn;
  return {
    kind: 'openldap',
    urls: [lab.url],
    allowPlaintext: true,
    bindDn,
    bindPassword: lab.passwords[bindDn] ?? 'unknown',
    baseDn: lab.baseDn,
    protectedGroups: [lab.protectedGroupDn],
    timeoutMs: 3000,
    ...over,
  };
}

export async function openLab(
  lab: SlapdLab,
  over: Partial<OpenLdapConfig> = {},
  deps: { log?: Logger; now?: () => number } = {},
): Promise<OpenLdapDirectory> {
  return openOpenLdapDirectory(labConfig(lab, over), deps);
}
