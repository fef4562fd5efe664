/**
 * The admins and admin_sessions repository: tenant admin accounts (login, password hash, role,
 * disabled or not) and their API sessions (`wbs_` tokens, only the secret's hash stored). Checking
 * passwords and tokens, and what a role may do, is auth/'s; logins arrive here already normalised.
 * The one rule kept here is that a tenant never loses its last enabled `admin` (changeAdmin).
 * A removed account keeps its row, disabled, with `removed_at` set (audit records name actors by id).
 */
import { z } from 'zod';
import { rowOf, selectAll, selectOne, type Db } from './db.js';

/** The roles the table accepts (its CHECK constraint). */
export const ADMIN_ROLES = ['admin', 'helpdesk'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface Admin {
  id: string;
  tenantId: string;
  login: string;
  role: AdminRole;
  createdAt: number;
}

/** An admin account as stored: the account, its password hash, and whether it is disabled. */
export interface StoredAdmin {
  admin: Admin;
  passwordHash: string;
  disabled: boolean;
}

/** The account's columns every query of an admin reads (with its id, which may come under another name). */
const ACCOUNT = {
  tenant_id: z.string(),
  login: z.string(),
  role: z.enum(ADMIN_ROLES),
  created_at: z.coerce.number(),
  disabled_at: z.coerce.number().nullable(),
};

const Accounts = rowOf({ id: z.string(), password_hash: z.string(), ...ACCOUNT });

const AdminRow = Accounts.schema.transform(
  ({ passwordHash, disabledAt, ...admin }): StoredAdmin => ({ admin, passwordHash, disabled: disabledAt !== null }),
);

/** Insert an account; a login taken in the tenant is a `conflict`. */
export async function insertAdmin(db: Db, admin: Admin, passwordHash: string): Promise<void> {
  await db.exec(
    'INSERT INTO admins (id, tenant_id, login, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [admin.id, admin.tenantId, admin.login, passwordHash, admin.role, admin.createdAt],
  );
}

/** The tenant's account with this (normalised) login, enabled or not. */
export async function getAdminByLogin(db: Db, tenantId: string, login: string): Promise<StoredAdmin | undefined> {
  return selectOne(db, AdminRow, `SELECT ${Accounts.columns} FROM admins WHERE tenant_id = ? AND login = ?`, [
    tenantId,
    login,
  ]);
}

/** An account by id, in any tenant, enabled or not (callers check both). */
export async function getAdminById(db: Db, adminId: string): Promise<StoredAdmin | undefined> {
  return selectOne(db, AdminRow, `SELECT ${Accounts.columns} FROM admins WHERE id = ?`, [adminId]);
}

/** Whether `adminId` is an account of the tenant (enabled or not). */
export async function adminExistsInTenant(db: Db, tenantId: string, adminId: string): Promise<boolean> {
  return (await db.one('SELECT id FROM admins WHERE id = ? AND tenant_id = ?', [adminId, tenantId])) !== undefined;
}

/** The tenant's admin logins by id (to show who acted, instead of an id). */
export async function adminLoginsOfTenant(db: Db, tenantId: string): Promise<Map<string, string>> {
  const rows = await db.query('SELECT id, login FROM admins WHERE tenant_id = ?', [tenantId]);
  return new Map(rows.map((r) => [String(r.id), String(r.login)]));
}

// ---- lifecycle (usecases/admins.ts) --------------------------------------------------------

/** An account as the admin list shows it (never a hash). */
export interface ListedAdmin {
  admin: Admin;
  disabledAt: number | null;
  /** Whether the admin has a confirmed authenticator. */
  secondFactor: boolean;
}

const ListedRow = rowOf({ id: z.string(), ...ACCOUNT, confirmed_at: z.coerce.number().nullable() }).schema.transform(
  ({ disabledAt, confirmedAt, ...admin }): ListedAdmin => ({ admin, disabledAt, secondFactor: confirmedAt !== null }),
);

const LISTED = `SELECT a.id, a.tenant_id, a.login, a.role, a.created_at, a.disabled_at, t.confirmed_at
  FROM admins a LEFT JOIN admin_totp t ON t.admin_id = a.id`;

/** The tenant's accounts that are not removed, by login. */
export async function listTenantAdmins(db: Db, tenantId: string): Promise<ListedAdmin[]> {
  return selectAll(db, ListedRow, `${LISTED} WHERE a.tenant_id = ? AND a.removed_at IS NULL ORDER BY a.login, a.id`, [
    tenantId,
  ]);
}

/** One account of the tenant that is not removed. */
export async function getListedAdmin(db: Db, tenantId: string, adminId: string): Promise<ListedAdmin | undefined> {
  return selectOne(db, ListedRow, `${LISTED} WHERE a.id = ? AND a.tenant_id = ? AND a.removed_at IS NULL`, [
    adminId,
    tenantId,
  ]);
}

/** What may change about an account: its role and/or enabled or not, or its removal (which disables it too). */
export type AdminChange = { role?: AdminRole | undefined; disabled?: boolean | undefined } | { remove: true };

export type AdminChangeResult =
  | { ok: true; before: ListedAdmin; after: ListedAdmin }
  | { ok: false; reason: 'not_found' | 'last_admin' };

/** An enabled account with the `admin` role: what a tenant must always keep one of. */
const isTenantAdmin = (a: ListedAdmin): boolean => a.admin.role === 'admin' && a.disabledAt === null;

/**
 * Apply one change to an account of the tenant that is not removed, unless it would leave the
 * tenant without an enabled `admin` (`last_admin`, nothing written). The check and the write are
 * one transaction that first takes the tenant's row (PostgreSQL: FOR UPDATE, held until commit;
 * SQLite: BEGIN IMMEDIATE already serialises writers), so two concurrent changes of a tenant's
 * admins are decided one after the other: demoting the last two admins at once cannot both succeed.
 */
export async function changeAdmin(
  db: Db,
  tenantId: string,
  adminId: string,
  change: AdminChange,
  now: number,
): Promise<AdminChangeResult> {
  return db.tx(async (t) => {
    if (t.engine === 'postgres') await t.query('SELECT id FROM tenants WHERE id = ? FOR UPDATE', [tenantId]);
    const before = await getListedAdmin(t, tenantId, adminId);
    if (!before) return { ok: false, reason: 'not_found' };
    const after: ListedAdmin =
      'remove' in change
        ? { ...before, disabledAt: before.disabledAt ?? now }
        : {
            ...before,
            admin: { ...before.admin, role: change.role ?? before.admin.role },
            disabledAt:
              change.disabled === undefined ? before.disabledAt : change.disabled ? (before.disabledAt ?? now) : null,
          };
    if (isTenantAdmin(before) && !isTenantAdmin(after)) {
      const others = await t.one(
        `SELECT COUNT(*) AS n FROM admins
          WHERE tenant_id = ? AND id <> ? AND role = 'admin' AND disabled_at IS NULL AND removed_at IS NULL`,
        [tenantId, adminId],
      );
      if (Number(others?.n ?? 0) === 0) return { ok: false, reason: 'last_admin' };
    }
    if ('remove' in change)
      await t.exec('UPDATE admins SET disabled_at = ?, removed_at = ? WHERE id = ?', [after.disabledAt, now, adminId]);
    else
      await t.exec('UPDATE admins SET role = ?, disabled_at = ? WHERE id = ?', [
        after.admin.role,
        after.disabledAt,
        adminId,
      ]);
    return { ok: true, before, after };
  });
}

// ---- API sessions --------------------------------------------------------------------------

export interface StoredAdminSession {
  id: string;
  secretHash: string;
  expiresAt: number;
  revokedAt: number | null;
  admin: Admin;
  adminDisabled: boolean;
}

const SessionRow = rowOf({
  id: z.string(),
  secret_hash: z.string(),
  expires_at: z.coerce.number(),
  revoked_at: z.coerce.number().nullable(),
  admin_id: z.string(),
  ...ACCOUNT,
}).schema.transform(
  ({ adminId, disabledAt, id, secretHash, expiresAt, revokedAt, ...account }): StoredAdminSession => ({
    id,
    secretHash,
    expiresAt,
    revokedAt,
    admin: { id: adminId, ...account },
    adminDisabled: disabledAt !== null,
  }),
);

export async function insertAdminSession(
  db: Db,
  s: { id: string; tenantId: string; adminId: string; secretHash: string; createdAt: number; expiresAt: number },
): Promise<void> {
  await db.exec(
    'INSERT INTO admin_sessions (id, tenant_id, admin_id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    [s.id, s.tenantId, s.adminId, s.secretHash, s.createdAt, s.expiresAt],
  );
}

/** A session with its account, whatever their state (the caller checks expiry, revocation, disabling). */
export async function getAdminSession(db: Db, sessionId: string): Promise<StoredAdminSession | undefined> {
  return selectOne(
    db,
    SessionRow,
    `SELECT s.id, s.secret_hash, s.expires_at, s.revoked_at, a.id AS admin_id, a.tenant_id, a.login, a.role, a.created_at, a.disabled_at
       FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id = ?`,
    [sessionId],
  );
}

/** Revoke every live API session of an admin. Returns how many. */
export async function revokeAdminSessions(db: Db, adminId: string, now: number): Promise<number> {
  return (
    await db.exec('UPDATE admin_sessions SET revoked_at = ? WHERE admin_id = ? AND revoked_at IS NULL', [now, adminId])
  ).changes;
}

/** Revoke one session (a revoked one keeps its first revocation time). */
export async function revokeAdminSession(db: Db, sessionId: string, now: number): Promise<void> {
  await db.exec('UPDATE admin_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, sessionId]);
}
