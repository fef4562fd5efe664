/**
 * A frozen clock a test moves by hand. The code under test takes `now: () => number` (the agent's
 * executor and daemon, the relay hub, the cloud's services); hand it `clock.now` and call
 * `advance` where the test would otherwise sleep.
 */

/** A clock that stands still until the test moves it. */
export class Clock {
  /** The current time, ms since the epoch. */
  t: number;
  constructor(start = Date.UTC(2030, 0, 15, 12, 0, 0)) {
    this.t = start;
  }
  /** Bound: pass it as a `now` option as it is. */
  now = (): number => this.t;
  /** Move the clock forward by `ms` (backwards with a negative value, for skew tests). */
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
  /** Put the clock at `t`. */
  set(t: number): void {
    this.t = t;
  }
}
