/**
 * The admin_totp repository: each admin's TOTP second factor, its key sealed by auth/admin-totp.ts
 * (this module never sees a clear key). Two rules are kept here, each one statement or one
 * transaction: a confirmed factor is never replaced by a new enrolment, and a step is claimed only
 * when later than the last accepted one, so two concurrent submissions of one code cannot both win.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectOne, type Db } from './db.js';

export interface AdminTotp {
  adminId: string;
  sealed: string;
  confirmed: boolean;
  lastStep: number | null;
}

const Factors = rowOf({
  admin_id: z.string(),
  secret_sealed: z.string(),
  confirmed_at: z.coerce.number().nullable(),
  last_step: z.coerce.number().nullable(),
});

const Row = Factors.schema.transform(
  ({ secretSealed, confirmedAt, ...r }): AdminTotp => ({ ...r, sealed: secretSealed, confirmed: confirmedAt !== null }),
);

export async function getAdminTotp(db: Db, adminId: string): Promise<AdminTotp | null> {
  return (await selectOne(db, Row, `SELECT ${Factors.columns} FROM admin_totp WHERE admin_id = ?`, [adminId])) ?? null;
}

/**
 * Store a new, unconfirmed sealed key for the admin (replacing an unconfirmed one). False, and
 * nothing written, when the admin has a confirmed factor.
 */
export async function putUnconfirmedAdminTotp(
  db: Db,
  admin: { id: string; tenantId: string },
  sealed: string,
  now: number,
): Promise<boolean> {
  return db.tx(async (t) => {
    const row = await t.one('SELECT confirmed_at FROM admin_totp WHERE admin_id = ?', [admin.id]);
    if (row && row.confirmed_at !== null) return false;
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
    return true;
  });
}

/**
 * Record `step` as accepted for the factor sealed as `sealed` (so a key replaced meanwhile does not
 * count), only if later than the last accepted step; the first accepted step confirms the factor.
 * False when another submission got there first or the key changed.
 */
export async function claimAdminTotpStep(
  db: Db,
  adminId: string,
  sealed: string,
  step: number,
  now: number,
): Promise<boolean> {
  return changedOne(
    db,
    `UPDATE admin_totp SET last_step = ?, confirmed_at = COALESCE(confirmed_at, ?), updated_at = ?
     WHERE admin_id = ? AND secret_sealed = ? AND (last_step IS NULL OR last_step < ?)`,
    [step, now, now, adminId, sealed, step],
  );
}

/** Remove an admin's factor; false when there was none. */
export async function deleteAdminTotp(db: Db, adminId: string): Promise<boolean> {
  return changedOne(db, 'DELETE FROM admin_totp WHERE admin_id = ?', [adminId]);
}
