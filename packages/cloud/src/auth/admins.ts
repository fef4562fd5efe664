/**
 * Tenant admin accounts (login + scrypt password + role) and their short-lived sessions
 * (`wbs_<id>.<secret>`, usable as a Bearer token by the API and, later, by the pages).
 */
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import {
  adminExistsInTenant,
  getAdminByLogin,
  getAdminSession,
  insertAdmin,
  insertAdminSession,
  revokeAdminSession,
  revokeAdminSessions as revokeStoredSessions,
  type Admin,
  type AdminRole,
} from '../store/admins.js';
import { getAdminTotp } from '../store/admin-totp.js';
import type { Db } from '../store/index.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';
import { issueToken, parseToken, secretMatches } from './tokens.js';

export { ADMIN_ROLES, type Admin, type AdminRole } from '../store/admins.js';

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
    await insertAdmin(db, admin, hash);
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
  const rec = await getAdminByLogin(db, tenantId, normalLogin(login));
  const ok = await verifyPassword(password, rec?.passwordHash ?? (await dummyPasswordHash()));
  return ok && rec && !rec.disabled ? rec.admin : null;
}

export interface AdminSession {
  id: string;
  admin: Admin;
  expiresAt: number;
  /**
   * The admin has not enrolled an authenticator yet: the session may only enrol one (issue 10).
   * Read from the factor on every request, so the same session is full once enrolment is confirmed.
   */
  enrolOnly: boolean;
}

export async function createSession(
  db: Db,
  admin: Admin,
  ttlMs: number,
  now: number,
): Promise<{ token: string; expiresAt: number }> {
  const t = issueToken('wbs');
  const expiresAt = now + ttlMs;
  await insertAdminSession(db, {
    id: t.id,
    tenantId: admin.tenantId,
    adminId: admin.id,
    secretHash: t.secretHash,
    createdAt: now,
    expiresAt,
  });
  return { token: t.token, expiresAt };
}

export async function authenticateSession(db: Db, raw: string, now: number): Promise<AdminSession | null> {
  const parsed = parseToken('wbs', raw);
  if (!parsed) return null;
  const rec = await getAdminSession(db, parsed.id);
  if (!secretMatches(parsed.secret, rec?.secretHash) || !rec) return null;
  if (rec.revokedAt !== null || rec.expiresAt <= now || rec.adminDisabled) return null;
  const factor = await getAdminTotp(db, rec.admin.id);
  return { id: rec.id, expiresAt: rec.expiresAt, admin: rec.admin, enrolOnly: factor?.confirmed !== true };
}

/** Whether `adminId` is an admin account of the tenant (enabled or not). */
export async function adminOfTenant(db: Db, tenantId: string, adminId: string): Promise<boolean> {
  return adminExistsInTenant(db, tenantId, adminId);
}

/** Revoke every API session of an admin (its web sessions are web/session.ts's). Returns how many. */
export async function revokeAdminSessions(db: Db, adminId: string, now: number): Promise<number> {
  return revokeStoredSessions(db, adminId, now);
}

export async function revokeSession(db: Db, sessionId: string, now: number): Promise<void> {
  await revokeAdminSession(db, sessionId, now);
}
