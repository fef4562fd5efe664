/**
 * `agent doctor` for Active Directory: checks, against the real DCs, what decides whether
 * writeback will work and answer exactly: TLS verification, the service account's bind and rights,
 * policy-hints support, the minimum password age, protected accounts in scope and whether tokenGroups
 * (the write-time privilege check) is readable, clock skew.
 *
 * Everything is read-only except one optional probe (`probeReset`, on by default): an admin reset
 * of one ordinary user in scope to a one-character password, made only when that user's effective
 * policy is readable and requires at least two characters, so the DC must refuse it. A refusal for
 * policy proves the Reset Password right without changing anything; "insufficient access" proves
 * it is missing.
 *
 * One file (over 400 lines) on purpose: the checks run in order on the first bound DC, each
 * deciding what the next may try, and each knows one AD quirk; split up they would only be
 * called from adDoctorChecks.
 */
import { createLogger } from '@writeback/protocol';
import { AndFilter, Attribute, Change, EqualityFilter, type Client, type Entry, type Filter } from 'ldapts';
import type { DirectoryDeps } from '../directory.js';
import type { DoctorCheck } from '../doctor.js';
import {
  clockSkewCheck,
  configFailureCheck,
  connectFailureCheck,
  connectProblemOf,
  protectedGroupCheck,
} from '../ldap/doctor-checks.js';
import { generalizedTimeToMs, intervalToSeconds } from './ad-time.js';
import { resolveAdConfig, type AdUrl, type ResolvedAdConfig } from './config.js';
import { resetHintsFor, type ResetHints } from './controls.js';
import { buffers, int, str, strings } from '../ldap/entry.js';
import { classifyLdapError } from './ldap-errors.js';
import { readRootDse, type RootDse } from '../ldap/root-dse.js';
import { NotSentError, openClient } from './pool.js';
import { protectedUserFilter, resolveProtectedGroups } from './protected-groups.js';
import { ShowDeletedControl } from './sync.js';

export interface AdDoctorDeps extends DirectoryDeps {
  /** Probe the Reset Password right with a reset the DC must refuse (default true). */
  probeReset?: boolean;
}

const SAM_USER_OBJECT = '805306368';
const UF_ACCOUNTDISABLE = 0x2;
const UF_PASSWD_NOTREQD = 0x20;
const SKEW_WARN_S = 60;
/** Kerberos refuses tickets beyond 5 minutes of skew by default. */
const SKEW_FAIL_S = 300;

/** Sync sees deleted users in incremental pulls only when the service account can list tombstones. */
async function deletionsCheck(client: Client, domainDn: string): Promise<DoctorCheck> {
  let visible = false;
  try {
    // The container itself is visible to everyone; its attributes only with Read Property.
    const res = await client.search(`CN=Deleted Objects,${domainDn}`, { scope: 'base', attributes: ['isDeleted'] }, [
      new ShowDeletedControl(),
    ]);
    const e = res.searchEntries[0];
    visible = e !== undefined && str(e, 'isDeleted')?.toUpperCase() === 'TRUE';
  } catch (err) {
    if (classifyLdapError(err).kind === 'transport') throw err;
  }
  return visible
    ? {
        id: 'sync_deletions',
        status: 'pass',
        summary:
          'the service account can list CN=Deleted Objects: deleted users reach the cloud with the next incremental sync',
      }
    : {
        id: 'sync_deletions',
        status: 'warn',
        summary:
          'the service account cannot list CN=Deleted Objects: deleted users reach the cloud only with its periodic anchors pass',
        fix: `dsacls "CN=Deleted Objects,${domainDn}" /takeownership, then dsacls "CN=Deleted Objects,${domainDn}" /G <domain>\\<service account>:LCRP`,
      };
}

/**
 * Fine-grained policies (PSOs) are readable only by Domain Admins by default. Without Read Property
 * on the Password Settings Container and its PSOs, every policy read of a user with a PSO answers
 * access_denied (and pre-checks cannot name the PSO's rule). Listing works for everyone; an entry
 * without the right comes back with no attributes, which is how it is told apart here.
 */
export async function psoReadCheck(client: Client, domainDn: string, account: string): Promise<DoctorCheck> {
  const container = `CN=Password Settings Container,CN=System,${domainDn}`;
  const fix = `Grant the service account read access to the container and its PSOs: dsacls "${container}" /I:T /G "<DOMAIN>\\<service account>:GR" (Samba: samba-tool dsacl set --objectdn="${container}" --sddl="(A;CI;RPLCLORC;;;<service account SID>)")`;
  let readable = false;
  let psos: Entry[] = [];
  try {
    const base = (await client.search(container, { scope: 'base', attributes: ['objectClass'] })).searchEntries[0];
    readable = base !== undefined && strings(base, 'objectClass').length > 0;
    psos = (await client.search(container, { scope: 'one', attributes: ['objectClass', 'msDS-MinimumPasswordLength'] }))
      .searchEntries;
  } catch (err) {
    if (classifyLdapError(err).kind === 'transport') throw err;
  }
  const unreadable = psos.filter((e) => strings(e, 'objectClass').length === 0);
  if (unreadable.length > 0)
    return {
      id: 'rights.pso',
      status: 'fail',
      summary: `${account} cannot read ${unreadable.length} of ${psos.length} fine-grained password policy object(s) (PSO): policy reads of their users answer access_denied`,
      fix,
    };
  if (readable || psos.length > 0)
    return {
      id: 'rights.pso',
      status: 'pass',
      summary: `can read fine-grained password policies (${psos.length} PSO(s) in the Password Settings Container)`,
    };
  return {
    id: 'rights.pso',
    status: 'warn',
    summary: `${account} cannot read the Password Settings Container: no PSO is visible now, but once one exists, policy reads of its users answer access_denied`,
    fix,
  };
}

/** Run every AD check; never throws for what it finds (a bad config is a failed `config` check). */
export async function adDoctorChecks(config: unknown, deps: AdDoctorDeps = {}): Promise<DoctorCheck[]> {
  const log = deps.log ?? createLogger({ name: 'directory.ad.doctor' });
  const now = deps.now ?? Date.now;
  const checks: DoctorCheck[] = [];

  let cfg: ResolvedAdConfig;
  try {
    cfg = resolveAdConfig(config);
  } catch (err) {
    // A bad option is a TypeError naming it; plain LDAP is DirectoryError insecure_transport.
    checks.push(
      configFailureCheck(err, { id: 'config', fix: 'Use ldaps://dc:636, or ldap://dc:389 with startTls: true.' }),
    );
    return checks;
  }
  checks.push({ id: 'config', status: 'pass', summary: `${cfg.urls.length} DC URL(s), base ${cfg.baseDn}` });

  // TLS and bind, per DC; keep the first bound connection for the rest.
  let bound: { client: Client; url: AdUrl; root: RootDse } | undefined;
  for (const url of cfg.urls) {
    let client: Client;
    try {
      client = await openClient(cfg, url, log);
      // ldaps:// connects lazily: an anonymous rootDSE read makes the TLS handshake happen here.
      await client.search('', { scope: 'base', attributes: ['1.1'] }).catch((err: unknown) => {
        if (classifyLdapError(err).kind === 'transport') throw err;
      });
    } catch (err) {
      checks.push(
        connectFailureCheck(connectProblemOf(err instanceof NotSentError ? err.cause : err), {
          id: `tls:${url.url}`,
          url: url.url,
          expectedName: cfg.tlsServerName ?? new URL(url.url).hostname,
          caFix:
            'Set caFile to the PEM of the CA that issued the DC certificate (AD CS root, or the DC self-signed CA).',
          connectFix:
            'Check the host and port, the firewall, and that the DC has an LDAPS certificate (port 636) or allows StartTLS (389).',
        }),
      );
      continue;
    }
    checks.push(
      cfg.skipTlsVerification
        ? {
            id: `tls:${url.url}`,
            status: 'warn',
            summary: `connected to ${url.url} WITHOUT verifying its certificate`,
            fix: 'Remove dangerouslySkipTlsVerification and set caFile: anyone on the path could read every password.',
          }
        : {
            id: `tls:${url.url}`,
            status: 'pass',
            summary: `TLS to ${url.url} verified${url.startTls ? ' (StartTLS)' : ''}`,
          },
    );
    if (bound) {
      await client.unbind().catch(() => undefined);
      continue;
    }
    try {
      await client.bind(cfg.bindDn, cfg.bindPassword);
      bound = { client, url, root: await readRootDse(client) };
    } catch (err) {
      await client.unbind().catch(() => undefined);
      const f = classifyLdapError(err);
      checks.push({
        id: 'bind',
        status: 'fail',
        summary: `service account bind refused on ${url.url} (LDAP ${f.kind === 'result' ? f.code : 'transport'}${f.kind === 'result' && f.data ? `, data ${f.data}` : ''})`,
        fix: bindFix(f.kind === 'result' ? f.data : undefined),
      });
      return checks;
    }
  }
  if (!bound) return checks;
  checks.push({ id: 'bind', status: 'pass', summary: `bound as ${cfg.bindDn} on ${bound.url.url}` });

  const { client, root } = bound;
  try {
    checks.push(clockCheck(root, now()));
    checks.push(hintsCheck(root, cfg));
    const domainDn = root.defaultNamingContext ?? cfg.baseDn;
    const domain = (
      await client.search(domainDn, { scope: 'base', attributes: ['minPwdAge', 'minPwdLength', 'pwdProperties'] })
    ).searchEntries[0];
    const minAge = intervalToSeconds(domain ? str(domain, 'minPwdAge') : undefined);
    checks.push(minAgeCheck(minAge, resetHintsFor(root, cfg.policyHints)));

    const scope = (extra: Filter[]): Filter =>
      new AndFilter({
        filters: [
          new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT }),
          ...cfg.scope.extraFilters,
          ...extra,
        ],
      });
    // One page is enough to know the scope is not empty and to pick a probe user; protected
    // accounts (the adapter's rule: protection.ts, protected-groups.ts) are few, so they are
    // counted in full.
    const groups = await resolveProtectedGroups(client, domainDn, cfg);
    let users: Entry[] = [];
    const protectedUsers: Entry[] = [];
    for (const base of cfg.scope.baseDns) {
      for await (const page of client.searchPaginated(base, {
        scope: 'sub',
        filter: scope([]),
        attributes: ['sAMAccountName', 'adminCount', 'userAccountControl', 'msDS-ResultantPSO'],
        paged: { pageSize: 200 },
      })) {
        users = [...users, ...page.searchEntries].slice(0, 200);
        break;
      }
      const found = await client.search(base, {
        scope: 'sub',
        filter: scope([protectedUserFilter(groups)]),
        attributes: ['sAMAccountName'],
        paged: { pageSize: 500 },
      });
      protectedUsers.push(...found.searchEntries);
    }
    checks.push(
      users.length > 0
        ? {
            id: 'users_in_scope',
            status: 'pass',
            summary: `${users.length === 200 ? 'at least 200' : users.length} user account(s) in scope`,
          }
        : {
            id: 'users_in_scope',
            status: 'fail',
            summary: 'no user accounts in scope',
            fix: 'Check baseDn, userFilter and scope.',
          },
    );
    checks.push(await deletionsCheck(client, domainDn));
    checks.push(await psoReadCheck(client, domainDn, cfg.bindDn));
    for (const dn of groups.missing) checks.push(protectedGroupCheck(dn, false));
    checks.push(
      protectedUsers.length === 0
        ? { id: 'protected_accounts', status: 'pass', summary: 'no protected (privileged) accounts in scope' }
        : cfg.allowProtected
          ? {
              id: 'protected_accounts',
              status: 'warn',
              summary: `${protectedUsers.length} protected account(s) in scope and allowProtected is on: their passwords can be reset from the cloud`,
              fix: 'Turn allowProtected off unless privileged accounts must be managed through writeback.',
            }
          : {
              id: 'protected_accounts',
              status: 'warn',
              summary: `${protectedUsers.length} protected account(s) in scope (e.g. ${str(protectedUsers[0] ?? { dn: '' }, 'sAMAccountName') ?? '?'}); writes to them are refused`,
              fix: 'Narrow baseDn / userFilter to exclude privileged accounts, so their users see a clear answer earlier.',
            },
    );

    // Rights, on one ordinary user in scope (not the service account itself).
    const serviceLogin = /^([^@]+)@/.exec(cfg.bindDn)?.[1]?.toLowerCase();
    const privileged = new Set(protectedUsers.map((u) => u.dn.toLowerCase()));
    const probe = users.find((u) => {
      const uac = int(u, 'userAccountControl') ?? 0;
      return (
        int(u, 'adminCount') !== 1 &&
        !privileged.has(u.dn.toLowerCase()) &&
        (uac & (UF_ACCOUNTDISABLE | UF_PASSWD_NOTREQD)) === 0 &&
        u.dn.toLowerCase() !== cfg.bindDn.toLowerCase() &&
        str(u, 'sAMAccountName')?.toLowerCase() !== serviceLogin
      );
    });
    if (!probe) {
      checks.push({
        id: 'rights',
        status: 'warn',
        summary: 'no ordinary enabled user in scope to check the service account rights on',
      });
    } else {
      checks.push(await tokenGroupsCheck(client, probe));
      checks.push(...(await rightsChecks(client, probe, domain, deps.probeReset !== false)));
    }
  } finally {
    await client.unbind().catch(() => undefined);
  }
  return checks;
}

/** Writes check privileged membership in tokenGroups; unreadable, every write answers access_denied. */
async function tokenGroupsCheck(client: Client, user: Entry): Promise<DoctorCheck> {
  const login = str(user, 'sAMAccountName') ?? user.dn;
  const e = (
    await client.search(user.dn, {
      scope: 'base',
      attributes: ['tokenGroups'],
      explicitBufferAttributes: ['tokenGroups'],
    })
  ).searchEntries[0];
  return e && buffers(e, 'tokenGroups').length > 0
    ? {
        id: 'rights.tokenGroups',
        status: 'pass',
        summary: `can read tokenGroups (checked on ${login}): privileged group membership is checked before each write`,
      }
    : {
        id: 'rights.tokenGroups',
        status: 'fail',
        summary: `cannot read tokenGroups on ${login}: privileged accounts cannot be told apart, so every write answers access_denied`,
        fix: 'Add the service account to "Windows Authorization Access Group" (or grant it Read tokenGroups on users).',
      };
}

function bindFix(data: string | undefined): string {
  switch (data) {
    case '52e':
      return 'Wrong bindPassword (or bindDn): correct it.';
    case '775':
      return 'The service account is locked out: unlock it and exclude it from lockout-prone jobs.';
    case '533':
      return 'The service account is disabled: enable it.';
    case '532':
    case '773':
      return 'The service account password expired or must be changed: set a new one and mark it "never expires".';
    case '701':
      return 'The service account itself has expired: extend accountExpires.';
    default:
      return 'Check bindDn (a DN or user@domain) and bindPassword.';
  }
}

function clockCheck(root: RootDse, now: number): DoctorCheck {
  const dcTime = generalizedTimeToMs(root.currentTime);
  if (dcTime === null) return { id: 'clock_skew', status: 'warn', summary: 'the DC did not report currentTime' };
  return clockSkewCheck(now - dcTime, {
    id: 'clock_skew',
    peer: 'the DC',
    warnAfterS: SKEW_WARN_S,
    failAfterS: SKEW_FAIL_S,
    why: 'Kerberos and password ages depend on it',
  });
}

/**
 * policy_hints: what an admin reset on this DC will be held to, from the control it will carry
 * (resetHintsFor): with LDAP_SERVER_POLICY_HINTS history and the minimum age, without it neither.
 */
export function hintsCheck(root: RootDse, cfg: Pick<ResolvedAdConfig, 'policyHints'>): DoctorCheck {
  const hints = resetHintsFor(root, cfg.policyHints);
  if (cfg.policyHints === 'off') {
    return {
      id: 'policy_hints',
      status: 'warn',
      summary:
        'policyHints is off: admin resets ignore password history and are not limited by the minimum password age',
      fix: 'Set policyHints: auto.',
    };
  }
  return hints.oid !== undefined
    ? {
        id: 'policy_hints',
        status: 'pass',
        summary: `the DC takes LDAP_SERVER_POLICY_HINTS (${hints.oid}): admin resets enforce password history and, like a user's change, are refused inside the minimum password age (policy_violation/min_age)`,
      }
    : {
        id: 'policy_hints',
        status: 'warn',
        summary:
          'the DC does not support LDAP_SERVER_POLICY_HINTS: admin resets cannot enforce password history (results say historyEnforced: false) and are not limited by the minimum password age',
        fix: 'Windows Server 2016 or later supports it; Samba does not.',
      };
}

/**
 * min_pwd_age: a minimum age above 0 refuses a user's second change inside the window (min_age,
 * with the time it is allowed again); whether admin resets are held back too depends on the
 * policy-hints control they carry. 0 lets users cycle through the history: said, not a failure.
 */
export function minAgeCheck(minAgeSeconds: number, hints: ResetHints): DoctorCheck {
  if (minAgeSeconds <= 0)
    return {
      id: 'min_pwd_age',
      status: 'pass',
      summary:
        'no minimum password age: changes are never refused for age (users could cycle through the history; 1 day in the domain policy or a PSO prevents it)',
    };
  const age = formatSeconds(minAgeSeconds);
  const users = `minimum password age is ${age}: a user who just changed their password cannot change it again before then (writeback answers policy_violation/min_age with the time it is allowed)`;
  return hints.honoursMinAge
    ? {
        id: 'min_pwd_age',
        status: 'warn',
        summary: `${users}; admin resets are limited too, because they carry LDAP_SERVER_POLICY_HINTS (${hints.oid})`,
        fix: 'Keep it if you want users not to cycle through the history (recommended); inside the window a reset needs enforceHistory: false (permission users.reset_without_history).',
      }
    : {
        id: 'min_pwd_age',
        status: 'warn',
        summary: `${users}; admin resets are not limited (the DC does not take LDAP_SERVER_POLICY_HINTS, or policyHints is off)`,
        fix: 'Keep it if you want users not to cycle through the history (recommended); tell the help desk that an admin reset is the way out inside the window.',
      };
}

async function rightsChecks(
  client: Client,
  user: Entry,
  domain: Entry | undefined,
  probeReset: boolean,
): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const login = str(user, 'sAMAccountName') ?? user.dn;
  const e = (await client.search(user.dn, { scope: 'base', attributes: ['allowedAttributesEffective'] }))
    .searchEntries[0];
  const allowed = new Set((e ? strings(e, 'allowedAttributesEffective') : []).map((a) => a.toLowerCase()));
  for (const [attr, what] of [
    ['pwdLastSet', 'force a password change at next logon'],
    ['lockoutTime', 'unlock accounts'],
  ] as const) {
    out.push(
      allowed.has(attr.toLowerCase())
        ? { id: `rights.${attr}`, status: 'pass', summary: `can write ${attr} on users (checked on ${login})` }
        : {
            id: `rights.${attr}`,
            status: 'fail',
            summary: `cannot write ${attr} on ${login}: cannot ${what}`,
            fix: `Delegate "Write ${attr}" on descendant User objects to the service account.`,
          },
    );
  }

  if (!probeReset) {
    out.push({ id: 'rights.reset', status: 'warn', summary: 'Reset Password right not checked (probe disabled)' });
    return out;
  }
  // The probe must be refused for policy: only when the user's effective minimum length is
  // known and at least 2.
  const pso = str(user, 'msDS-ResultantPSO');
  let minLength: number | undefined;
  if (pso) {
    const p = (
      await client
        .search(pso, { scope: 'base', attributes: ['msDS-MinimumPasswordLength'] })
        .catch(() => ({ searchEntries: [] as Entry[] }))
    ).searchEntries[0];
    minLength = p ? int(p, 'msDS-MinimumPasswordLength') : undefined;
  } else {
    minLength = domain ? int(domain, 'minPwdLength') : undefined;
  }
  if (minLength === undefined || minLength < 2) {
    out.push({
      id: 'rights.reset',
      status: 'warn',
      summary: 'Reset Password right not checked: the probe needs a readable minimum length of at least 2',
      fix: 'Make sure "Reset Password" on descendant User objects is delegated to the service account.',
    });
    return out;
  }
  try {
    await client.modify(
      user.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [Buffer.from('"!"', 'utf16le')] }),
      }),
    );
    // Cannot happen with minLength >= 2; say so loudly if a DC ever accepts it.
    out.push({
      id: 'rights.reset',
      status: 'fail',
      summary: `the DC ACCEPTED a 1-character password for ${login} despite a minimum length of ${minLength}`,
      fix: 'Reset that user password now and check the DC password policy.',
    });
  } catch (err) {
    const f = classifyLdapError(err);
    if (f.kind === 'result' && f.code === 19) {
      out.push({
        id: 'rights.reset',
        status: 'pass',
        summary: `has Reset Password on users (checked on ${login}; the probe was refused for policy, nothing changed)`,
      });
    } else if (f.kind === 'result' && f.code === 50) {
      out.push({
        id: 'rights.reset',
        status: 'fail',
        summary: `no Reset Password right on ${login}`,
        fix: 'Delegate the "Reset Password" extended right on descendant User objects to the service account.',
      });
    } else {
      out.push({
        id: 'rights.reset',
        status: 'warn',
        summary: `Reset Password probe inconclusive (${f.kind === 'result' ? `LDAP ${f.code}` : 'connection error'})`,
      });
    }
  }
  return out;
}

function formatSeconds(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} day(s)`;
  if (s % 3600 === 0) return `${s / 3600} hour(s)`;
  return `${s} s`;
}
