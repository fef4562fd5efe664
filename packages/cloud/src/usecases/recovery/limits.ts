/**
 * The self-service limits on flow starts and code sends: `attemptsPerHour` per user and address,
 * four times that per user and per address, then `rate_limited` with the wait. Counted in the store like every attempt
 * budget (usecases/attempts.ts), under a budget name that carries the limit value (a tenant that
 * changes its setting starts counting afresh under the new value). Wrong answers are bounded per
 * flow in the store instead (flow.ts).
 */
import { createRateLimiter } from '../../rate-limit/limiter.js';
import type { Services } from '../../services.js';
import { holdAttempt } from '../attempts.js';

const limiter = (services: Services, perHour: number) =>
  createRateLimiter(services.db, `sspr-${perHour}`, { limit: perHour, windowSeconds: 3600 }, services.now);

/**
 * Count one self-service attempt, or throw `rate_limited` with the wait. Keyed like the sign-in
 * budgets (usecases/attempts.ts, issue 10's lockout design): `perHour` per user and client address,
 * four times that per user from everywhere but a browser the user signed in with before (which
 * has `perHour` of its own), and four times that per address.
 */
export async function countAttempt(
  services: Services,
  o: { tenantId: string; userKey: string; clientIp: string; perHour: number; device?: string | null },
): Promise<void> {
  const user = `${o.tenantId}:u:${o.userKey}`;
  const few = limiter(services, o.perHour);
  const more = limiter(services, o.perHour * 4);
  await holdAttempt([
    [few, `${user}|ip:${o.clientIp}`],
    o.device ? [few, `${user}|device:${o.device}`] : [more, user],
    [more, `${o.tenantId}:ip:${o.clientIp}`],
  ]);
}
