/**
 * The self-service limits on flow starts and code sends: `attemptsPerHour` per user and four times
 * that per client IP, then `rate_limited` with the wait. Counted in the store like every attempt
 * budget (usecases/attempts.ts), under a budget name that carries the limit value (a tenant that
 * changes its setting starts counting afresh under the new value). Wrong answers are bounded per
 * flow in the store instead (flow.ts).
 */
import { createRateLimiter } from '../../rate-limit/limiter.js';
import type { Services } from '../../services.js';
import { holdAttempt } from '../attempts.js';

const limiter = (services: Services, perHour: number) =>
  createRateLimiter(services.db, `sspr-${perHour}`, { limit: perHour, windowSeconds: 3600 }, services.now);

/** Count one self-service attempt for the user and the IP, or throw `rate_limited` with the wait. */
export async function countAttempt(
  services: Services,
  o: { tenantId: string; userKey: string; clientIp: string; perHour: number },
): Promise<void> {
  await holdAttempt([
    [limiter(services, o.perHour), `${o.tenantId}:u:${o.userKey}`],
    [limiter(services, o.perHour * 4), `${o.tenantId}:ip:${o.clientIp}`],
  ]);
}
