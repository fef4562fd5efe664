/**
 * The password_expiry repository (issue 12, expiry reminders): what the cloud knows about when
 * users' passwords expire, beyond the synced copy, and which reminders were sent.
 *
 * - `password_max_ages`: per user, the maximum password age the directory reported for them
 *   (`policy.get`: the domain policy, a fine-grained PSO or a ppolicy entry); 0 means the password
 *   never expires (no maximum age, or AD's "password never expires" flag). The sync carries the
 *   time the password was last set but no policy, so this is learnt once per user and refreshed
 *   now and then (usecases/expiry-reminders.ts).
 * - `expiry_reminders`: one row per user and expiry DATE (UTC `YYYY-MM-DD`). Sending a reminder
 *   first claims its row with one `INSERT … ON CONFLICT DO NOTHING RETURNING`, so however many
 *   cloud nodes run the job at once, one of them sends it (SQLite and PostgreSQL alike). A user
 *   whose password is changed gets a new expiry date and so, later, a new reminder.
 * - `expiry_learning_runs` (migration 10): one row per tenant and hour in which a node took the
 *   tenant's directory reads, claimed the same way, so several nodes do not read the same users'
 *   policies at the same time.
 */
import { z } from 'zod';
import { rowOf, selectAll, type Db } from './db.js';

export interface LearnedMaxAge {
  userId: string;
  /** Seconds; 0: the password never expires. */
  maxAgeSeconds: number;
  learnedAt: number;
}

export interface PasswordExpiryRepository {
  /** Every learnt maximum age of the tenant's users, by user id. */
  maxAges(tenantId: string): Promise<Map<string, LearnedMaxAge>>;
  /** Record (or replace) what the directory reported for one user. */
  putMaxAge(tenantId: string, userId: string, maxAgeSeconds: number, learnedAt: number): Promise<void>;
  /** Claim the reminder for this user and expiry date: true for exactly one caller, ever. */
  claimReminder(tenantId: string, userId: string, expiresOn: string, sentAt: number): Promise<boolean>;
  /** The reminders claimed for the tenant, as `userId expiresOn` keys (for the admin report). */
  reminded(tenantId: string): Promise<Set<string>>;
  /** Drop reminder rows of expiry dates before `day` (`YYYY-MM-DD`): they can no longer be sent. */
  deleteRemindersBefore(day: string): Promise<number>;
  /** Claim the tenant's directory reads for one slot (an hour number): true for exactly one caller. */
  claimLearning(tenantId: string, slot: number, at: number): Promise<boolean>;
  /** Drop the claims of slots before `slot`. */
  deleteLearningBefore(slot: number): Promise<number>;
}

const MaxAgeRow = rowOf({
  user_id: z.string(),
  max_age_seconds: z.coerce.number(),
  learned_at: z.coerce.number(),
});
const ReminderRow = rowOf({ user_id: z.string(), expires_on: z.string() });

/** The key `reminded()` uses for one user and expiry date. */
export const reminderKey = (userId: string, expiresOn: string): string => `${userId} ${expiresOn}`;

export function passwordExpiryRepository(db: Db): PasswordExpiryRepository {
  return {
    async maxAges(tenantId) {
      const rows = await selectAll(
        db,
        MaxAgeRow.schema,
        `SELECT ${MaxAgeRow.columns} FROM password_max_ages WHERE tenant_id = ?`,
        [tenantId],
      );
      return new Map(rows.map((r) => [r.userId, r]));
    },

    async putMaxAge(tenantId, userId, maxAgeSeconds, learnedAt) {
      await db.exec(
        `INSERT INTO password_max_ages (tenant_id, user_id, max_age_seconds, learned_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET max_age_seconds = excluded.max_age_seconds, learned_at = excluded.learned_at`,
        [tenantId, userId, Math.max(0, Math.round(maxAgeSeconds)), learnedAt],
      );
    },

    async claimReminder(tenantId, userId, expiresOn, sentAt) {
      const rows = await db.query(
        `INSERT INTO expiry_reminders (tenant_id, user_id, expires_on, sent_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, user_id, expires_on) DO NOTHING RETURNING user_id`,
        [tenantId, userId, expiresOn, sentAt],
      );
      return rows.length === 1;
    },

    async reminded(tenantId) {
      const rows = await selectAll(
        db,
        ReminderRow.schema,
        `SELECT ${ReminderRow.columns} FROM expiry_reminders WHERE tenant_id = ?`,
        [tenantId],
      );
      return new Set(rows.map((r) => reminderKey(r.userId, r.expiresOn)));
    },

    async deleteRemindersBefore(day) {
      return (await db.exec('DELETE FROM expiry_reminders WHERE expires_on < ?', [day])).changes;
    },

    async claimLearning(tenantId, slot, at) {
      const rows = await db.query(
        `INSERT INTO expiry_learning_runs (tenant_id, slot, claimed_at) VALUES (?, ?, ?)
         ON CONFLICT (tenant_id, slot) DO NOTHING RETURNING slot`,
        [tenantId, slot, at],
      );
      return rows.length === 1;
    },

    async deleteLearningBefore(slot) {
      return (await db.exec('DELETE FROM expiry_learning_runs WHERE slot < ?', [slot])).changes;
    },
  };
}
