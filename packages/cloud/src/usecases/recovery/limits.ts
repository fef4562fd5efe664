/**
 * The self-service limits on flow starts and code sends: `attemptsPerHour` per user and four times
 * that per client IP, then `rate_limited` with the wait. One limiter per limit value, kept in this
 * process like the API's (a tenant that changes its setting starts counting afresh under the new
 * value). Wrong answers are bounded per flow in the store instead (flow.ts).
 */
import { CloudError } from '../../errors.js';
import { createRateLimiter, reserveAll, type RateLimiter } from '../../rate-limit/limiter.js';
import type { Services } from '../../services.js';

const limiters = new WeakMap<Services, Map<number, RateLimiter>>();

function limiter(services: Services, perHour: number): RateLimiter {
  let byLimit = limiters.get(services);
  if (!byLimit) {
    byLimit = new Map();
    limiters.set(services, byLimit);
  }
  let l = byLimit.get(perHour);
  if (!l) {
    l = createRateLimiter({ limit: perHour, windowSeconds: 3600 }, services.now);
    byLimit.set(perHour, l);
  }
  return l;
}

/** Count one self-service attempt for the user and the IP, or throw `rate_limited` with the wait. */
export function countAttempt(
  services: Services,
  o: { tenantId: string; userKey: string; clientIp: string; perHour: number },
): void {
  const r = reserveAll([
    [limiter(services, o.perHour), `${o.tenantId}:u:${o.userKey}`],
    [limiter(services, o.perHour * 4), `${o.tenantId}:ip:${o.clientIp}`],
  ]);
  if (!r.ok)
    throw new CloudError('rate_limited', 'too many self-service attempts', { retryAfterSeconds: r.retryAfterSeconds });
}
