/**
 * `agent doctor` checks for an OpenLDAP directory: transport and CA, the service account's bind,
 * the ppolicy overlay and Password Modify, the default policy, the service account's rights on the
 * password attributes, protected groups, and the server clock. Nothing here changes a user, except
 * the optional canary account (`doctorCanaryLogin`) whose password is reset to random values to
 * learn whether slapd enforces the policy on the service account's resets.
 *
 * Rights are probed without writing: deleting a value that does not exist is checked against the
 * ACL first (50 insufficientAccess without the right) and then fails with 16 noSuchAttribute.
 *
 * One file (over 400 lines) on purpose: the checks run in order on one bound connection, each
 * deciding what the next may try, and each knows one slapd quirk; split up they would only be
 * called from openLdapDoctorChecks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createLogger } from '@writeback/protocol';
import { AndFilter, Attribute, Change, EqualityFilter, PresenceFilter, type Client, type Filter } from 'ldapts';
import type { DirectoryDeps } from '../directory.js';
import type { DoctorCheck } from '../doctor.js';
import { readRootDse } from '../ldap/root-dse.js';
import {
  clockSkewCheck,
  configFailureCheck,
  connectFailureCheck,
  connectProblemOf,
  protectedGroupCheck,
} from '../ldap/doctor-checks.js';
import { resolveOpenLdapConfig, type OpenLdapConfig, type ResolvedOpenLdapConfig } from './config.js';
import {
  BindRejectedError,
  connectAndBind,
  isResultCodeError,
  serverList,
  UnreachableError,
  type OpenedClient,
} from './connection.js';
import { encodePasswordModifyRequest, PASSWORD_MODIFY_OID, wipe } from './password-modify.js';
import { first, parseGeneralizedTime, settingsFromEntry, type PpolicySettings, type RawEntry } from './policy.js';
import { PasswordPolicyControl, PPOLICY_CONTROL_OID } from './ppolicy-control.js';

export type OpenLdapDoctorDeps = DirectoryDeps;

const CLOCK_SKEW_WARN_S = 60;

/** Runs every check it can; a failing prerequisite (config, bind) ends the list early. */
export async function openLdapDoctorChecks(
  config: OpenLdapConfig | ResolvedOpenLdapConfig,
  deps: OpenLdapDoctorDeps = {},
): Promise<DoctorCheck[]> {
  const log = deps.log ?? createLogger({ name: 'directory.openldap.doctor' });
  const now = deps.now ?? Date.now;
  const checks: DoctorCheck[] = [];

  let cfg: ResolvedOpenLdapConfig;
  try {
    cfg = resolveOpenLdapConfig(config, log);
  } catch (err) {
    checks.push(
      configFailureCheck(err, {
        id: 'tls',
        fix: 'Use ldaps:// URLs or startTls: true (allowPlaintext is for loopback test servers only).',
      }),
    );
    return checks;
  }
  checks.push({ id: 'config', status: 'pass', summary: `${cfg.urls.length} server(s), base ${cfg.baseDn}` });
  checks.push(transportCheck(cfg));

  // Every server on its own, so one that is down or misconfigured is named.
  let session: OpenedClient | undefined;
  for (const url of cfg.urls) {
    const one = serverList([url], 0, now);
    try {
      const s = await connectAndBind(cfg, one, cfg.bindDn, cfg.bindPassword);
      checks.push({ id: `server:${url}`, status: 'pass', summary: `${url} reachable, service account bound` });
      if (session) await s.client.unbind().catch(() => undefined);
      else session = s;
    } catch (err) {
      checks.push(serverFailure(cfg, url, err));
    }
  }
  if (!session) {
    checks.push({
      id: 'bind',
      status: 'fail',
      summary: 'no server accepted the service account',
      fix: 'see the server checks above',
    });
    return checks;
  }
  checks.push({ id: 'bind', status: 'pass', summary: `bound as ${cfg.bindDn}` });
  const client = session.client;
  try {
    checks.push(...(await ppolicyChecks(cfg, client)));
    const policy = await readPolicy(client, cfg.defaultPolicyDn);
    checks.push(...defaultPolicyChecks(cfg, policy));
    const target = await findTarget(cfg, client);
    checks.push(target.check);
    if (target.entry) checks.push(...(await rightsChecks(client, target.entry.dn)));
    checks.push(await enforcementCheck(cfg, client));
    checks.push(...(await protectedGroupChecks(cfg, client)));
    checks.push(await clockCheck(client, now));
  } catch (err) {
    checks.push({
      id: 'doctor',
      status: 'fail',
      summary: `checks stopped: ${err instanceof Error ? err.message : String(err)}`,
      fix: 'make the directory reachable and run the doctor again',
    });
  } finally {
    await client.unbind().catch(() => undefined);
  }
  return checks;
}

function transportCheck(cfg: ResolvedOpenLdapConfig): DoctorCheck {
  const plain = cfg.urls.filter((u) => u.toLowerCase().startsWith('ldap:') && !cfg.startTls);
  if (plain.length > 0) {
    return {
      id: 'tls',
      status: 'warn',
      summary: `PLAINTEXT to ${plain.join(', ')}: passwords travel unencrypted (allowPlaintext)`,
      fix: 'use ldaps:// or startTls: true; allowPlaintext is for loopback test servers only',
    };
  }
  if (cfg.dangerouslySkipTlsVerification) {
    return {
      id: 'tls',
      status: 'warn',
      summary: 'TLS certificate verification is DISABLED: anyone in between can read every password',
      fix: 'set caFile to the CA that issued the directory certificate and remove dangerouslySkipTlsVerification',
    };
  }
  return {
    id: 'tls',
    status: 'pass',
    summary: `TLS (${cfg.startTls ? 'StartTLS' : 'ldaps'}) verified against ${cfg.caFile ? cfg.caFile : 'the system CA store'}`,
  };
}

function serverFailure(cfg: ResolvedOpenLdapConfig, url: string, err: unknown): DoctorCheck {
  if (err instanceof BindRejectedError) {
    return {
      id: `server:${url}`,
      status: 'fail',
      summary: `${url}: the service account bind was refused (LDAP result ${err.code})`,
      fix: 'check bindDn and bindPassword / bindPasswordFile',
    };
  }
  return connectFailureCheck(connectProblemOf(err instanceof UnreachableError ? err.cause : err), {
    id: `server:${url}`,
    url,
    expectedName: cfg.tlsServerName ?? new URL(url).hostname,
    caFix: 'Set caFile to the CA that issued the server certificate.',
    connectFix: 'Check the URL, the port and the firewall.',
  });
}

async function ppolicyChecks(cfg: ResolvedOpenLdapConfig, client: Client): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const root = await readRootDse(client);
  const controls = root.supportedControl;
  const extensions = root.supportedExtension ?? [];
  out.push(
    extensions.includes(PASSWORD_MODIFY_OID)
      ? { id: 'password_modify', status: 'pass', summary: 'Password Modify extended operation (RFC 3062) supported' }
      : {
          id: 'password_modify',
          status: 'fail',
          summary: 'the server does not advertise the Password Modify extended operation',
          fix: 'use OpenLDAP slapd (the adapter writes passwords only through RFC 3062)',
        },
  );
  // A bind with the control tells whether the overlay governs the service account's own entry too.
  let answered = false;
  const probe = serverList(cfg.urls, 0, Date.now);
  let ctl: PasswordPolicyControl | undefined;
  try {
    const s = await connectAndBind(cfg, probe, cfg.bindDn, cfg.bindPassword, () => {
      ctl = new PasswordPolicyControl();
      return [ctl];
    });
    await s.client.unbind().catch(() => undefined);
    answered = ctl?.response !== null && ctl?.response !== undefined;
  } catch {
    answered = false;
  }
  if (controls.includes(PPOLICY_CONTROL_OID) || answered) {
    out.push({
      id: 'ppolicy',
      status: 'pass',
      summary: `ppolicy overlay present (${answered ? 'response control returned on bind' : 'control advertised in the root DSE'})`,
    });
  } else {
    out.push({
      id: 'ppolicy',
      status: 'fail',
      summary: 'no ppolicy overlay: slapd enforces no password policy and failures carry no reason',
      fix: 'load the ppolicy module and add the overlay to the database (olcOverlay=ppolicy, olcPPolicyDefault, olcPPolicyHashCleartext: TRUE)',
    });
  }
  return out;
}

async function readPolicy(client: Client, dn: string): Promise<PpolicySettings | null> {
  try {
    const e = (await client.search(dn, { scope: 'base', attributes: ['*'] })).searchEntries[0];
    return e ? settingsFromEntry(e) : null;
  } catch (err) {
    if (isResultCodeError(err) && (err.code === 32 || err.code === 50)) return null;
    throw err;
  }
}

function defaultPolicyChecks(cfg: ResolvedOpenLdapConfig, p: PpolicySettings | null): DoctorCheck[] {
  if (!p) {
    return [
      {
        id: 'policy.default',
        status: 'fail',
        summary: `default policy ${cfg.defaultPolicyDn} does not exist or the service account cannot read it`,
        fix: 'set defaultPolicyDn to the olcPPolicyDefault of the overlay and give the service account read on it',
      },
    ];
  }
  const out: DoctorCheck[] = [
    {
      id: 'policy.default',
      status: 'pass',
      summary: `default policy ${p.dn}: min length ${p.checkQuality > 0 ? p.minLength : 0}, history ${p.inHistory}, min age ${p.minAgeSeconds}s, max age ${p.maxAgeSeconds}s, lockout ${p.lockout ? `${p.maxFailure} failures` : 'off'}`,
    },
  ];
  if (p.checkQuality === 0 && p.minLength > 0) {
    out.push({
      id: 'policy.quality',
      status: 'warn',
      summary: 'pwdMinLength is set but pwdCheckQuality is 0: slapd does not check the length',
      fix: 'set pwdCheckQuality: 2 and olcPPolicyHashCleartext: TRUE',
    });
  }
  if (p.minAgeSeconds > 0) {
    out.push({
      id: 'policy.min_age',
      status: 'warn',
      summary: `pwdMinAge is ${p.minAgeSeconds}s: ${cfg.serviceAccountEnforcesPolicy ? 'admin resets through this service account are refused (min_age) until it has passed, like user changes' : 'users cannot change a password again until it has passed'}`,
      fix: 'set pwdMinAge: 0 unless a minimum age is really wanted',
    });
  }
  if (!cfg.serviceAccountEnforcesPolicy) {
    out.push({
      id: 'policy.reset_bypass',
      status: 'warn',
      summary: 'serviceAccountEnforcesPolicy is false: resets bypass length and history (historyEnforced: false)',
      fix: 'give the service account write (not manage) on userPassword and set serviceAccountEnforcesPolicy: true',
    });
  }
  return out;
}

function userFilter(cfg: ResolvedOpenLdapConfig, extra: Filter): Filter {
  const scope = cfg.resolvedScope.extraFilters;
  return scope.length > 0 ? new AndFilter({ filters: [...scope, extra] }) : extra;
}

async function findTarget(
  cfg: ResolvedOpenLdapConfig,
  client: Client,
): Promise<{ check: DoctorCheck; entry?: RawEntry }> {
  const filter = cfg.doctorCanaryLogin
    ? userFilter(cfg, new EqualityFilter({ attribute: cfg.loginAttribute, value: cfg.doctorCanaryLogin }))
    : userFilter(cfg, new PresenceFilter({ attribute: cfg.loginAttribute }));
  const res = await client.search(cfg.baseDn, {
    scope: 'sub',
    filter,
    sizeLimit: 1,
    attributes: [cfg.anchorAttribute, cfg.loginAttribute],
  });
  const entry = res.searchEntries[0];
  if (!entry) {
    return {
      check: {
        id: 'users',
        status: 'warn',
        summary: cfg.doctorCanaryLogin
          ? `canary ${cfg.doctorCanaryLogin} not found under ${cfg.baseDn}`
          : `no user with ${cfg.loginAttribute} found under ${cfg.baseDn}${cfg.userFilter ? ` matching ${cfg.userFilter}` : ''}`,
        fix: 'check baseDn, userFilter, loginAttribute and that the service account can read users',
      },
    };
  }
  if (!first(entry, cfg.anchorAttribute)) {
    return {
      entry,
      check: {
        id: 'users',
        status: 'fail',
        summary: `users are found but ${cfg.anchorAttribute} is not readable`,
        fix: `give the service account read on ${cfg.anchorAttribute}`,
      },
    };
  }
  return {
    entry,
    check: { id: 'users', status: 'pass', summary: `users found under ${cfg.baseDn} (e.g. ${entry.dn})` },
  };
}

async function probeDelete(
  client: Client,
  dn: string,
  attr: string,
  value: string,
): Promise<'granted' | 'denied' | 'unknown'> {
  try {
    await client.modify(
      dn,
      new Change({ operation: 'delete', modification: new Attribute({ type: attr, values: [value] }) }),
    );
    return 'granted';
  } catch (err) {
    if (isResultCodeError(err) && err.code === 16) return 'granted';
    if (isResultCodeError(err) && err.code === 50) return 'denied';
    return 'unknown';
  }
}

async function rightsChecks(client: Client, dn: string): Promise<DoctorCheck[]> {
  const probes: Array<{ attr: string; value: string; why: string; right: string }> = [
    { attr: 'userPassword', value: `writeback-doctor-${randomUUID()}`, why: 'resets', right: 'write' },
    { attr: 'pwdReset', value: 'FALSE', why: 'must-change-at-next-logon', right: 'manage' },
    { attr: 'pwdAccountLockedTime', value: '19700101000000Z', why: 'unlock', right: 'manage' },
  ];
  const out: DoctorCheck[] = [];
  for (const p of probes) {
    const r = await probeDelete(client, dn, p.attr, p.value);
    out.push(
      r === 'granted'
        ? { id: `rights.${p.attr}`, status: 'pass', summary: `service account may modify ${p.attr} (${p.why})` }
        : {
            id: `rights.${p.attr}`,
            status: r === 'denied' ? 'fail' : 'warn',
            summary:
              r === 'denied'
                ? `service account may not modify ${p.attr}: ${p.why} will answer access_denied`
                : `could not determine the right on ${p.attr}`,
            fix: `add to the ACL: to attrs=${p.attr} by dn.exact="<service account>" ${p.right}`,
          },
    );
  }
  return out;
}

/**
 * Whether slapd enforces the policy on the service account's resets (write) or bypasses it
 * (manage, rootDN): resets the canary twice to the same random password; the second is refused
 * (history or minimum age) only when the policy is enforced.
 */
async function enforcementCheck(cfg: ResolvedOpenLdapConfig, client: Client): Promise<DoctorCheck> {
  const id = 'rights.policy_enforced';
  const claim = cfg.serviceAccountEnforcesPolicy;
  if (!cfg.doctorCanaryLogin) {
    return {
      id,
      status: 'warn',
      summary: `not verified: serviceAccountEnforcesPolicy is ${claim} as configured`,
      fix: 'set doctorCanaryLogin to a dedicated test account the doctor may reset',
    };
  }
  const res = await client.search(cfg.baseDn, {
    scope: 'sub',
    filter: userFilter(cfg, new EqualityFilter({ attribute: cfg.loginAttribute, value: cfg.doctorCanaryLogin })),
    sizeLimit: 2,
    attributes: ['pwdPolicySubentry'],
  });
  const canary = res.searchEntries.length === 1 ? res.searchEntries[0] : undefined;
  if (!canary)
    return { id, status: 'warn', summary: 'canary account not found (or not unique)', fix: 'check doctorCanaryLogin' };
  const policy = await readPolicy(client, first(canary, 'pwdPolicySubentry') ?? cfg.defaultPolicyDn);
  if (!policy || (policy.inHistory === 0 && policy.minAgeSeconds === 0)) {
    return {
      id,
      status: 'warn',
      summary: 'inconclusive: the canary policy has neither history nor minimum age',
      fix: 'give the canary a policy with pwdInHistory > 0',
    };
  }
  const password = `Wb-${randomBytes(18).toString('base64url')}`;
  const attempt = async (): Promise<'ok' | 'refused' | 'error'> => {
    const value = encodePasswordModifyRequest({ userIdentity: canary.dn, newPassword: password });
    try {
      await client.exop(PASSWORD_MODIFY_OID, value, [new PasswordPolicyControl()]);
      return 'ok';
    } catch (err) {
      return isResultCodeError(err) && err.code === 19 ? 'refused' : 'error';
    } finally {
      wipe(value);
    }
  };
  const firstTry = await attempt();
  const secondTry = firstTry === 'ok' ? await attempt() : firstTry;
  if (firstTry === 'error' || secondTry === 'error') {
    return {
      id,
      status: 'warn',
      summary: 'the canary reset failed; see rights.userPassword',
      fix: 'give the service account write on userPassword',
    };
  }
  const enforced = secondTry === 'refused';
  if (enforced === claim) {
    return {
      id,
      status: 'pass',
      summary: enforced
        ? "slapd enforces the policy (history, length, minimum age) on the service account's resets"
        : "slapd bypasses the policy on the service account's resets, as configured (historyEnforced: false)",
    };
  }
  return {
    id,
    status: 'fail',
    summary: enforced
      ? 'slapd enforces the policy on resets but serviceAccountEnforcesPolicy is false'
      : 'slapd BYPASSES the policy on resets (manage right or rootDN) but serviceAccountEnforcesPolicy is true: history would be reported as enforced when it is not',
    fix: enforced
      ? 'set serviceAccountEnforcesPolicy: true'
      : 'give the service account write (not manage) on userPassword, or set serviceAccountEnforcesPolicy: false',
  };
}

async function protectedGroupChecks(cfg: ResolvedOpenLdapConfig, client: Client): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  for (const group of cfg.protectedGroups) {
    let ok = false;
    try {
      ok = (await client.search(group, { scope: 'base', attributes: ['1.1'] })).searchEntries.length === 1;
    } catch (err) {
      if (!isResultCodeError(err)) throw err;
    }
    out.push(protectedGroupCheck(group, ok));
  }
  return out;
}

/** The server's time from cn=Monitor (when the back-monitor database exists and is readable). */
async function clockCheck(client: Client, now: () => number): Promise<DoctorCheck> {
  let serverTime: number | null = null;
  try {
    const e = (
      await client.search('cn=Current,cn=Time,cn=Monitor', { scope: 'base', attributes: ['monitorTimestamp'] })
    ).searchEntries[0];
    const v = e ? first(e, 'monitorTimestamp') : undefined;
    serverTime = v ? parseGeneralizedTime(v) : null;
  } catch {
    serverTime = null;
  }
  if (serverTime === null) {
    return {
      id: 'clock',
      status: 'pass',
      summary:
        "server clock not determinable (cn=Monitor not readable); lockout and minimum-age times use this host's clock",
    };
  }
  // monitorTimestamp has a 1 s resolution.
  return clockSkewCheck(now() - serverTime, {
    id: 'clock',
    peer: 'the directory',
    warnAfterS: CLOCK_SKEW_WARN_S,
    why: 'lockout and minimum-age times depend on it',
  });
}
