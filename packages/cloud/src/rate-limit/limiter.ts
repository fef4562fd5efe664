/**
 * Sliding-window rate limits, kept in this process's memory: with several cloud nodes each node
 * counts on its own (the effective limit is per node). An attempt *reserves* a slot before the
 * work starts, so concurrent attempts cannot all slip past the check, and the caller releases
 * the slot afterwards when the attempt should not count (e.g. the directory was unreachable).
 */

export interface RateLimit {
  /** Attempts allowed per window; 0 disables the limit. */
  limit: number;
  windowSeconds: number;
}

export type Reservation = { ok: true; release: () => void } | { ok: false; retryAfterSeconds: number };

export interface RateLimiter {
  reserve(key: string): Reservation;
  /** Attempts counted for the key within the window now. */
  count(key: string): number;
}

export function createRateLimiter(limit: RateLimit, now: () => number, maxKeys = 100_000): RateLimiter {
  const windowMs = limit.windowSeconds * 1000;
  const hits = new Map<string, number[]>();

  const live = (key: string, t: number): number[] => {
    const list = hits.get(key);
    if (!list) return [];
    const kept = list.filter((x) => x > t - windowMs);
    if (kept.length) hits.set(key, kept);
    else hits.delete(key);
    return kept;
  };

  const prune = (t: number): void => {
    for (const key of [...hits.keys()]) live(key, t);
    // Still too many keys (a flood of distinct users/IPs): drop the oldest-inserted to bound memory.
    for (const key of hits.keys()) {
      if (hits.size <= maxKeys) break;
      hits.delete(key);
    }
  };

  return {
    reserve(key) {
      if (limit.limit === 0) return { ok: true, release: () => undefined };
      const t = now();
      const list = live(key, t);
      if (list.length >= limit.limit) {
        const oldest = list[0] ?? t;
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - t) / 1000)) };
      }
      if (!hits.has(key) && hits.size >= maxKeys) prune(t);
      list.push(t);
      hits.set(key, list);
      let released = false;
      return {
        ok: true,
        release: () => {
          if (released) return;
          released = true;
          const cur = hits.get(key);
          const i = cur ? cur.lastIndexOf(t) : -1;
          if (cur && i >= 0) cur.splice(i, 1);
        },
      };
    },
    count(key) {
      return live(key, now()).length;
    },
  };
}

/** Reserve on several limiters at once: all or none. */
export function reserveAll(entries: readonly (readonly [RateLimiter, string])[]): Reservation {
  const held: (() => void)[] = [];
  let retry = 0;
  for (const [limiter, key] of entries) {
    const r = limiter.reserve(key);
    if (r.ok) held.push(r.release);
    else retry = Math.max(retry, r.retryAfterSeconds);
  }
  if (retry > 0) {
    for (const release of held) release();
    return { ok: false, retryAfterSeconds: retry };
  }
  return {
    ok: true,
    release: () => {
      for (const release of held) release();
    },
  };
}
