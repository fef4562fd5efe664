/**
 * The sent_codes repository: one-time codes sent by email or text message, stored only as a keyed
 * hash. A code's tries are counted with one atomic increment-and-check (`UPDATE … WHERE attempts <
 * max RETURNING attempts`) that the caller makes BEFORE comparing, so concurrent guesses cannot
 * all be compared against one code; use is a compare-and-set on `used_at` (single use).
 */
import { z } from 'zod';
import { changedOne, parseRow, rowOf, selectOne, type Db } from './db.js';

export const CODE_PURPOSES = ['reset', 'register_email', 'register_sms'] as const;
export type CodePurpose = (typeof CODE_PURPOSES)[number];
export type CodeChannel = 'email' | 'sms';

export interface NewCode {
  id: string;
  tenantId: string;
  purpose: CodePurpose;
  /** Whose code it is: a reset flow's id, or a web session's id for a registration. */
  owner: string;
  channel: CodeChannel;
  codeHash: string;
  createdAt: number;
  expiresAt: number;
}

export interface LiveCode {
  id: string;
  codeHash: string;
  attempts: number;
  expiresAt: number;
}

export interface SentCodeRepository {
  /** Store a new code and retire the owner's earlier unused ones for the same purpose (one transaction). */
  replace(code: NewCode): Promise<void>;
  /** The owner's newest unused code for the purpose (expired or not), or null. */
  live(tenantId: string, owner: string, purpose: CodePurpose): Promise<LiveCode | null>;
  /**
   * Count one try, atomically, only while the code is unused, unexpired and under `max` tries.
   * Returns the tries counted so far including this one, or null when no try is left.
   */
  reserveAttempt(id: string, max: number, now: number): Promise<number | null>;
  /** Use the code up (compare-and-set): false when it was already used. */
  markUsed(id: string, now: number): Promise<boolean>;
  /** Delete codes that expired before `before`. */
  deleteExpired(before: number): Promise<number>;
}

const Live = rowOf({
  id: z.string(),
  code_hash: z.string(),
  attempts: z.coerce.number(),
  expires_at: z.coerce.number(),
});
const AttemptsRow = z.object({ attempts: z.coerce.number() });

export function sentCodeRepository(db: Db): SentCodeRepository {
  return {
    async replace(c) {
      await db.tx(async (t) => {
        await t.exec(
          'UPDATE sent_codes SET used_at = ? WHERE tenant_id = ? AND owner = ? AND purpose = ? AND used_at IS NULL',
          [c.createdAt, c.tenantId, c.owner, c.purpose],
        );
        await t.exec(
          'INSERT INTO sent_codes (id, tenant_id, purpose, owner, channel, code_hash, attempts, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, NULL)',
          [c.id, c.tenantId, c.purpose, c.owner, c.channel, c.codeHash, c.createdAt, c.expiresAt],
        );
      });
    },

    async live(tenantId, owner, purpose) {
      const row = await selectOne(
        db,
        Live.schema,
        `SELECT ${Live.columns} FROM sent_codes WHERE tenant_id = ? AND owner = ? AND purpose = ? AND used_at IS NULL ORDER BY created_at DESC LIMIT 1`,
        [tenantId, owner, purpose],
      );
      return row ?? null;
    },

    async reserveAttempt(id, max, now) {
      const row = await db.one(
        'UPDATE sent_codes SET attempts = attempts + 1 WHERE id = ? AND attempts < ? AND used_at IS NULL AND expires_at > ? RETURNING attempts',
        [id, max, now],
      );
      return row ? parseRow(AttemptsRow, row).attempts : null;
    },

    async markUsed(id, now) {
      return changedOne(db, 'UPDATE sent_codes SET used_at = ? WHERE id = ? AND used_at IS NULL', [now, id]);
    },

    async deleteExpired(before) {
      return (await db.exec('DELETE FROM sent_codes WHERE expires_at <= ?', [before])).changes;
    },
  };
}
