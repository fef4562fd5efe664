/**
 * The one backoff rule for every retry against a shared service: the agent's reconnects to its
 * relays and the directory adapters' skipping of a failing server and pausing of refused binds.
 * Exponential from `baseMs`, capped at `capMs`, with a jitter so many clients cut off at once do
 * not come back in lockstep. Pure (the random source is a parameter), so tests can pin it.
 */

/** How a delay grows and spreads. */
export interface BackoffShape {
  /** The first retry's delay (its ceiling with full jitter). */
  baseMs: number;
  /** No delay is longer than this (before a `spread` jitter). */
  capMs: number;
  /**
   * `full` (default): uniform in [0, ceiling), floored ("full jitter"). A number `s` in (0, 1):
   * uniform in [ceiling·(1 − s), ceiling·(1 + s)), rounded. `0`: exactly the ceiling.
   */
  jitter?: 'full' | number;
}

/** Delay before retry number `attempt` (0-based): min(cap, base·2^attempt), then the jitter. */
export function backoffDelay(attempt: number, shape: BackoffShape, random: () => number = Math.random): number {
  const ceiling = Math.min(shape.capMs, shape.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const jitter = shape.jitter ?? 'full';
  if (jitter === 'full') return Math.floor(Math.min(Math.max(random(), 0), 1 - Number.EPSILON) * ceiling);
  if (jitter === 0) return ceiling;
  return Math.round(ceiling * (1 - jitter + random() * 2 * jitter));
}
