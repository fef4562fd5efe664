/** check-rate-limit: reserve one attempt on every limiter that applies, or answer 429 with Retry-After. */
import { CloudError } from '../../errors.js';
import { reserveAll, type RateLimiter } from '../../rate-limit/limiter.js';

export function checkRateLimit(entries: readonly (readonly [RateLimiter, string])[]): () => void {
  const r = reserveAll(entries);
  if (!r.ok)
    throw new CloudError('rate_limited', 'too many attempts; try again later', {
      retryAfterSeconds: r.retryAfterSeconds,
    });
  return r.release;
}
