/**
 * The admins and admin_sessions repository: tenant admin accounts (login, password hash, role,
 * disabled or not) and their API sessions (`wbs_` tokens, only the secret's hash stored). Checking
 * passwords and tokens, and what a role may do, is auth/'s; logins arrive here already normalised.
 */
import { z } from 'zod';
import { parseRow, type Db } from './db.js';

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

const AdminRow = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    login: z.string(),
    password_hash: z.string(),
    role: z.enum(ADMIN_ROLES),
    created_at: z.coerce.number(),
    disabled_at: z.coerce.number().nullable(),
  })
  .transform(
    (r): StoredAdmin => ({
      passwordHash: r.password_hash,
      disabled: r.disabled_at !== null,
      admin: { id: r.id, tenantId: r.tenant_id, login: r.login, role: r.role, createdAt: r.created_at },
    }),
  );

const COLUMNS = 'id, tenant_id, login, password_hash, role, created_at, disabled_at';

/** Insert an account; a login taken in the tenant is a `conflict`. */
export async function insertAdmin(db: Db, admin: Admin, passwordHash: string): Promise<void> {
  await db.exec(
    'INSERT INTO admins (id, tenant_id, login, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [admin.id, admin.tenantId, admin.login, passwordHash, admin.role, admin.createdAt],
  );
}

/** The tenant's account with this (normalised) login, enabled or not. */
export async function getAdminByLogin(db: Db, tenantId: string, login: string): Promise<StoredAdmin | undefined> {
  const row = await db.one(`SELECT ${COLUMNS} FROM admins WHERE tenant_id = ? AND login = ?`, [tenantId, login]);
  return row ? parseRow(AdminRow, row) : undefined;
}

/** An account by id, in any tenant, enabled or not (callers check both). */
export async function getAdminById(db: Db, adminId: string): Promise<StoredAdmin | undefined> {
  const row = await db.one(`SELECT ${COLUMNS} FROM admins WHERE id = ?`, [adminId]);
  return row ? parseRow(AdminRow, row) : undefined;
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

// ---- API sessions --------------------------------------------------------------------------

export interface StoredAdminSession {
  id: string;
  secretHash: string;
  expiresAt: number;
  revokedAt: number | null;
  admin: Admin;
  adminDisabled: boolean;
}

const SessionRow = z
  .object({
    id: z.string(),
    secret_hash: z.string(),
    expires_at: z.coerce.number(),
    revoked_at: z.coerce.number().nullable(),
    admin_id: z.string(),
    tenant_id: z.string(),
    login: z.string(),
    role: z.enum(ADMIN_ROLES),
    created_at: z.coerce.number(),
    disabled_at: z.coerce.number().nullable(),
  })
  .transform(
    (r): StoredAdminSession => ({
      id: r.id,
      secretHash: r.secret_hash,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      admin: { id: r.admin_id, tenantId: r.tenant_id, login: r.login, role: r.role, createdAt: r.created_at },
      adminDisabled: r.disabled_at !== null,
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
  const row = await db.one(
    `SELECT s.id, s.secret_hash, s.expires_at, s.revoked_at, a.id AS admin_id, a.tenant_id, a.login, a.role, a.created_at, a.disabled_at
       FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id = ?`,
    [sessionId],
  );
  return row ? parseRow(SessionRow, row) : undefined;
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
