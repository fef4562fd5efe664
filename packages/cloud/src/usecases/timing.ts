/**
 * Answers that must not tell who exists take the same time whichever way they were reached
 * (issue 10's account oracles): an answer made without asking the directory (a name the cloud does
 * not know) waits until about as long as the directory's answers for known names have been taking.
 * The estimate is a moving average per tenant and kind of question, kept in this process (it is a
 * measurement of this node's own round trips, not a shared limit), with ±10 % jitter; until there
 * is a measurement, a default of 120 ms stands in.
 */
import type { Services } from '../services.js';

const DEFAULT_MS = 120;
const WEIGHT = 0.2;

const estimates = new WeakMap<Services, Map<string, number>>();

function table(services: Services): Map<string, number> {
  let t = estimates.get(services);
  if (!t) {
    t = new Map();
    estimates.set(services, t);
  }
  return t;
}

/** A monotonic clock for durations (never the services' clock, which tests move by hand). */
export const startTimer = (): number => performance.now();

/** Record how long one real answer of this kind took. */
export function observe(services: Services, kind: string, startedAt: number): void {
  const ms = performance.now() - startedAt;
  const t = table(services);
  const prev = t.get(kind);
  t.set(kind, prev === undefined ? ms : prev + WEIGHT * (ms - prev));
  if (t.size > 10_000) t.delete(t.keys().next().value ?? kind);
}

/** Wait until an answer begun at `startedAt` has taken about as long as real ones of this kind. */
export async function padLike(services: Services, kind: string, startedAt: number): Promise<void> {
  const typical = table(services).get(kind) ?? DEFAULT_MS;
  const target = typical * (0.9 + Math.random() * 0.2);
  const left = target - (performance.now() - startedAt);
  if (left > 1) await new Promise((resolve) => setTimeout(resolve, left));
}
