/**
 * Admins' TOTP second factor (table `admin_totp`, migration 4). The key is sealed with
 * keys/sealing.ts (AES-256-GCM under a key derived from the cloud's signing key, the admin id bound
 * as associated data), so a copy of the store alone does not yield working codes. A code is accepted only for a step
 * later than the last accepted one (a conditional UPDATE, so two concurrent submissions of the
 * same code cannot both win).
 *
 *   (none) ──begin──▶ enrolling (secret, unconfirmed) ──confirm(code)──▶ active (last_step)
 *                          └──begin again: new secret (unconfirmed only)
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { generateTotpSecret, verifyTotp } from './totp.js';
import { seal, unseal } from '../keys/sealing.js';
import { parseRow, type Db } from '../store/index.js';

const context = (adminId: string) => `admin-totp:${adminId}`;

export function sealSecret(signingKey: KeyObject, secret: string, adminId: string): string {
  return seal(signingKey, secret, context(adminId));
}

export function unsealSecret(signingKey: KeyObject, sealed: string, adminId: string): string | null {
  return unseal(signingKey, sealed, context(adminId));
}

const Row = z.object({
  admin_id: z.string(),
  secret_sealed: z.string(),
  confirmed_at: z.coerce.number().nullable(),
  last_step: z.coerce.number().nullable(),
});

export interface AdminTotp {
  adminId: string;
  sealed: string;
  confirmed: boolean;
  lastStep: number | null;
}

export async function getAdminTotp(db: Db, adminId: string): Promise<AdminTotp | null> {
  const row = await db.one(
    'SELECT admin_id, secret_sealed, confirmed_at, last_step FROM admin_totp WHERE admin_id = ?',
    [adminId],
  );
  const r = row ? parseRow(Row, row) : undefined;
  return r
    ? { adminId: r.admin_id, sealed: r.secret_sealed, confirmed: r.confirmed_at !== null, lastStep: r.last_step }
    : null;
}

/**
 * Start (or restart) enrolment: a new secret, unconfirmed. Refused (null) when the admin has a
 * confirmed factor already: replacing it is an operator action, never a side effect of sign-in.
 */
export async function beginEnrolment(
  db: Db,
  signingKey: KeyObject,
  admin: { id: string; tenantId: string },
  now: number,
): Promise<string | null> {
  const secret = generateTotpSecret();
  const sealed = sealSecret(signingKey, secret, admin.id);
  return db.tx(async (t) => {
    const row = await t.one('SELECT confirmed_at FROM admin_totp WHERE admin_id = ?', [admin.id]);
    if (row && row.confirmed_at !== null) return null;
    if (row)
      await t.exec(
        'UPDATE admin_totp SET secret_sealed = ?, last_step = NULL, updated_at = ? WHERE admin_id = ? AND confirmed_at IS NULL',
        [sealed, now, admin.id],
      );
    else
      await t.exec(
        'INSERT INTO admin_totp (admin_id, tenant_id, secret_sealed, confirmed_at, last_step, created_at, updated_at) VALUES (?, ?, ?, NULL, NULL, ?, ?)',
        [admin.id, admin.tenantId, sealed, now, now],
      );
    return secret;
  });
}

export type TotpCheck = 'ok' | 'invalid' | 'replayed' | 'no_factor';

/**
 * Check a code for the admin's factor (confirmed, or being enrolled when `enrolling`), and record
 * its step. The first accepted code of an enrolment confirms the factor.
 */
export async function checkAdminCode(
  db: Db,
  signingKey: KeyObject,
  adminId: string,
  code: string,
  now: number,
  o: { enrolling: boolean },
): Promise<TotpCheck> {
  const rec = await getAdminTotp(db, adminId);
  if (!rec || rec.confirmed === o.enrolling) return 'no_factor';
  const secret = unsealSecret(signingKey, rec.sealed, adminId);
  if (!secret) return 'no_factor';
  const step = verifyTotp(secret, code, now);
  if (step === null) return 'invalid';
  if (rec.lastStep !== null && step <= rec.lastStep) return 'replayed';
  const r = await db.exec(
    `UPDATE admin_totp SET last_step = ?, confirmed_at = COALESCE(confirmed_at, ?), updated_at = ?
     WHERE admin_id = ? AND secret_sealed = ? AND (last_step IS NULL OR last_step < ?)`,
    [step, now, now, adminId, rec.sealed, step],
  );
  return r.changes === 1 ? 'ok' : 'replayed';
}

/** Remove an admin's factor (they enrol again at next sign-in). */
export async function resetAdminTotp(db: Db, adminId: string): Promise<boolean> {
  return (await db.exec('DELETE FROM admin_totp WHERE admin_id = ?', [adminId])).changes === 1;
}
