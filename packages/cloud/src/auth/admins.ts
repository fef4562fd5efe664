/**
 * Tenant admin accounts (login + scrypt password + role) and their short-lived sessions
 * (`wbs_<id>.<secret>`, usable as a Bearer token by the API and, later, by the pages).
 */
import { z } from 'zod';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import { parseRow, type Db } from '../store/index.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';
import { issueToken, parseToken, secretMatches } from './tokens.js';

export const ADMIN_ROLES = ['admin', 'helpdesk'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface Admin {
  id: string;
  tenantId: string;
  login: string;
  role: AdminRole;
  createdAt: number;
}

const AdminRow = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    login: z.string(),
    password_hash: z.string(),
    role: z.enum(ADMIN_ROLES),
    created_at: z.number(),
    disabled_at: z.number().nullable(),
  })
  .transform((r) => ({
    passwordHash: r.password_hash,
    disabled: r.disabled_at !== null,
    admin: { id: r.id, tenantId: r.tenant_id, login: r.login, role: r.role, createdAt: r.created_at } satisfies Admin,
  }));

/** Logins compare case-insensitively, like the directories they mirror. */
const normalLogin = (login: string): string => login.normalize('NFC').toLowerCase();

export async function createAdmin(
  db: Db,
  input: { tenantId: string; login: string; password: string; role: AdminRole },
  now: number,
): Promise<Admin> {
  const admin: Admin = {
    id: newId('adm'),
    tenantId: input.tenantId,
    login: normalLogin(input.login),
    role: input.role,
    createdAt: now,
  };
  const hash = await hashPassword(input.password);
  try {
    await db.exec(
      'INSERT INTO admins (id, tenant_id, login, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [admin.id, admin.tenantId, admin.login, hash, admin.role, now],
    );
  } catch (err) {
    if (err instanceof CloudError && err.code === 'conflict')
      throw new CloudError('conflict', 'an admin with this login exists in the tenant', { cause: err });
    throw err;
  }
  return admin;
}

/** Check a login and password; null for unknown login, wrong password or disabled account alike (same work for each). */
export async function verifyAdminCredentials(
  db: Db,
  tenantId: string,
  login: string,
  password: string,
): Promise<Admin | null> {
  const row = await db.one(
    'SELECT id, tenant_id, login, password_hash, role, created_at, disabled_at FROM admins WHERE tenant_id = ? AND login = ?',
    [tenantId, normalLogin(login)],
  );
  const rec = row ? parseRow(AdminRow, row) : undefined;
  const ok = await verifyPassword(password, rec?.passwordHash ?? (await dummyPasswordHash()));
  return ok && rec && !rec.disabled ? rec.admin : null;
}

export interface AdminSession {
  id: string;
  admin: Admin;
  expiresAt: number;
}

export async function createSession(
  db: Db,
  admin: Admin,
  ttlMs: number,
  now: number,
): Promise<{ token: string; expiresAt: number }> {
  const t = issueToken('wbs');
  const expiresAt = now + ttlMs;
  await db.exec(
    'INSERT INTO admin_sessions (id, tenant_id, admin_id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    [t.id, admin.tenantId, admin.id, t.secretHash, now, expiresAt],
  );
  return { token: t.token, expiresAt };
}

const SessionRow = z.object({
  id: z.string(),
  secret_hash: z.string(),
  expires_at: z.number(),
  revoked_at: z.number().nullable(),
  admin_id: z.string(),
  tenant_id: z.string(),
  login: z.string(),
  role: z.enum(ADMIN_ROLES),
  created_at: z.number(),
  disabled_at: z.number().nullable(),
});

export async function authenticateSession(db: Db, raw: string, now: number): Promise<AdminSession | null> {
  const parsed = parseToken('wbs', raw);
  if (!parsed) return null;
  const row = await db.one(
    `SELECT s.id, s.secret_hash, s.expires_at, s.revoked_at, a.id AS admin_id, a.tenant_id, a.login, a.role, a.created_at, a.disabled_at
       FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id = ?`,
    [parsed.id],
  );
  const rec = row ? parseRow(SessionRow, row) : undefined;
  if (!secretMatches(parsed.secret, rec?.secret_hash) || !rec) return null;
  if (rec.revoked_at !== null || rec.expires_at <= now || rec.disabled_at !== null) return null;
  return {
    id: rec.id,
    expiresAt: rec.expires_at,
    admin: { id: rec.admin_id, tenantId: rec.tenant_id, login: rec.login, role: rec.role, createdAt: rec.created_at },
  };
}

/** Whether `adminId` is an admin account of the tenant (enabled or not). */
export async function adminOfTenant(db: Db, tenantId: string, adminId: string): Promise<boolean> {
  return (await db.one('SELECT id FROM admins WHERE id = ? AND tenant_id = ?', [adminId, tenantId])) !== undefined;
}

/** Revoke every API session of an admin (its web sessions are web/session.ts's). Returns how many. */
export async function revokeAdminSessions(db: Db, adminId: string, now: number): Promise<number> {
  return (
    await db.exec('UPDATE admin_sessions SET revoked_at = ? WHERE admin_id = ? AND revoked_at IS NULL', [now, adminId])
  ).changes;
}

export async function revokeSession(db: Db, sessionId: string, now: number): Promise<void> {
  await db.exec('UPDATE admin_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, sessionId]);
}
