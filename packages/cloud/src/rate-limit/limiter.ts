/**
 * Sliding-window attempt budgets, kept in the store (store/attempts.ts) so that every cloud node
 * draws on the same budget: with N nodes the limit is the limit. An attempt *reserves* a slot
 * before the work starts (an atomic check-and-add in the store, so concurrent attempts cannot all
 * slip past the check), and the caller releases the slot afterwards when the attempt should not
 * count (e.g. the directory was unreachable).
 */
import { releaseAttempt, reserveAttempt, countAttempts } from '../store/attempts.js';
import type { Db } from '../store/db.js';

export interface RateLimit {
  /** Attempts allowed per window; 0 disables the limit. */
  limit: number;
  windowSeconds: number;
}

export type Reservation = { ok: true; release: () => Promise<void> } | { ok: false; retryAfterSeconds: number };

export interface RateLimiter {
  reserve(key: string): Promise<Reservation>;
  /** Attempts counted for the key within the window now. */
  count(key: string): Promise<number>;
}

const noop = async (): Promise<void> => undefined;

/** A granted reservation whose release gives the slot back with `giveBack`, once however often it is called. */
export function granted(giveBack: () => Promise<void>): Reservation {
  let released = false;
  return {
    ok: true,
    release: async () => {
      if (released) return;
      released = true;
      await giveBack();
    },
  };
}

/**
 * A budget named `name` (its keys are stored as `name|key`, so budgets never share counts) with
 * `limit.limit` attempts per `limit.windowSeconds`.
 */
export function createRateLimiter(db: Db, name: string, limit: RateLimit, now: () => number): RateLimiter {
  const windowMs = limit.windowSeconds * 1000;
  const stored = (key: string) => `${name}|${key}`;
  return {
    async reserve(key) {
      if (limit.limit === 0) return { ok: true, release: noop };
      const r = await reserveAttempt(db, { key: stored(key), limit: limit.limit, windowMs, now: now() });
      if (!r.ok) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(r.retryAfterMs / 1000)) };
      return granted(() => releaseAttempt(db, r.hitId));
    },
    count(key) {
      return countAttempts(db, stored(key), now() - windowMs);
    },
  };
}

/** Reserve on several limiters: all or none (a refusal gives back what was already taken). */
export async function reserveAll(entries: readonly (readonly [RateLimiter, string])[]): Promise<Reservation> {
  const held: (() => Promise<void>)[] = [];
  const releaseAll = async () => {
    for (const release of held) await release();
  };
  for (const [limiter, key] of entries) {
    let r: Reservation;
    try {
      r = await limiter.reserve(key);
    } catch (err) {
      await releaseAll().catch(() => undefined);
      throw err;
    }
    if (!r.ok) {
      await releaseAll();
      return r;
    }
    held.push(r.release);
  }
  return { ok: true, release: releaseAll };
}
