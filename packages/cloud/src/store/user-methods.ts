/**
 * The user_methods repository: the ways a user proves who they are in a self-service reset, one row
 * per (tenant, user, kind). The value is opaque here (an address, a number, a sealed TOTP key, the
 * JSON of hashed answers); its meaning lives in usecases/methods. The one rule kept here is the
 * TOTP replay guard: a step is claimed atomically and only when newer than the last one.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectAll, type Db } from './db.js';

/** The kinds the table accepts (its CHECK constraint). */
export const METHOD_KINDS = ['email', 'totp', 'questions', 'sms'] as const;
export type MethodKind = (typeof METHOD_KINDS)[number];

export interface StoredMethod {
  kind: MethodKind;
  value: string;
  /** TOTP: the last step accepted (codes of that step or earlier are refused). */
  lastStep: number | null;
}

export interface UserMethodRepository {
  list(tenantId: string, userKey: string): Promise<StoredMethod[]>;
  /** Insert or replace the user's method of this kind. */
  put(tenantId: string, userKey: string, method: StoredMethod, now: number): Promise<void>;
  /** Record a TOTP step only if it is newer than the last one (atomic); false: already used. */
  claimTotpStep(tenantId: string, userKey: string, step: number): Promise<boolean>;
  /** True when a row was removed. */
  remove(tenantId: string, userKey: string, kind: MethodKind): Promise<boolean>;
}

const Methods = rowOf({ kind: z.enum(METHOD_KINDS), value: z.string(), last_step: z.coerce.number().nullable() });

export function userMethodRepository(db: Db): UserMethodRepository {
  return {
    async list(tenantId, userKey) {
      const sql = `SELECT ${Methods.columns} FROM user_methods WHERE tenant_id = ? AND user_key = ?`;
      return selectAll(db, Methods.schema, sql, [tenantId, userKey]);
    },

    async put(tenantId, userKey, m, now) {
      await db.tx(async (t) => {
        const { changes } = await t.exec(
          'UPDATE user_methods SET value = ?, last_step = ?, updated_at = ? WHERE tenant_id = ? AND user_key = ? AND kind = ?',
          [m.value, m.lastStep, now, tenantId, userKey, m.kind],
        );
        if (changes === 0)
          await t.exec(
            'INSERT INTO user_methods (tenant_id, user_key, kind, value, last_step, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
            [tenantId, userKey, m.kind, m.value, m.lastStep, now, now],
          );
      });
    },

    async claimTotpStep(tenantId, userKey, step) {
      return changedOne(
        db,
        "UPDATE user_methods SET last_step = ? WHERE tenant_id = ? AND user_key = ? AND kind = 'totp' AND (last_step IS NULL OR last_step < ?)",
        [step, tenantId, userKey, step],
      );
    },

    async remove(tenantId, userKey, kind) {
      return changedOne(db, 'DELETE FROM user_methods WHERE tenant_id = ? AND user_key = ? AND kind = ?', [
        tenantId,
        userKey,
        kind,
      ]);
    },
  };
}
