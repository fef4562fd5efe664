/**
 * Cloud users: the tenant's on-premises users as the sync last saw them (source `onprem`, keyed by
 * their immutable anchor) and cloud-only users (source `cloud`, no anchor). Lookups by login, UPN
 * or mail are case-insensitive (ASCII and Unicode lower-casing of the stored `*_lc` keys). Deleted
 * users keep their row with `deletedAt`, so an anchor that comes back is the same user; lookups skip
 * them. The cloud password hash (cloud_hash sign-in) is kept here but never leaves this module in a
 * CloudUser.
 */
import type { SyncedUser } from '@writeback/protocol';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import {
  findUsersByKey,
  getCloudHash,
  getUserById,
  insertCloudUser,
  insertSyncedUser,
  lookupKey,
  setUserFlags,
  syncedUsersByAnchor,
  updateSyncedUser,
  type CloudUser,
  type SyncedUserValues,
} from '../store/directory-users.js';
import type { Db } from '../store/index.js';

// Lookups, listing and the plain writes are the repository's own (store/directory-users.ts).
export {
  countLiveUsers,
  getUserByAnchor,
  getUserById,
  hasUsers,
  listUsers,
  liveAnchors,
  lookupKey,
  markDeleted,
  setCloudHash,
  type CloudUser,
  type ListUsersQuery,
} from '../store/directory-users.js';

/** A user by login, UPN or mail (case-insensitive), not deleted. A login match wins over UPN, UPN over mail. */
export async function findUserByLogin(db: Db, tenantId: string, login: string): Promise<CloudUser | null> {
  const key = lookupKey(login);
  const rank = (u: CloudUser) =>
    lookupKey(u.login) === key ? 0 : u.userPrincipalName !== null && lookupKey(u.userPrincipalName) === key ? 1 : 2;
  const users = (await findUsersByKey(db, tenantId, key)).sort((a, b) => rank(a) - rank(b));
  const best = users[0];
  if (!best) return null;
  // Two users sharing a mail address are not a sign-in identity: only an unambiguous match counts.
  const second = users[1];
  if (second && rank(second) === rank(best)) return null;
  return best;
}

// ------------------------------------------------------------------ sync writes (engine only)

/** What one upsert did: created, updated (something changed), unchanged. */
export type UpsertEffect = 'created' | 'updated' | 'unchanged';

/** A cloud hash set within this margin of the directory's own time still matches it (clock rounding). */
export const HASH_TIME_TOLERANCE_MS = 1_000;

/** Whether the directory's passwordLastSetAt is later than the time the cloud hash was made: the hash is stale. */
export function hashIsStale(passwordLastSetAt: string | null, hashSetAt: string | null): boolean {
  if (hashSetAt === null) return true;
  if (passwordLastSetAt === null) return false;
  const dir = Date.parse(passwordLastSetAt);
  const mine = Date.parse(hashSetAt);
  if (!Number.isFinite(dir) || !Number.isFinite(mine)) return true;
  return dir > mine + HASH_TIME_TOLERANCE_MS;
}

const valuesOf = (u: SyncedUser): SyncedUserValues => ({
  login: u.login,
  upn: u.userPrincipalName ?? null,
  mail: u.mail ?? null,
  displayName: u.displayName ?? null,
  mobile: u.mobile ?? null,
  dn: u.dn ?? null,
  enabled: u.enabled,
  locked: u.locked,
  mustChange: u.mustChange,
  protected: u.protected,
  passwordLastSetAt: u.passwordLastSetAt,
  groupsJson: JSON.stringify(u.groups ?? []),
});

const sameValues = (a: SyncedUserValues, b: SyncedUserValues): boolean =>
  a.login === b.login &&
  a.upn === b.upn &&
  a.mail === b.mail &&
  a.displayName === b.displayName &&
  a.mobile === b.mobile &&
  a.dn === b.dn &&
  a.enabled === b.enabled &&
  a.locked === b.locked &&
  a.mustChange === b.mustChange &&
  a.protected === b.protected &&
  a.passwordLastSetAt === b.passwordLastSetAt &&
  a.groupsJson === b.groupsJson;

/**
 * Upsert a batch of synced users by anchor, inside the caller's transaction. Rows are read in one
 * query, then only new or changed users are written. A stale cloud hash (the directory reports a
 * later password set) is dropped here.
 */
export async function upsertSyncedUsers(
  db: Db,
  tenantId: string,
  users: readonly SyncedUser[],
  now: number,
): Promise<Record<UpsertEffect, number>> {
  const counts: Record<UpsertEffect, number> = { created: 0, updated: 0, unchanged: 0 };
  if (users.length === 0) return counts;
  // A batch may name an anchor twice (changed twice while pulled): the last one wins.
  const byAnchor = new Map<string, SyncedUser>();
  for (const u of users) byAnchor.set(u.anchor, u);
  const existing = await syncedUsersByAnchor(db, tenantId, [...byAnchor.keys()]);
  for (const u of byAnchor.values()) {
    const v = valuesOf(u);
    const prev = existing.get(u.anchor);
    if (!prev) {
      await insertSyncedUser(db, tenantId, newId('u'), u.anchor, v, now);
      counts.created++;
      continue;
    }
    if (prev.deletedAt === null && sameValues(prev, v)) {
      counts.unchanged++;
      continue;
    }
    const stale = prev.passwordHashSetAt !== null && hashIsStale(v.passwordLastSetAt, prev.passwordHashSetAt);
    await updateSyncedUser(db, prev.id, v, { dropCloudHash: stale }, now);
    if (prev.deletedAt !== null) counts.created++;
    else counts.updated++;
  }
  return counts;
}

// ------------------------------------------------------------------ cloud hash (sign-in)

/** The stored cloud hash of a user, null when there is none or it is stale. */
export async function usableCloudHash(db: Db, tenantId: string, userId: string): Promise<string | null> {
  const r = await getCloudHash(db, tenantId, userId);
  if (!r || r.hash === null || hashIsStale(r.passwordLastSetAt, r.hashSetAt)) return null;
  return r.hash;
}

/** Reflect an outcome the cloud just caused (a reset, a change, an unlock) before the next sync shows it. */
export const noteUserState = setUserFlags;

/** A cloud-only user (no directory behind it; its password lives only in the cloud). */
export async function createCloudUser(
  db: Db,
  tenantId: string,
  input: { login: string; displayName?: string; mail?: string; mobile?: string; passwordHash: string },
  now: number,
): Promise<CloudUser> {
  const id = newId('u');
  await insertCloudUser(db, tenantId, id, input, now);
  const u = await getUserById(db, tenantId, id);
  if (!u) throw new CloudError('internal_error', 'cloud user vanished after insert');
  return u;
}
