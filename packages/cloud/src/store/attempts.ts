/**
 * The attempt_hits repository: the attempt budgets (sign-in, change, admin sign-in, self-service
 * starts and sends) kept in the store, so that every cloud node counts on one budget: with N nodes
 * the limit is the limit, not N times it.
 *
 * A budget is a sliding window: a key may hold `limit` hits younger than `windowMs`. Reserving is
 * one transaction that first takes the key's row in attempt_keys (an upsert: PostgreSQL locks the
 * row until commit, SQLite's BEGIN IMMEDIATE serialises writers), then counts the key's live hits
 * and adds one only when there is room. So parallel reservations of one key are decided one after
 * the other and exactly `limit` of them succeed. Releasing deletes the reserved hit (an attempt that
 * turned out not to count). Old hits of the key are dropped as it is reserved; the periodic sweep
 * drops the rest.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';

export type AttemptReservation = { ok: true; hitId: string } | { ok: false; retryAfterMs: number };

export async function reserveAttempt(
  db: Db,
  o: { key: string; limit: number; windowMs: number; now: number },
): Promise<AttemptReservation> {
  const since = o.now - o.windowMs;
  return db.tx(async (tx) => {
    await tx.exec(
      `INSERT INTO attempt_keys (key, touched_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET touched_at = excluded.touched_at`,
      [o.key, o.now],
    );
    await tx.exec('DELETE FROM attempt_hits WHERE key = ? AND at <= ?', [o.key, since]);
    const live = await tx.query('SELECT at FROM attempt_hits WHERE key = ? ORDER BY at ASC', [o.key]);
    if (live.length >= o.limit) {
      const oldest = Number(live[0]?.at ?? o.now);
      return { ok: false, retryAfterMs: Math.max(1, oldest + o.windowMs - o.now) };
    }
    const hitId = randomBytes(12).toString('hex');
    await tx.exec('INSERT INTO attempt_hits (id, key, at) VALUES (?, ?, ?)', [hitId, o.key, o.now]);
    return { ok: true, hitId };
  });
}

/** Give a reserved hit back (the attempt did not count). */
export async function releaseAttempt(db: Db, hitId: string): Promise<void> {
  await db.exec('DELETE FROM attempt_hits WHERE id = ?', [hitId]);
}

/** Hits of a key younger than the window. */
export async function countAttempts(db: Db, key: string, since: number): Promise<number> {
  const row = await db.one('SELECT COUNT(*) AS n FROM attempt_hits WHERE key = ? AND at > ?', [key, since]);
  return Number(row?.n ?? 0);
}

/** Drop hits and keys older than `before` (the longest window ago). Returns the hits dropped. */
export async function sweepAttempts(db: Db, before: number): Promise<number> {
  const r = await db.exec('DELETE FROM attempt_hits WHERE at <= ?', [before]);
  await db.exec('DELETE FROM attempt_keys WHERE touched_at <= ?', [before]);
  return r.changes;
}
