/**
 * The send_budgets repository: how many codes (mails, text messages) were sent under a key on one
 * UTC day, for the daily send limits (usecases/methods/sends.ts). Daily budgets do not live in
 * attempt_hits: its periodic sweep keeps only the longest attempt window (an hour), which would
 * forget a day's sends. One row per key and day; taking a send is one atomic statement
 * (`INSERT … ON CONFLICT DO UPDATE SET n = n + 1 WHERE n < limit RETURNING n`), so parallel sends
 * on any number of cloud nodes get exactly the limit, on SQLite and PostgreSQL alike. Rows of
 * earlier days are dropped as new ones are taken.
 */
import { z } from 'zod';
import type { Db } from './db.js';

export const DAY_MS = 86_400_000;

/** The UTC day number of a time (days since the epoch). */
export const dayOf = (at: number): number => Math.floor(at / DAY_MS);

export interface SendBudgetRepository {
  /** Count one send for `key` on `day` when fewer than `limit` were counted; false: the day is full. */
  take(key: string, day: number, limit: number): Promise<boolean>;
  /** Give one back (a send that was never made). */
  giveBack(key: string, day: number): Promise<void>;
  /** Sends counted for `key` on `day`. */
  count(key: string, day: number): Promise<number>;
  /** Drop the rows of days before `day`. */
  deleteBefore(day: number): Promise<number>;
}

const CountRow = z.object({ n: z.coerce.number() });

export function sendBudgetRepository(db: Db): SendBudgetRepository {
  return {
    async take(key, day, limit) {
      const rows = await db.query(
        `INSERT INTO send_budgets (key, day, n) VALUES (?, ?, 1)
         ON CONFLICT (key, day) DO UPDATE SET n = send_budgets.n + 1 WHERE send_budgets.n < ?
         RETURNING n`,
        [key, day, limit],
      );
      const n = rows[0] ? CountRow.parse(rows[0]).n : null;
      return n !== null && n <= limit;
    },

    async giveBack(key, day) {
      await db.exec('UPDATE send_budgets SET n = n - 1 WHERE key = ? AND day = ? AND n > 0', [key, day]);
    },

    async count(key, day) {
      const row = await db.one('SELECT n FROM send_budgets WHERE key = ? AND day = ?', [key, day]);
      return row ? CountRow.parse(row).n : 0;
    },

    async deleteBefore(day) {
      return (await db.exec('DELETE FROM send_budgets WHERE day < ?', [day])).changes;
    },
  };
}
