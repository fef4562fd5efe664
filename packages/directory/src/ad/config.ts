/**
 * Configuration of the Active Directory adapter (also Samba AD): which DCs, how to reach them
 * securely, which service account, which users are in scope. Parsed once at start-up into a frozen
 * object; bad options throw a TypeError naming the dotted option path (as the other adapters), and a
 * transport that would send passwords in clear throws DirectoryError('insecure_transport').
 */
import { readFileSync } from 'node:fs';
import { ExtensibleFilter, FilterParser, type Filter } from 'ldapts';
import { z } from 'zod';
import { DirectoryError } from '../errors.js';
import { isDnWithin, normalizeDn, parseScopeFilter } from '../sync-window.js';
import { parseExtraGroup, type ExtraGroup } from './protection.js';

export const AdConfigSchema = z
  .object({
    kind: z.literal('ad'),
    /** DCs, tried in this order (then by health). `ldaps://host[:636]`, or `ldap://host[:389]` with startTls. */
    urls: z.array(z.string().min(1).max(512)).min(1).max(32),
    /** Upgrade `ldap://` connections with StartTLS before binding. */
    startTls: z.boolean().optional(),
    /** Service account: a DN or a UPN (`svc@example.com`). */
    bindDn: z.string().min(1).max(1024),
    bindPassword: z.string().min(1).max(1024).optional(),
    /** File holding the service account's password (trailing newline ignored). */
    bindPasswordFile: z.string().min(1).max(4096).optional(),
    /** Users are searched below this DN. */
    baseDn: z.string().min(1).max(1024),
    /** Extra LDAP filter narrowing the users in scope, e.g. `(memberOf=CN=Writeback,OU=Groups,DC=...)`. */
    userFilter: z.string().min(3).max(4096).optional(),
    /** PEM file with the CA(s) that signed the DCs' certificates (default: Node's CA store). */
    caFile: z.string().min(1).max(4096).optional(),
    /** Name to verify in the DC certificate when it differs from the URL's host. */
    tlsServerName: z.string().min(1).max(255).optional(),
    /** Accept any certificate. Only for a lab: a man in the middle then reads every password. */
    dangerouslySkipTlsVerification: z.boolean().optional(),
    /**
     * Allow writes to protected accounts (adminCount=1, the built-in privileged groups, RID 500,
     * krbtgt, protectedGroups; see protection.ts). Only for a lab.
     */
    allowProtected: z.boolean().optional(),
    /**
     * The tenant's extra protected groups, each a SID (`S-1-5-21-…-1107`) or a group DN: their
     * members, nested groups included, are refused like Domain Admins. Security groups only
     * (the check reads the account's tokenGroups).
     */
    protectedGroups: z.array(z.string().min(3).max(1024)).max(64).optional(),
    /** Bound service-account connections kept open. */
    poolSize: z.number().int().min(1).max(64).default(4),
    /** Per LDAP operation and per connection attempt, ms. */
    timeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /** `auto`: send LDAP_SERVER_POLICY_HINTS on resets that ask for history when the DC advertises it. */
    policyHints: z.enum(['auto', 'off']).default('auto'),
    /**
     * Which users are synced to the cloud AND may be written: users outside scope are never synced,
     * and writes to them answer user_not_found (as for a user that does not exist).
     */
    scope: z
      .object({
        /** Subtrees holding the users (default [baseDn]); each must be baseDn or below it. */
        baseDns: z.array(z.string().min(3).max(1024)).min(1).max(32).optional(),
        /** LDAP filter the users must also match, e.g. `(department=Sales)`. */
        filter: z.string().min(3).max(4096).optional(),
        /** DN of a group: only its members, nested groups included (LDAP_MATCHING_RULE_IN_CHAIN). */
        group: z.string().min(3).max(1024).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** What a caller writes (defaults optional). */
export type AdConfigInput = z.input<typeof AdConfigSchema>;
/** Parsed config, defaults applied. */
export type AdConfig = z.output<typeof AdConfigSchema>;

/** The config after start-up resolution: password read, URLs checked, filter parsed. */
export interface ResolvedAdConfig {
  readonly urls: readonly AdUrl[];
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly baseDn: string;
  readonly userFilter: Filter | undefined;
  readonly userFilterText: string | undefined;
  readonly ca: Buffer | undefined;
  readonly caFile: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly skipTlsVerification: boolean;
  readonly allowProtected: boolean;
  /** protectedGroups, parsed (SIDs canonical). */
  readonly protectedGroups: readonly ExtraGroup[];
  readonly poolSize: number;
  readonly timeoutMs: number;
  readonly policyHints: 'auto' | 'off';
  readonly scope: ResolvedAdScope;
}

/** The users in scope (see AdConfigSchema.scope). */
export interface ResolvedAdScope {
  /** Subtrees searched (default [baseDn]). */
  readonly baseDns: readonly string[];
  /** scope.filter, parsed. */
  readonly filter: Filter | undefined;
  /** scope.group's DN. */
  readonly group: string | undefined;
  /** Everything but the subtree as one filter object: userFilter AND scope.filter AND group membership. */
  readonly extraFilters: readonly Filter[];
}

export interface AdUrl {
  /** As configured (for logs and health). */
  readonly url: string;
  /** Connect with StartTLS on a plain socket (true) or TLS from the first byte (false). */
  readonly startTls: boolean;
}

/**
 * Parse and resolve an AD config. Throws TypeError for bad options (the message starts with the
 * option path) and DirectoryError('insecure_transport') for `ldap://` without StartTLS.
 */
export function resolveAdConfig(input: unknown): ResolvedAdConfig {
  const parsed = AdConfigSchema.safeParse(input);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? ['ad', ...first.path.map(String)].join('.') : 'ad';
    throw new TypeError(`${where}: ${first?.message ?? 'invalid AD configuration'}`);
  }
  const c = parsed.data;

  const urls: AdUrl[] = c.urls.map((raw, i) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new TypeError(`ad.urls.${i}: not a URL`);
    }
    if (u.pathname !== '' && u.pathname !== '/') throw new TypeError(`ad.urls.${i}: give scheme, host and port only`);
    if (u.protocol === 'ldaps:') {
      if (c.startTls) throw new TypeError(`ad.urls.${i}: startTls is for ldap:// URLs; ldaps:// is already TLS`);
      return { url: raw, startTls: false };
    }
    if (u.protocol === 'ldap:') {
      if (!c.startTls) {
        throw new DirectoryError(
          'insecure_transport',
          `ad.urls.${i}: ${raw} is plain LDAP; Active Directory refuses password writes without encryption and the service password would travel in clear. Use ldaps:// or set startTls: true`,
        );
      }
      return { url: raw, startTls: true };
    }
    throw new TypeError(`ad.urls.${i}: scheme must be ldaps:// or ldap:// (with startTls)`);
  });

  if ((c.bindPassword === undefined) === (c.bindPasswordFile === undefined)) {
    throw new TypeError('ad.bindPassword: give exactly one of bindPassword and bindPasswordFile');
  }
  let bindPassword = c.bindPassword ?? '';
  if (c.bindPasswordFile !== undefined) {
    try {
      bindPassword = readFileSync(c.bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new TypeError(`ad.bindPasswordFile: cannot read ${c.bindPasswordFile}`, { cause: err });
    }
    if (bindPassword === '') throw new TypeError('ad.bindPasswordFile: file is empty');
  }

  let userFilter: Filter | undefined;
  if (c.userFilter !== undefined) {
    try {
      userFilter = FilterParser.parseString(c.userFilter);
    } catch (err) {
      throw new TypeError('ad.userFilter: not a valid LDAP filter', { cause: err });
    }
  }

  const scope = resolveScope(c, userFilter);

  let ca: Buffer | undefined;
  if (c.caFile !== undefined) {
    try {
      ca = readFileSync(c.caFile);
    } catch (err) {
      throw new TypeError(`ad.caFile: cannot read ${c.caFile}`, { cause: err });
    }
    if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
      throw new TypeError('ad.caFile: no PEM certificate in the file');
    }
  }

  return Object.freeze({
    urls: Object.freeze(urls),
    bindDn: c.bindDn,
    bindPassword,
    baseDn: c.baseDn,
    userFilter,
    userFilterText: c.userFilter,
    ca,
    caFile: c.caFile,
    tlsServerName: c.tlsServerName,
    skipTlsVerification: c.dangerouslySkipTlsVerification === true,
    allowProtected: c.allowProtected === true,
    protectedGroups: Object.freeze(
      (c.protectedGroups ?? []).map((text, i) => {
        const g = parseExtraGroup(text);
        if (!g)
          throw new TypeError(`ad.protectedGroups.${i}: must be a SID (S-1-5-…) or the distinguished name of a group`);
        return Object.freeze(g);
      }),
    ),
    poolSize: c.poolSize,
    timeoutMs: c.timeoutMs,
    policyHints: c.policyHints,
    scope,
  });
}

/** LDAP_MATCHING_RULE_IN_CHAIN: transitive group membership. */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';

function resolveScope(c: AdConfig, userFilter: Filter | undefined): ResolvedAdScope {
  const base = normalizeDn(c.baseDn);
  const baseDns = (c.scope?.baseDns ?? [c.baseDn]).map((dn, i) => {
    if (!dn.includes('=') || hasControlChars(dn))
      throw new TypeError(`ad.scope.baseDns.${i}: must be a distinguished name`);
    if (!isDnWithin(normalizeDn(dn), base)) throw new TypeError(`ad.scope.baseDns.${i}: must be baseDn or below it`);
    return dn;
  });
  const normalized = baseDns.map(normalizeDn);
  normalized.forEach((n, i) => {
    if (normalized.some((m, j) => j !== i && isDnWithin(n, m) && (n !== m || j < i))) {
      throw new TypeError(`ad.scope.baseDns.${i}: repeats or lies inside another entry of scope.baseDns`);
    }
  });
  let filter: Filter | undefined;
  if (c.scope?.filter !== undefined) {
    const parsed = parseScopeFilter(c.scope.filter);
    if (typeof parsed === 'string') throw new TypeError(`ad.scope.filter: ${parsed}`);
    filter = parsed;
  }
  const group = c.scope?.group;
  if (group !== undefined && (!group.includes('=') || hasControlChars(group))) {
    throw new TypeError('ad.scope.group: must be the distinguished name of a group');
  }
  const extraFilters: Filter[] = [];
  if (userFilter) extraFilters.push(userFilter);
  if (filter) extraFilters.push(filter);
  if (group !== undefined)
    extraFilters.push(new ExtensibleFilter({ matchType: 'memberOf', rule: IN_CHAIN_RULE, value: group }));
  return Object.freeze({ baseDns: Object.freeze(baseDns), filter, group, extraFilters: Object.freeze(extraFilters) });
}

function hasControlChars(s: string): boolean {
  return [...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
}
