/**
 * Cloud users: the tenant's on-premises users as the sync last saw them (source `onprem`, keyed by
 * their immutable anchor) and cloud-only users (source `cloud`, no anchor). Lookups by login, UPN
 * or mail are case-insensitive (ASCII and Unicode lower-casing of the stored `*_lc` keys). Deleted
 * users keep their row with `deletedAt`, so an anchor that comes back is the same user; lookups skip
 * them. The cloud password hash (cloud_hash sign-in) is kept here but never leaves this module in a
 * CloudUser.
 */
import type { SyncedUser } from '@writeback/protocol';
import { z } from 'zod';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import { parseRow, parseRows, type Db, type SqlValue } from '../store/index.js';

export interface CloudUser {
  id: string;
  tenantId: string;
  source: 'onprem' | 'cloud';
  anchor: string | null;
  login: string;
  userPrincipalName: string | null;
  mail: string | null;
  displayName: string | null;
  mobile: string | null;
  enabled: boolean;
  locked: boolean;
  mustChange: boolean;
  protected: boolean;
  passwordLastSetAt: string | null;
  groups: string[];
  deletedAt: number | null;
  updatedAt: number;
}

const COLUMNS =
  'id, tenant_id, source, anchor, login, upn, mail, display_name, mobile, enabled, locked, must_change, protected, password_last_set_at, groups_json, deleted_at, updated_at';

const bool = z.union([z.number(), z.boolean()]).transform((v) => v === true || v === 1);
const Groups = z.string().transform((s): string[] => {
  try {
    const v: unknown = JSON.parse(s);
    const parsed = z.array(z.string()).safeParse(v);
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
});

const UserRow = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    source: z.enum(['onprem', 'cloud']),
    anchor: z.string().nullable(),
    login: z.string(),
    upn: z.string().nullable(),
    mail: z.string().nullable(),
    display_name: z.string().nullable(),
    mobile: z.string().nullable(),
    enabled: bool,
    locked: bool,
    must_change: bool,
    protected: bool,
    password_last_set_at: z.string().nullable(),
    groups_json: Groups,
    deleted_at: z.number().nullable(),
    updated_at: z.number(),
  })
  .transform(
    (r): CloudUser => ({
      id: r.id,
      tenantId: r.tenant_id,
      source: r.source,
      anchor: r.anchor,
      login: r.login,
      userPrincipalName: r.upn,
      mail: r.mail,
      displayName: r.display_name,
      mobile: r.mobile,
      enabled: r.enabled,
      locked: r.locked,
      mustChange: r.must_change,
      protected: r.protected,
      passwordLastSetAt: r.password_last_set_at,
      groups: r.groups_json,
      deletedAt: r.deleted_at,
      updatedAt: r.updated_at,
    }),
  );

/** The lookup key of a login, UPN or mail. */
export const lookupKey = (s: string): string => s.normalize('NFC').toLowerCase();

/** A user by login, UPN or mail (case-insensitive), not deleted. A login match wins over UPN, UPN over mail. */
export async function findUserByLogin(db: Db, tenantId: string, login: string): Promise<CloudUser | null> {
  const key = lookupKey(login);
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM directory_users WHERE tenant_id = ? AND deleted_at IS NULL AND (login_lc = ? OR upn_lc = ? OR mail_lc = ?)`,
    [tenantId, key, key, key],
  );
  const rank = (u: CloudUser) =>
    lookupKey(u.login) === key ? 0 : u.userPrincipalName !== null && lookupKey(u.userPrincipalName) === key ? 1 : 2;
  const users = parseRows(UserRow, rows).sort((a, b) => rank(a) - rank(b));
  const best = users[0];
  if (!best) return null;
  // Two users sharing a mail address are not a sign-in identity: only an unambiguous match counts.
  const second = users[1];
  if (second && rank(second) === rank(best)) return null;
  return best;
}

export async function getUserById(db: Db, tenantId: string, id: string): Promise<CloudUser | null> {
  const row = await db.one(`SELECT ${COLUMNS} FROM directory_users WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
  return row ? parseRow(UserRow, row) : null;
}

export async function getUserByAnchor(db: Db, tenantId: string, anchor: string): Promise<CloudUser | null> {
  const row = await db.one(`SELECT ${COLUMNS} FROM directory_users WHERE tenant_id = ? AND anchor = ?`, [
    tenantId,
    anchor,
  ]);
  return row ? parseRow(UserRow, row) : null;
}

export interface ListUsersQuery {
  search?: string;
  source?: 'onprem' | 'cloud';
  locked?: boolean;
  mustChange?: boolean;
  limit: number;
  offset: number;
}

/** Users not deleted, by login; `search` matches the start of login, UPN, mail or display name (case-insensitive). */
export async function listUsers(
  db: Db,
  tenantId: string,
  q: ListUsersQuery,
): Promise<{ users: CloudUser[]; total: number }> {
  const where: string[] = ['tenant_id = ?', 'deleted_at IS NULL'];
  const params: SqlValue[] = [tenantId];
  if (q.search !== undefined && q.search !== '') {
    // LIKE wildcards in the search are matched literally.
    const like = `${lookupKey(q.search).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(
      "(login_lc LIKE ? ESCAPE '\\' OR upn_lc LIKE ? ESCAPE '\\' OR mail_lc LIKE ? ESCAPE '\\' OR LOWER(display_name) LIKE ? ESCAPE '\\')",
    );
    params.push(like, like, like, like);
  }
  if (q.source) {
    where.push('source = ?');
    params.push(q.source);
  }
  if (q.locked !== undefined) {
    where.push('locked = ?');
    params.push(q.locked ? 1 : 0);
  }
  if (q.mustChange !== undefined) {
    where.push('must_change = ?');
    params.push(q.mustChange ? 1 : 0);
  }
  const w = where.join(' AND ');
  const countRow = await db.one(`SELECT COUNT(*) AS n FROM directory_users WHERE ${w}`, params);
  const total = Number(countRow?.n ?? 0);
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM directory_users WHERE ${w} ORDER BY login_lc, id LIMIT ? OFFSET ?`,
    [...params, q.limit, q.offset],
  );
  return { users: parseRows(UserRow, rows), total };
}

/** Whether the tenant has any user rows (synced or cloud-only). */
export async function hasUsers(db: Db, tenantId: string): Promise<boolean> {
  return (await db.one('SELECT id FROM directory_users WHERE tenant_id = ? LIMIT 1', [tenantId])) !== undefined;
}

// ------------------------------------------------------------------ sync writes (engine only)

/** What one upsert did: created, updated (something changed), unchanged. */
export type UpsertEffect = 'created' | 'updated' | 'unchanged';

const SyncRow = z.object({
  id: z.string(),
  login: z.string(),
  upn: z.string().nullable(),
  mail: z.string().nullable(),
  display_name: z.string().nullable(),
  mobile: z.string().nullable(),
  dn: z.string().nullable(),
  enabled: bool,
  locked: bool,
  must_change: bool,
  protected: bool,
  password_last_set_at: z.string().nullable(),
  groups_json: z.string(),
  password_hash_set_at: z.string().nullable(),
  deleted_at: z.number().nullable(),
  anchor: z.string().nullable(),
});

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
  const anchors = [...byAnchor.keys()];
  const existing = new Map<string, z.infer<typeof SyncRow>>();
  for (let i = 0; i < anchors.length; i += 400) {
    const chunk = anchors.slice(i, i + 400);
    const rows = await db.query(
      `SELECT id, anchor, login, upn, mail, display_name, mobile, dn, enabled, locked, must_change, protected, password_last_set_at, groups_json, password_hash_set_at, deleted_at
       FROM directory_users WHERE tenant_id = ? AND anchor IN (${chunk.map(() => '?').join(', ')})`,
      [tenantId, ...chunk],
    );
    for (const r of parseRows(SyncRow, rows)) if (r.anchor !== null) existing.set(r.anchor, r);
  }
  for (const u of byAnchor.values()) {
    const groups = JSON.stringify(u.groups ?? []);
    const v = {
      login: u.login,
      upn: u.userPrincipalName ?? null,
      mail: u.mail ?? null,
      display_name: u.displayName ?? null,
      mobile: u.mobile ?? null,
      dn: u.dn ?? null,
      password_last_set_at: u.passwordLastSetAt,
    };
    const lc = [
      lookupKey(v.login),
      v.upn === null ? null : lookupKey(v.upn),
      v.mail === null ? null : lookupKey(v.mail),
    ];
    const flags = [u.enabled ? 1 : 0, u.locked ? 1 : 0, u.mustChange ? 1 : 0, u.protected ? 1 : 0];
    const prev = existing.get(u.anchor);
    if (!prev) {
      await db.exec(
        `INSERT INTO directory_users (id, tenant_id, source, anchor, login, login_lc, upn, upn_lc, mail, mail_lc, display_name, mobile, dn,
           enabled, locked, must_change, protected, password_last_set_at, groups_json, created_at, updated_at)
         VALUES (?, ?, 'onprem', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          newId('u'),
          tenantId,
          u.anchor,
          v.login,
          lc[0] ?? null,
          v.upn,
          lc[1] ?? null,
          v.mail,
          lc[2] ?? null,
          v.display_name,
          v.mobile,
          v.dn,
          ...flags,
          v.password_last_set_at,
          groups,
          now,
          now,
        ],
      );
      counts.created++;
      continue;
    }
    const same =
      prev.deleted_at === null &&
      prev.login === v.login &&
      prev.upn === v.upn &&
      prev.mail === v.mail &&
      prev.display_name === v.display_name &&
      prev.mobile === v.mobile &&
      prev.dn === v.dn &&
      prev.enabled === u.enabled &&
      prev.locked === u.locked &&
      prev.must_change === u.mustChange &&
      prev.protected === u.protected &&
      prev.password_last_set_at === v.password_last_set_at &&
      prev.groups_json === groups;
    if (same) {
      counts.unchanged++;
      continue;
    }
    const stale = prev.password_hash_set_at !== null && hashIsStale(v.password_last_set_at, prev.password_hash_set_at);
    await db.exec(
      `UPDATE directory_users SET login = ?, login_lc = ?, upn = ?, upn_lc = ?, mail = ?, mail_lc = ?, display_name = ?, mobile = ?, dn = ?,
         enabled = ?, locked = ?, must_change = ?, protected = ?, password_last_set_at = ?, groups_json = ?, updated_at = ?, deleted_at = NULL
         ${stale ? ', password_hash = NULL, password_hash_set_at = NULL' : ''}
       WHERE id = ?`,
      [
        v.login,
        lc[0] ?? null,
        v.upn,
        lc[1] ?? null,
        v.mail,
        lc[2] ?? null,
        v.display_name,
        v.mobile,
        v.dn,
        ...flags,
        v.password_last_set_at,
        groups,
        now,
        prev.id,
      ],
    );
    if (prev.deleted_at !== null) counts.created++;
    else counts.updated++;
  }
  return counts;
}

/** Mark synced users deleted by anchor (their cloud hash goes with them). Returns how many were live. */
export async function markDeleted(db: Db, tenantId: string, anchors: readonly string[], now: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < anchors.length; i += 400) {
    const chunk = anchors.slice(i, i + 400);
    const r = await db.exec(
      `UPDATE directory_users SET deleted_at = ?, updated_at = ?, password_hash = NULL, password_hash_set_at = NULL
       WHERE tenant_id = ? AND source = 'onprem' AND deleted_at IS NULL AND anchor IN (${chunk.map(() => '?').join(', ')})`,
      [now, now, tenantId, ...chunk],
    );
    n += r.changes;
  }
  return n;
}

/** Anchors of the tenant's live synced users (deletion detection). */
export async function liveAnchors(db: Db, tenantId: string): Promise<Set<string>> {
  const rows = await db.query(
    "SELECT anchor FROM directory_users WHERE tenant_id = ? AND source = 'onprem' AND deleted_at IS NULL",
    [tenantId],
  );
  const out = new Set<string>();
  for (const r of rows) if (typeof r.anchor === 'string') out.add(r.anchor);
  return out;
}

export async function countLiveUsers(db: Db, tenantId: string, source: 'onprem' | 'cloud' = 'onprem'): Promise<number> {
  const row = await db.one(
    'SELECT COUNT(*) AS n FROM directory_users WHERE tenant_id = ? AND source = ? AND deleted_at IS NULL',
    [tenantId, source],
  );
  return Number(row?.n ?? 0);
}

// ------------------------------------------------------------------ cloud hash (sign-in)

const HashRow = z.object({
  password_hash: z.string().nullable(),
  password_hash_set_at: z.string().nullable(),
  password_last_set_at: z.string().nullable(),
});

/** The stored cloud hash of a user, null when there is none or it is stale. */
export async function usableCloudHash(db: Db, tenantId: string, userId: string): Promise<string | null> {
  const row = await db.one(
    'SELECT password_hash, password_hash_set_at, password_last_set_at FROM directory_users WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL',
    [tenantId, userId],
  );
  if (!row) return null;
  const r = parseRow(HashRow, row);
  if (r.password_hash === null || hashIsStale(r.password_last_set_at, r.password_hash_set_at)) return null;
  return r.password_hash;
}

/**
 * Record the cloud hash of a password just written (or verified) through the cloud (null: the
 * password changed but no hash is kept, e.g. a temporary one). `setAt`: the time of the write (ISO),
 * at or after the directory's own passwordLastSetAt for it.
 */
export async function setCloudHash(
  db: Db,
  tenantId: string,
  userId: string,
  hash: string | null,
  setAt: string,
  now: number,
): Promise<void> {
  await db.exec(
    'UPDATE directory_users SET password_hash = ?, password_hash_set_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?',
    [hash, setAt, now, tenantId, userId],
  );
}

/** Reflect an outcome the cloud just caused (a reset, a change, an unlock) before the next sync shows it. */
export async function noteUserState(
  db: Db,
  tenantId: string,
  userId: string,
  patch: { locked?: boolean; mustChange?: boolean },
  now: number,
): Promise<void> {
  const sets: string[] = [];
  const params: SqlValue[] = [];
  if (patch.locked !== undefined) {
    sets.push('locked = ?');
    params.push(patch.locked ? 1 : 0);
  }
  if (patch.mustChange !== undefined) {
    sets.push('must_change = ?');
    params.push(patch.mustChange ? 1 : 0);
  }
  if (sets.length === 0) return;
  await db.exec(`UPDATE directory_users SET ${sets.join(', ')}, updated_at = ? WHERE tenant_id = ? AND id = ?`, [
    ...params,
    now,
    tenantId,
    userId,
  ]);
}

/** A cloud-only user (no directory behind it; its password lives only in the cloud). */
export async function createCloudUser(
  db: Db,
  tenantId: string,
  input: { login: string; displayName?: string; mail?: string; mobile?: string; passwordHash: string },
  now: number,
): Promise<CloudUser> {
  const id = newId('u');
  await db.exec(
    `INSERT INTO directory_users (id, tenant_id, source, anchor, login, login_lc, upn, upn_lc, mail, mail_lc, display_name, mobile, dn,
       enabled, locked, must_change, protected, password_last_set_at, groups_json, password_hash, password_hash_set_at, created_at, updated_at)
     VALUES (?, ?, 'cloud', NULL, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, 1, 0, 0, 0, ?, '[]', ?, ?, ?, ?)`,
    [
      id,
      tenantId,
      input.login,
      lookupKey(input.login),
      input.mail ?? null,
      input.mail ? lookupKey(input.mail) : null,
      input.displayName ?? null,
      input.mobile ?? null,
      new Date(now).toISOString(),
      input.passwordHash,
      new Date(now).toISOString(),
      now,
      now,
    ],
  );
  const u = await getUserById(db, tenantId, id);
  if (!u) throw new CloudError('internal_error', 'cloud user vanished after insert');
  return u;
}
