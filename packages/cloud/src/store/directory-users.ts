/**
 * The directory_users repository: the tenant's on-premises users as the sync last saw them (keyed
 * by anchor) and cloud-only users, with the cloud password hash (never returned in a CloudUser).
 * Lookups by login, UPN or mail use the stored `*_lc` keys, made by lookupKey here so that writing
 * and finding agree. Which user wins an ambiguous lookup, when a synced user changed and when a
 * cloud hash is stale are users/directory-users.ts's rules; this module only stores and finds.
 */
import { z } from 'zod';
import { flagColumn, jsonColumn, rowOf, selectAll, selectOne, type Db, type SqlValue } from './db.js';

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

/** The lookup key of a login, UPN or mail (what the `*_lc` columns hold). */
export const lookupKey = (s: string): string => s.normalize('NFC').toLowerCase();

/** The columns a synced user's values are stored in (insertSyncedUser, updateSyncedUser), as read. */
const USER_VALUES = {
  login: z.string(),
  upn: z.string().nullable(),
  mail: z.string().nullable(),
  display_name: z.string().nullable(),
  mobile: z.string().nullable(),
  enabled: flagColumn,
  locked: flagColumn,
  must_change: flagColumn,
  protected: flagColumn,
  password_last_set_at: z.string().nullable(),
};

const Users = rowOf({
  id: z.string(),
  tenant_id: z.string(),
  source: z.enum(['onprem', 'cloud']),
  anchor: z.string().nullable(),
  ...USER_VALUES,
  groups_json: jsonColumn(z.array(z.string()), () => []),
  deleted_at: z.coerce.number().nullable(),
  updated_at: z.coerce.number(),
});

const UserRow = Users.schema.transform(
  ({ upn, groupsJson, ...u }): CloudUser => ({ ...u, userPrincipalName: upn, groups: groupsJson }),
);

/** Users not deleted whose login, UPN or mail has this lookup key (any order). */
export async function findUsersByKey(db: Db, tenantId: string, key: string): Promise<CloudUser[]> {
  return selectAll(
    db,
    UserRow,
    `SELECT ${Users.columns} FROM directory_users WHERE tenant_id = ? AND deleted_at IS NULL AND (login_lc = ? OR upn_lc = ? OR mail_lc = ?)`,
    [tenantId, key, key, key],
  );
}

/** The tenant's user whose `column` holds `value`, deleted or not. */
async function userWhere(db: Db, tenantId: string, column: 'id' | 'anchor', value: string): Promise<CloudUser | null> {
  const sql = `SELECT ${Users.columns} FROM directory_users WHERE tenant_id = ? AND ${column} = ?`;
  return (await selectOne(db, UserRow, sql, [tenantId, value])) ?? null;
}

/** A user by id, deleted or not. */
export function getUserById(db: Db, tenantId: string, id: string): Promise<CloudUser | null> {
  return userWhere(db, tenantId, 'id', id);
}

/** A synced user by anchor, deleted or not. */
export function getUserByAnchor(db: Db, tenantId: string, anchor: string): Promise<CloudUser | null> {
  return userWhere(db, tenantId, 'anchor', anchor);
}

export interface ListUsersQuery {
  search?: string;
  source?: 'onprem' | 'cloud';
  locked?: boolean;
  mustChange?: boolean;
  limit: number;
  offset: number;
}

/** The user flags a query names or a patch sets. */
export interface UserFlags {
  locked?: boolean | undefined;
  mustChange?: boolean | undefined;
}

/** `locked = ?` and/or `must_change = ?` with their values, for the flags given (to filter on or to set). */
function flagTerms(flags: UserFlags): { terms: string[]; params: SqlValue[] } {
  const terms: string[] = [];
  const params: SqlValue[] = [];
  for (const [column, value] of [
    ['locked', flags.locked],
    ['must_change', flags.mustChange],
  ] as const) {
    if (value === undefined) continue;
    terms.push(`${column} = ?`);
    params.push(value ? 1 : 0);
  }
  return { terms, params };
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
  const flags = flagTerms(q);
  where.push(...flags.terms);
  params.push(...flags.params);
  const w = where.join(' AND ');
  const countRow = await db.one(`SELECT COUNT(*) AS n FROM directory_users WHERE ${w}`, params);
  const total = Number(countRow?.n ?? 0);
  const users = await selectAll(
    db,
    UserRow,
    `SELECT ${Users.columns} FROM directory_users WHERE ${w} ORDER BY login_lc, id LIMIT ? OFFSET ?`,
    [...params, q.limit, q.offset],
  );
  return { users, total };
}

/** Whether the tenant has any user rows (synced or cloud-only, deleted or not). */
export async function hasUsers(db: Db, tenantId: string): Promise<boolean> {
  return (await db.one('SELECT id FROM directory_users WHERE tenant_id = ? LIMIT 1', [tenantId])) !== undefined;
}

// ---- sync writes ---------------------------------------------------------------------------

/** What the sync writes of a synced user (`groupsJson`: the JSON array of its groups, compared as text). */
export interface SyncedUserValues {
  login: string;
  upn: string | null;
  mail: string | null;
  displayName: string | null;
  mobile: string | null;
  dn: string | null;
  enabled: boolean;
  locked: boolean;
  mustChange: boolean;
  protected: boolean;
  passwordLastSetAt: string | null;
  groupsJson: string;
}

/** A synced user's row as the sync compares it. */
export interface StoredSyncedUser extends SyncedUserValues {
  id: string;
  anchor: string;
  passwordHashSetAt: string | null;
  deletedAt: number | null;
}

const Synced = rowOf({
  id: z.string(),
  anchor: z.string(),
  ...USER_VALUES,
  dn: z.string().nullable(),
  groups_json: z.string(),
  password_hash_set_at: z.string().nullable(),
  deleted_at: z.coerce.number().nullable(),
});

/** Statements name at most this many anchors (SQLite's and PostgreSQL's parameter limits are far above). */
const CHUNK = 400;

/** The tenant's synced rows (deleted ones included) for these anchors, by anchor. */
export async function syncedUsersByAnchor(
  db: Db,
  tenantId: string,
  anchors: readonly string[],
): Promise<Map<string, StoredSyncedUser>> {
  const out = new Map<string, StoredSyncedUser>();
  for (let i = 0; i < anchors.length; i += CHUNK) {
    const chunk = anchors.slice(i, i + CHUNK);
    const rows = await selectAll(
      db,
      Synced.schema,
      `SELECT ${Synced.columns} FROM directory_users WHERE tenant_id = ? AND anchor IN (${chunk.map(() => '?').join(', ')})`,
      [tenantId, ...chunk],
    );
    for (const r of rows) out.set(r.anchor, r);
  }
  return out;
}

/**
 * A synced user's values in the order insert and update list the columns: login, login_lc, upn,
 * upn_lc, mail, mail_lc, display_name, mobile, dn, enabled, locked, must_change, protected,
 * password_last_set_at, groups_json.
 */
const syncedValues = (v: SyncedUserValues): SqlValue[] => [
  v.login,
  lookupKey(v.login),
  v.upn,
  v.upn === null ? null : lookupKey(v.upn),
  v.mail,
  v.mail === null ? null : lookupKey(v.mail),
  v.displayName,
  v.mobile,
  v.dn,
  v.enabled ? 1 : 0,
  v.locked ? 1 : 0,
  v.mustChange ? 1 : 0,
  v.protected ? 1 : 0,
  v.passwordLastSetAt,
  v.groupsJson,
];

/** Insert a new synced user. */
export async function insertSyncedUser(
  db: Db,
  tenantId: string,
  id: string,
  anchor: string,
  v: SyncedUserValues,
  now: number,
): Promise<void> {
  await db.exec(
    `INSERT INTO directory_users (id, tenant_id, source, anchor, login, login_lc, upn, upn_lc, mail, mail_lc, display_name, mobile, dn,
       enabled, locked, must_change, protected, password_last_set_at, groups_json, created_at, updated_at)
     VALUES (?, ?, 'onprem', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [id, tenantId, anchor, ...syncedValues(v), now, now],
  );
}

/** Overwrite a synced user's values and undelete it; `dropCloudHash` also forgets its cloud hash. */
export async function updateSyncedUser(
  db: Db,
  id: string,
  v: SyncedUserValues,
  o: { dropCloudHash: boolean },
  now: number,
): Promise<void> {
  await db.exec(
    `UPDATE directory_users SET login = ?, login_lc = ?, upn = ?, upn_lc = ?, mail = ?, mail_lc = ?, display_name = ?, mobile = ?, dn = ?,
       enabled = ?, locked = ?, must_change = ?, protected = ?, password_last_set_at = ?, groups_json = ?, updated_at = ?, deleted_at = NULL
       ${o.dropCloudHash ? ', password_hash = NULL, password_hash_set_at = NULL' : ''}
     WHERE id = ?`,
    [...syncedValues(v), now, id],
  );
}

/** Mark live synced users deleted by anchor, forgetting their cloud hash. Returns how many were live. */
export async function markDeleted(db: Db, tenantId: string, anchors: readonly string[], now: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < anchors.length; i += CHUNK) {
    const chunk = anchors.slice(i, i + CHUNK);
    const r = await db.exec(
      `UPDATE directory_users SET deleted_at = ?, updated_at = ?, password_hash = NULL, password_hash_set_at = NULL
       WHERE tenant_id = ? AND source = 'onprem' AND deleted_at IS NULL AND anchor IN (${chunk.map(() => '?').join(', ')})`,
      [now, now, tenantId, ...chunk],
    );
    n += r.changes;
  }
  return n;
}

/** Anchors of the tenant's live synced users. */
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

// ---- cloud hash and state ------------------------------------------------------------------

export interface StoredCloudHash {
  hash: string | null;
  /** When the hash was made (ISO). */
  hashSetAt: string | null;
  /** The directory's own passwordLastSetAt (ISO). */
  passwordLastSetAt: string | null;
}

const Hashes = rowOf({
  password_hash: z.string().nullable(),
  password_hash_set_at: z.string().nullable(),
  password_last_set_at: z.string().nullable(),
});

const HashRow = Hashes.schema.transform(
  ({ passwordHash, passwordHashSetAt, ...r }): StoredCloudHash => ({
    ...r,
    hash: passwordHash,
    hashSetAt: passwordHashSetAt,
  }),
);

/** The cloud hash of a user not deleted, with the times that say whether it is stale; null without such a user. */
export async function getCloudHash(db: Db, tenantId: string, userId: string): Promise<StoredCloudHash | null> {
  const sql = `SELECT ${Hashes.columns} FROM directory_users WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL`;
  return (await selectOne(db, HashRow, sql, [tenantId, userId])) ?? null;
}

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

/** Set the locked and/or must-change flags of a user (a patch without either writes nothing). */
export async function setUserFlags(
  db: Db,
  tenantId: string,
  userId: string,
  patch: UserFlags,
  now: number,
): Promise<void> {
  const { terms, params } = flagTerms(patch);
  if (terms.length === 0) return;
  await db.exec(`UPDATE directory_users SET ${terms.join(', ')}, updated_at = ? WHERE tenant_id = ? AND id = ?`, [
    ...params,
    now,
    tenantId,
    userId,
  ]);
}

/** Insert a cloud-only user (enabled, no anchor, no groups) with its password hash made at `now`. */
export async function insertCloudUser(
  db: Db,
  tenantId: string,
  id: string,
  input: { login: string; displayName?: string; mail?: string; mobile?: string; passwordHash: string },
  now: number,
): Promise<void> {
  const at = new Date(now).toISOString();
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
      at,
      input.passwordHash,
      at,
      now,
      now,
    ],
  );
}
