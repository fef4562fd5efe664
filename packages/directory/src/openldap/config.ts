/**
 * Configuration of the OpenLDAP adapter: which servers, how to reach them safely, which service
 * account, where users and policies live. Parsed once at start-up into a frozen object; a bad
 * option throws a TypeError naming its dotted path, an insecure transport a DirectoryError
 * `insecure_transport`, and every insecure choice that is allowed is warned about loudly.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { EqualityFilter, FilterParser, type Filter } from 'ldapts';
import type { Logger } from '@writeback/protocol';
import { DirectoryError } from '../errors.js';
import { isDnWithin, normalizeDn, parseScopeFilter } from '../sync-window.js';

const LdapUrlSchema = z
  .string()
  .max(2048)
  .refine((u) => /^ldaps?:\/\/[^/?#\s]+\/?$/i.test(u), 'must be ldap://host[:port] or ldaps://host[:port] (no path)');

/** A DN as written in a config file: non-empty, no control characters. */
const DnSchema = z
  .string()
  .min(3)
  .max(1024)
  .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20) && s.includes('='), 'must be a distinguished name');

export const OpenLdapConfigSchema = z
  .object({
    kind: z.literal('openldap'),
    /** Tried in order: the first one that answers serves new connections. */
    urls: z.array(LdapUrlSchema).min(1).max(16),
    /** Upgrade ldap:// connections with StartTLS before binding. */
    startTls: z.boolean().default(false),
    /** Service account the agent binds as (write on userPassword; see serviceAccountEnforcesPolicy). */
    bindDn: DnSchema,
    bindPassword: z.string().min(1).max(1024).optional(),
    /** File holding the service account's password (trailing newline ignored). */
    bindPasswordFile: z.string().min(1).max(4096).optional(),
    /** Subtree where users are looked up. */
    baseDn: DnSchema,
    /** Extra LDAP filter every user must match, e.g. "(objectClass=inetOrgPerson)". */
    userFilter: z.string().min(3).max(2048).optional(),
    /** Attribute holding the login name. */
    loginAttribute: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an attribute name')
      .default('uid'),
    /** Attribute holding the immutable anchor. */
    anchorAttribute: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'must be an attribute name')
      .default('entryUUID'),
    /** PEM file of the CA(s) that issued the servers' certificates (default: the system store). */
    caFile: z.string().min(1).max(4096).optional(),
    /** Name to verify in the server certificate when it differs from the URL's host. */
    tlsServerName: z.string().min(1).max(255).optional(),
    /** Accept any server certificate. Lets a man in the middle read every password. */
    dangerouslySkipTlsVerification: z.boolean().default(false),
    /** Allow plain ldap:// without StartTLS, to loopback servers only (tests). */
    allowPlaintext: z.boolean().default(false),
    /** Allow writes to members of protectedGroups. */
    allowProtected: z.boolean().default(false),
    /** Groups (groupOfNames member / groupOfUniqueNames uniqueMember / posixGroup memberUid) whose members are protected. */
    protectedGroups: z.array(DnSchema).max(64).default([]),
    /**
     * Policy entry the ppolicy overlay applies when a user has no pwdPolicySubentry (the overlay's
     * olcPPolicyDefault lives in cn=config, which a service account cannot read). Default:
     * cn=default,ou=policies,<baseDn>.
     */
    defaultPolicyDn: DnSchema.optional(),
    /**
     * true when the service account has `write` (not `manage`) on userPassword: slapd then checks
     * length, history and minimum age on resets as it does for the user. With `manage` (or the
     * rootDN) slapd bypasses every check; set false and resets report historyEnforced: false.
     * The adapter cannot read ACLs; `doctor` verifies this on a canary account when one is given.
     */
    serviceAccountEnforcesPolicy: z.boolean().default(true),
    /** Login of a dedicated canary account the doctor may reset to verify serviceAccountEnforcesPolicy. */
    doctorCanaryLogin: z.string().min(1).max(256).optional(),
    /** Bound service connections kept open. */
    poolSize: z.number().int().min(1).max(64).default(4),
    /** Per connect and per LDAP operation. */
    timeoutMs: z.number().int().min(50).max(120_000).default(10_000),
    /** How long a server that failed is skipped before being tried first again. */
    serverRetryMs: z.number().int().min(0).max(3_600_000).default(30_000),
    /**
     * Which users are synced to the cloud AND may be written: users outside scope are never synced,
     * and writes to them answer user_not_found (as for a user that does not exist).
     */
    scope: z
      .object({
        /** Subtrees holding the users (default [baseDn]); each must be baseDn or below it. */
        baseDns: z.array(DnSchema).min(1).max(32).optional(),
        /** LDAP filter the users must also match, e.g. `(departmentNumber=42)`. */
        filter: z.string().min(3).max(4096).optional(),
        /** DN of a group (groupOfNames / groupOfUniqueNames / posixGroup): only its direct members. */
        group: DnSchema.optional(),
        /**
         * How membership of `group` is checked: `member` (default) reads the group's member,
         * uniqueMember and memberUid values (one extra read per lookup); `memberOf` adds
         * `(memberOf=<group>)` to the user search (needs slapd's memberof overlay).
         */
        groupMembership: z.enum(['member', 'memberOf']).default('member'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((c) => (c.bindPassword === undefined) !== (c.bindPasswordFile === undefined), {
    message: 'exactly one of bindPassword or bindPasswordFile is required',
    path: ['bindPassword'],
  });

/** The adapter's configuration as written (defaults not yet applied). */
export type OpenLdapConfig = z.input<typeof OpenLdapConfigSchema>;

/** The configuration after parsing: defaults applied, password loaded, filter parsed, frozen. */
export interface ResolvedOpenLdapConfig
  extends Readonly<
    Omit<z.output<typeof OpenLdapConfigSchema>, 'bindPassword' | 'bindPasswordFile' | 'defaultPolicyDn'>
  > {
  readonly bindPassword: string;
  readonly defaultPolicyDn: string;
  /** userFilter parsed once (a syntax error fails at start-up, not per request). */
  readonly parsedUserFilter: Filter | undefined;
  /** caFile's content. */
  readonly ca: Buffer | undefined;
  /** The users in scope, resolved (see OpenLdapConfigSchema.scope). */
  readonly resolvedScope: ResolvedOpenLdapScope;
}

export interface ResolvedOpenLdapScope {
  /** Subtrees searched (default [baseDn]). */
  readonly baseDns: readonly string[];
  readonly group: string | undefined;
  readonly groupMembership: 'member' | 'memberOf';
  /** Conditions of every user search besides the identity: userFilter, scope.filter, memberOf. */
  readonly extraFilters: readonly Filter[];
}

/** Configurations this module parsed (a plain object that merely looks resolved is parsed again). */
const resolvedConfigs = new WeakSet<object>();

/** True for a configuration returned by parseOpenLdapConfig. */
export function isResolvedOpenLdapConfig(c: unknown): c is ResolvedOpenLdapConfig {
  return typeof c === 'object' && c !== null && resolvedConfigs.has(c);
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

/**
 * Parse a configuration (from a file or from code). Throws TypeError naming the dotted option path
 * (`directory.urls.0: ...`), DirectoryError `insecure_transport` for plain LDAP that is not allowed.
 */
export function parseOpenLdapConfig(
  input: unknown,
  opts: { prefix?: string; log?: Logger } = {},
): ResolvedOpenLdapConfig {
  const at = (path: (string | number | symbol)[]) =>
    [opts.prefix, ...path.map(String)].filter((p) => p !== undefined && p !== '').join('.') || '(config)';
  const parsed = OpenLdapConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(`${at(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;

  let bindPassword = cfg.bindPassword;
  if (bindPassword === undefined && cfg.bindPasswordFile !== undefined) {
    try {
      bindPassword = readFileSync(cfg.bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new TypeError(`${at(['bindPasswordFile'])}: cannot be read`, { cause: err });
    }
    if (bindPassword === '') throw new TypeError(`${at(['bindPasswordFile'])}: is empty`);
  }
  if (bindPassword === undefined) throw new TypeError(`${at(['bindPassword'])}: required`);

  let parsedUserFilter: Filter | undefined;
  if (cfg.userFilter !== undefined) {
    try {
      parsedUserFilter = FilterParser.parseString(cfg.userFilter);
    } catch (err) {
      throw new TypeError(`${at(['userFilter'])}: not a valid LDAP filter`, { cause: err });
    }
  }

  const resolvedScope = resolveScope(cfg, parsedUserFilter, at);

  let ca: Buffer | undefined;
  if (cfg.caFile !== undefined) {
    try {
      ca = readFileSync(cfg.caFile);
    } catch (err) {
      throw new TypeError(`${at(['caFile'])}: cannot be read`, { cause: err });
    }
  }

  cfg.urls.forEach((url, i) => {
    const u = new URL(url);
    if (u.protocol === 'ldaps:' || cfg.startTls) return;
    if (!cfg.allowPlaintext) {
      throw new DirectoryError(
        'insecure_transport',
        `${at(['urls', i])}: plain ldap:// sends passwords in clear; use ldaps:// or startTls: true`,
      );
    }
    if (!isLoopback(u.hostname)) {
      throw new DirectoryError(
        'insecure_transport',
        `${at(['urls', i])}: allowPlaintext is only honoured for loopback servers`,
      );
    }
  });

  if (cfg.allowPlaintext && cfg.urls.some((u) => u.toLowerCase().startsWith('ldap:')) && !cfg.startTls) {
    opts.log?.warn(
      '!!! OPENLDAP PLAINTEXT: passwords travel UNENCRYPTED to the directory (allowPlaintext, loopback test server only) !!!',
      {
        urls: cfg.urls,
      },
    );
  }
  if (cfg.dangerouslySkipTlsVerification) {
    opts.log?.warn(
      '!!! OPENLDAP TLS VERIFICATION DISABLED: any server, or anyone in between, can read every password (dangerouslySkipTlsVerification) !!!',
      {
        urls: cfg.urls,
      },
    );
  }

  const { bindPassword: _p, bindPasswordFile: _f, ...rest } = cfg;
  const resolved: ResolvedOpenLdapConfig = Object.freeze({
    ...rest,
    urls: Object.freeze([...cfg.urls]) as string[],
    protectedGroups: Object.freeze([...cfg.protectedGroups]) as string[],
    bindPassword,
    defaultPolicyDn: cfg.defaultPolicyDn ?? `cn=default,ou=policies,${cfg.baseDn}`,
    parsedUserFilter,
    ca,
    resolvedScope,
  } satisfies ResolvedOpenLdapConfig);
  resolvedConfigs.add(resolved);
  return resolved;
}

/**
 * A configuration as the adapter and its doctor take it: as it is when parseOpenLdapConfig already
 * resolved it, else parsed with its options named under `directory.`. Throws as parseOpenLdapConfig.
 */
export function resolveOpenLdapConfig(
  config: OpenLdapConfig | ResolvedOpenLdapConfig,
  log: Logger | undefined,
): ResolvedOpenLdapConfig {
  return isResolvedOpenLdapConfig(config) ? config : parseOpenLdapConfig(config, { prefix: 'directory', log });
}

function resolveScope(
  cfg: z.output<typeof OpenLdapConfigSchema>,
  userFilter: Filter | undefined,
  at: (path: (string | number)[]) => string,
): ResolvedOpenLdapScope {
  const base = normalizeDn(cfg.baseDn);
  const baseDns = cfg.scope?.baseDns ?? [cfg.baseDn];
  const normalized = baseDns.map(normalizeDn);
  normalized.forEach((n, i) => {
    if (!isDnWithin(n, base)) throw new TypeError(`${at(['scope', 'baseDns', i])}: must be baseDn or below it`);
    if (normalized.some((m, j) => j !== i && isDnWithin(n, m) && (n !== m || j < i))) {
      throw new TypeError(`${at(['scope', 'baseDns', i])}: repeats or lies inside another entry of scope.baseDns`);
    }
  });
  const extraFilters: Filter[] = [];
  if (userFilter) extraFilters.push(userFilter);
  if (cfg.scope?.filter !== undefined) {
    const parsed = parseScopeFilter(cfg.scope.filter);
    if (typeof parsed === 'string') throw new TypeError(`${at(['scope', 'filter'])}: ${parsed}`);
    extraFilters.push(parsed);
  }
  const group = cfg.scope?.group;
  const groupMembership = cfg.scope?.groupMembership ?? 'member';
  if (group !== undefined && groupMembership === 'memberOf')
    extraFilters.push(new EqualityFilter({ attribute: 'memberOf', value: group }));
  return Object.freeze({
    baseDns: Object.freeze([...baseDns]),
    group,
    groupMembership,
    extraFilters: Object.freeze(extraFilters),
  });
}
