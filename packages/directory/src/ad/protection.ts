/**
 * Which AD accounts writeback must never write (issue 10, first High finding): `adminCount=1` alone
 * is not enough, because Samba never sets it for new members and Windows sets it only when SDProp
 * runs (up to 60 minutes later), so a user just added to Domain Admins looked like anyone else.
 *
 * Protected = adminCount=1, OR the domain's RID-500 account or krbtgt (RID 502), OR the account's
 * `tokenGroups` (every security group it is in, transitively, primary group included, as the DC
 * computes it for a logon) holds a built-in privileged group's well-known SID or one of the
 * tenant's extra groups. Pure functions only (no I/O): the adapter reads the attributes, this
 * module decides, so the rule can be tested on its own.
 */

/** Built-in (BUILTIN domain, S-1-5-32) groups whose members administer the domain or its DCs. */
export const PRIVILEGED_BUILTIN_SIDS: readonly string[] = Object.freeze([
  'S-1-5-32-544', // Administrators
  'S-1-5-32-548', // Account Operators
  'S-1-5-32-549', // Server Operators
  'S-1-5-32-550', // Print Operators
  'S-1-5-32-551', // Backup Operators
  'S-1-5-32-552', // Replicator
]);

/**
 * RIDs of privileged groups relative to a domain SID (S-1-5-21-a-b-c-RID). Matched in any domain
 * of the forest: Enterprise Admins, Schema Admins and Enterprise Key Admins live in the forest
 * root domain, whose SID differs from the user's own domain.
 */
export const PRIVILEGED_DOMAIN_GROUP_RIDS: readonly number[] = Object.freeze([
  512, // Domain Admins
  518, // Schema Admins
  519, // Enterprise Admins
  520, // Group Policy Creator Owners
  521, // Read-only Domain Controllers
  526, // Key Admins
  527, // Enterprise Key Admins
]);

/** RIDs of accounts that are protected themselves: the built-in Administrator and krbtgt. */
export const PROTECTED_ACCOUNT_RIDS: readonly number[] = Object.freeze([500, 502]);

/** A SID's string form; the RID is the last sub-authority. */
const SID_RE = /^S-1-(\d{1,15})((?:-\d{1,10}){1,15})$/;
const DOMAIN_SID_RE = /^S-1-5-21-\d{1,10}-\d{1,10}-\d{1,10}-(\d{1,10})$/;

/**
 * Binary SID (as in objectSid and tokenGroups) → `S-1-…`; null when the bytes are not a SID.
 * Layout: revision (1), sub-authority count (1), identifier authority (6, big-endian),
 * sub-authorities (4 each, little-endian).
 */
export function sidToString(bytes: Buffer): string | null {
  if (bytes.length < 8) return null;
  const revision = bytes[0];
  const count = bytes[1] ?? 0;
  if (revision !== 1 || count > 15 || bytes.length !== 8 + 4 * count) return null;
  const authority = bytes.readUIntBE(2, 6);
  let s = `S-1-${authority}`;
  for (let i = 0; i < count; i++) s += `-${bytes.readUInt32LE(8 + 4 * i)}`;
  return s;
}

/** Binary SIDs (tokenGroups values) → their string forms; values that are not SIDs are skipped. */
export function sidStrings(values: readonly Buffer[]): string[] {
  return values.flatMap((b) => {
    const s = sidToString(b);
    return s === null ? [] : [s];
  });
}

/** `S-1-…` → binary SID (for LDAP equality filters on objectSid); null when not a SID. */
export function sidFromString(text: string): Buffer | null {
  const m = SID_RE.exec(text.trim().toUpperCase());
  if (!m) return null;
  const authority = Number(m[1]);
  const subs = (m[2] ?? '').slice(1).split('-').map(Number);
  if (!Number.isSafeInteger(authority) || authority >= 2 ** 48) return null;
  if (subs.some((n) => n > 0xffffffff)) return null;
  const out = Buffer.alloc(8 + 4 * subs.length);
  out[0] = 1;
  out[1] = subs.length;
  out.writeUIntBE(authority, 2, 6);
  for (const [i, n] of subs.entries()) out.writeUInt32LE(n, 8 + 4 * i);
  return out;
}

/** The canonical form of a SID string (`s-1-5-32-544` → `S-1-5-32-544`), or null. */
export function normalizeSid(text: string): string | null {
  const b = sidFromString(text);
  return b ? sidToString(b) : null;
}

/** The RID of a domain account or group SID (S-1-5-21-a-b-c-RID); null for other SIDs. */
export function domainRid(sid: string): number | null {
  const m = DOMAIN_SID_RE.exec(sid);
  return m ? Number(m[1]) : null;
}

/** The SID names a built-in privileged group (BUILTIN or a domain's privileged RID). */
export function isPrivilegedGroupSid(sid: string): boolean {
  if (PRIVILEGED_BUILTIN_SIDS.includes(sid)) return true;
  const rid = domainRid(sid);
  return rid !== null && PRIVILEGED_DOMAIN_GROUP_RIDS.includes(rid);
}

/** What the adapter read about one account. */
export interface ProtectionFacts {
  /** adminCount (0 when absent). */
  adminCount: number;
  /** The account's objectSid, string form (undefined when not readable). */
  sid: string | undefined;
  /** tokenGroups, string form: the account's security groups, transitively. */
  tokenGroups: readonly string[];
  /** The tenant's extra protected groups, as canonical SID strings. */
  extraGroupSids: ReadonlySet<string>;
}

/** Why an account is protected (for logs and the doctor; never shown to the person). */
export type ProtectionReason =
  | { kind: 'admin_count' }
  | { kind: 'builtin_account'; rid: number }
  | { kind: 'privileged_group'; sid: string }
  | { kind: 'extra_group'; sid: string };

/** The first reason the account is protected, or null when it may be written. */
export function protectionReason(f: ProtectionFacts): ProtectionReason | null {
  if (f.adminCount === 1) return { kind: 'admin_count' };
  const rid = f.sid === undefined ? null : domainRid(f.sid);
  if (rid !== null && PROTECTED_ACCOUNT_RIDS.includes(rid)) return { kind: 'builtin_account', rid };
  for (const sid of f.tokenGroups) {
    if (isPrivilegedGroupSid(sid)) return { kind: 'privileged_group', sid };
    if (f.extraGroupSids.has(sid)) return { kind: 'extra_group', sid };
  }
  return null;
}

/** A configured extra protected group: by SID or by the group's DN. */
export type ExtraGroup = { by: 'sid'; sid: string } | { by: 'dn'; dn: string };

/** Parse one `protectedGroups` entry: a SID string (`S-1-…`) or a DN; null when neither. */
export function parseExtraGroup(text: string): ExtraGroup | null {
  const t = text.trim();
  if (/^S-/i.test(t)) {
    const sid = normalizeSid(t);
    return sid ? { by: 'sid', sid } : null;
  }
  if (!t.includes('=') || [...t].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) return null;
  return { by: 'dn', dn: t };
}
