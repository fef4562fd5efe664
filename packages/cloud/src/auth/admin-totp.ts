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
import { generateTotpSecret, verifyTotp } from './totp.js';
import { seal, unseal } from '../keys/sealing.js';
import {
  claimAdminTotpStep,
  deleteAdminTotp,
  getAdminTotp as getStoredAdminTotp,
  putUnconfirmedAdminTotp,
  type AdminTotp,
} from '../store/admin-totp.js';
import type { Db } from '../store/index.js';

export type { AdminTotp } from '../store/admin-totp.js';

const context = (adminId: string) => `admin-totp:${adminId}`;

export function sealSecret(signingKey: KeyObject, secret: string, adminId: string): string {
  return seal(signingKey, secret, context(adminId));
}

export function unsealSecret(signingKey: KeyObject, sealed: string, adminId: string): string | null {
  return unseal(signingKey, sealed, context(adminId));
}

export async function getAdminTotp(db: Db, adminId: string): Promise<AdminTotp | null> {
  return getStoredAdminTotp(db, adminId);
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
  return (await putUnconfirmedAdminTotp(db, admin, sealed, now)) ? secret : null;
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
  return (await claimAdminTotpStep(db, adminId, rec.sealed, step, now)) ? 'ok' : 'replayed';
}

/** Remove an admin's factor (they enrol again at next sign-in). */
export async function resetAdminTotp(db: Db, adminId: string): Promise<boolean> {
  return deleteAdminTotp(db, adminId);
}
