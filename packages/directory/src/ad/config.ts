/**
 * Configuration of the Active Directory adapter (also Samba AD): which DCs, how to reach them
 * securely, which service account, which users are in scope. Parsed once at start-up into a frozen
 * object; bad options throw DirectoryError('invalid_config') naming the dotted option path, and a
 * transport that would send passwords in clear throws DirectoryError('insecure_transport').
 */
import { readFileSync } from 'node:fs';
import { FilterParser, type Filter } from 'ldapts';
import { z } from 'zod';
import { DirectoryError } from '../errors.js';

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
    /** Allow writes to accounts with adminCount=1 (Domain Admins and other protected groups). */
    allowProtected: z.boolean().optional(),
    /** Bound service-account connections kept open. */
    poolSize: z.number().int().min(1).max(64).default(4),
    /** Per LDAP operation and per connection attempt, ms. */
    timeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /** `auto`: send LDAP_SERVER_POLICY_HINTS on resets that ask for history when the DC advertises it. */
    policyHints: z.enum(['auto', 'off']).default('auto'),
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
  readonly poolSize: number;
  readonly timeoutMs: number;
  readonly policyHints: 'auto' | 'off';
}

export interface AdUrl {
  /** As configured (for logs and health). */
  readonly url: string;
  /** Connect with StartTLS on a plain socket (true) or TLS from the first byte (false). */
  readonly startTls: boolean;
}

/**
 * Parse and resolve an AD config. Throws DirectoryError('invalid_config') for bad options (message
 * names the option path) and DirectoryError('insecure_transport') for `ldap://` without StartTLS.
 */
export function resolveAdConfig(input: unknown): ResolvedAdConfig {
  const parsed = AdConfigSchema.safeParse(input);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? ['ad', ...first.path.map(String)].join('.') : 'ad';
    throw new DirectoryError('invalid_config', `${where}: ${first?.message ?? 'invalid AD configuration'}`);
  }
  const c = parsed.data;

  const urls: AdUrl[] = c.urls.map((raw, i) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new DirectoryError('invalid_config', `ad.urls.${i}: not a URL`);
    }
    if (u.pathname !== '' && u.pathname !== '/') throw new DirectoryError('invalid_config', `ad.urls.${i}: give scheme, host and port only`);
    if (u.protocol === 'ldaps:') {
      if (c.startTls) throw new DirectoryError('invalid_config', `ad.urls.${i}: startTls is for ldap:// URLs; ldaps:// is already TLS`);
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
    throw new DirectoryError('invalid_config', `ad.urls.${i}: scheme must be ldaps:// or ldap:// (with startTls)`);
  });

  if ((c.bindPassword === undefined) === (c.bindPasswordFile === undefined)) {
    throw new DirectoryError('invalid_config', 'ad.bindPassword: give exactly one of bindPassword and bindPasswordFile');
  }
  let bindPassword = c.bindPassword ?? '';
  if (c.bindPasswordFile !== undefined) {
    try {
      bindPassword = readFileSync(c.bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new DirectoryError('invalid_config', `ad.bindPasswordFile: cannot read ${c.bindPasswordFile}`, { cause: err });
    }
    if (bindPassword === '') throw new DirectoryError('invalid_config', 'ad.bindPasswordFile: file is empty');
  }

  let userFilter: Filter | undefined;
  if (c.userFilter !== undefined) {
    try {
      userFilter = FilterParser.parseString(c.userFilter);
    } catch (err) {
      throw new DirectoryError('invalid_config', 'ad.userFilter: not a valid LDAP filter', { cause: err });
    }
  }

  let ca: Buffer | undefined;
  if (c.caFile !== undefined) {
    try {
      ca = readFileSync(c.caFile);
    } catch (err) {
      throw new DirectoryError('invalid_config', `ad.caFile: cannot read ${c.caFile}`, { cause: err });
    }
    if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
      throw new DirectoryError('invalid_config', 'ad.caFile: no PEM certificate in the file');
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
    poolSize: c.poolSize,
    timeoutMs: c.timeoutMs,
    policyHints: c.policyHints,
  });
}
