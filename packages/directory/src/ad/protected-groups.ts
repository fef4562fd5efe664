/**
 * The sync side of the protection rule (protection.ts): sync reads thousands of users in subtree
 * searches, where tokenGroups cannot be read (a constructed attribute, base scope only), so it
 * finds the privileged groups' DNs by their well-known SIDs once and asks the DC which users of a
 * window are transitive members (LDAP_MATCHING_RULE_IN_CHAIN). The result only feeds the synced
 * copy's `protected` flag for the pages; writes are decided by the adapter from tokenGroups.
 */
import { EqualityFilter, ExtensibleFilter, OrFilter, type Client, type Entry, type Filter } from 'ldapts';
import { IN_CHAIN_RULE, type ResolvedAdConfig } from './config.js';
import { bytes, int } from '../ldap/entry.js';
import { classifyLdapError } from './ldap-errors.js';
import {
  domainRid,
  PRIVILEGED_BUILTIN_SIDS,
  PRIVILEGED_DOMAIN_GROUP_RIDS,
  PROTECTED_ACCOUNT_RIDS,
  sidFromString,
  sidToString,
} from './protection.js';

/** The protected groups as this DC knows them. */
export interface ProtectedGroups {
  /** DNs of the privileged groups present in this domain and of the configured extra groups. */
  readonly dns: readonly string[];
  /** A configured group DN did not resolve: every user counts as protected (as for writes). */
  readonly everyone: boolean;
  /** The configured group DNs that did not resolve. */
  readonly missing: readonly string[];
  /** The domain's SID (for RID 500/502), when readable. */
  readonly domainSid: string | null;
}

/** Attributes sync must read for isProtectedEntry. */
export const PROTECTION_SYNC_ATTRS = ['adminCount', 'objectSid', 'primaryGroupID'];

/**
 * Resolve the privileged groups' DNs from their SIDs (one search in the domain naming context) and
 * check that configured DNs exist. Transport failures propagate; a refused read of a configured
 * DN counts as missing.
 */
export async function resolveProtectedGroups(
  client: Client,
  namingContext: string,
  cfg: ResolvedAdConfig,
): Promise<ProtectedGroups> {
  const root = (
    await client.search(namingContext, {
      scope: 'base',
      attributes: ['objectSid'],
      explicitBufferAttributes: ['objectSid'],
    })
  ).searchEntries[0];
  const rootSid = root ? bytes(root, 'objectSid') : undefined;
  const domainSid = rootSid ? sidToString(rootSid) : null;
  const sids = [
    ...PRIVILEGED_BUILTIN_SIDS,
    ...(domainSid ? PRIVILEGED_DOMAIN_GROUP_RIDS.map((rid) => `${domainSid}-${rid}`) : []),
    ...cfg.protectedGroups.flatMap((g) => (g.by === 'sid' ? [g.sid] : [])),
  ];
  const filters = sids.flatMap((s) => {
    const b = sidFromString(s);
    return b ? [new EqualityFilter({ attribute: 'objectSid', value: b })] : [];
  });
  const found = (
    await client.search(namingContext, {
      scope: 'sub',
      filter: new OrFilter({ filters }),
      attributes: ['1.1'],
    })
  ).searchEntries;
  const dns = found.map((e) => e.dn);
  const missing: string[] = [];
  for (const g of cfg.protectedGroups) {
    if (g.by !== 'dn') continue;
    let exists = false;
    try {
      exists = (await client.search(g.dn, { scope: 'base', attributes: ['1.1'] })).searchEntries.length > 0;
    } catch (err) {
      if (classifyLdapError(err).kind !== 'result') throw err;
    }
    if (exists) dns.push(g.dn);
    else missing.push(g.dn);
  }
  return Object.freeze({
    dns: Object.freeze(dns),
    everyone: missing.length > 0,
    missing: Object.freeze(missing),
    domainSid,
  });
}

/**
 * All protected users as one filter (for the doctor's count): adminCount=1, RID 500/502, a
 * privileged primary group, or transitive membership of a protected group.
 */
export function protectedUserFilter(groups: ProtectedGroups): Filter {
  const filters: Filter[] = [new EqualityFilter({ attribute: 'adminCount', value: '1' })];
  for (const rid of PROTECTED_ACCOUNT_RIDS) {
    const b = groups.domainSid ? sidFromString(`${groups.domainSid}-${rid}`) : null;
    if (b) filters.push(new EqualityFilter({ attribute: 'objectSid', value: b }));
  }
  for (const rid of PRIVILEGED_DOMAIN_GROUP_RIDS)
    filters.push(new EqualityFilter({ attribute: 'primaryGroupID', value: String(rid) }));
  if (groups.dns.length > 0) filters.push(inChainFilter(groups.dns));
  return new OrFilter({ filters });
}

/** Users that are transitive members of any of the groups (to AND with a user search). */
export function inChainFilter(groupDns: readonly string[]): Filter {
  return new OrFilter({
    filters: groupDns.map((dn) => new ExtensibleFilter({ matchType: 'memberOf', rule: IN_CHAIN_RULE, value: dn })),
  });
}

/**
 * The rule for a synced entry: adminCount=1, RID 500/502, a privileged primary group, or a member
 * (by the in-chain search) of a protected group. A primary group nested in a privileged group is
 * only seen at write time (tokenGroups).
 */
export function isProtectedEntry(e: Entry, inChainMember: boolean, groups: ProtectedGroups): boolean {
  if (groups.everyone || inChainMember || int(e, 'adminCount') === 1) return true;
  const sid = bytes(e, 'objectSid');
  const rid = sid ? domainRid(sidToString(sid) ?? '') : null;
  if (rid !== null && PROTECTED_ACCOUNT_RIDS.includes(rid)) return true;
  const primary = int(e, 'primaryGroupID');
  return primary !== undefined && PRIVILEGED_DOMAIN_GROUP_RIDS.includes(primary);
}
