/**
 * The daily send limits (issue 10: a signed-in user sent 25 mails and 25 texts to arbitrary
 * addresses in 0.3 s). Per UTC day, from the tenant's `settings.sspr.sends`:
 *
 * - a registration code (to an address not yet confirmed) counts per user (`perUser`, 10), per
 *   destination (`perDestination`, 3), per tenant (`perTenant`, 2000) and, for a text message,
 *   on the tenant's text budget (`smsPerTenant`, 200: toll fraud); over any of them it is refused
 *   `rate_limited` with the wait until the day ends, before a code is made;
 * - a recovery code goes only to a confirmed address (or the directory's mail) and counts on the
 *   tenant's budgets only: the per-user and per-destination ones would let a stranger who knows a
 *   user name use up the owner's day (recovery sends are already bounded per user and per IP per
 *   hour: recovery/limits.ts). Over budget it is not sent, and the page says what it always says;
 * - a security notice by text message counts on the tenant's text budget (skipped when spent).
 *
 * The counts live in the store (store/send-budgets.ts), taken atomically through the attempt
 * budgets' all-or-none reservation (usecases/attempts.ts holdAttempt), so every cloud node counts
 * on the same budget.
 */
import { CloudError } from '../../errors.js';
import { granted, type RateLimiter } from '../../rate-limit/limiter.js';
import type { Services } from '../../services.js';
import { DAY_MS, dayOf, sendBudgetRepository } from '../../store/send-budgets.js';
import type { CodeChannel } from '../../store/sent-codes.js';
import { lookupKey } from '../../users/directory-users.js';
import type { TenantSettings } from '../../tenants/settings.js';
import { holdAttempt } from '../attempts.js';

export type SendLimits = TenantSettings['sspr']['sends'];

/** A budget of `limit` sends per UTC day under `name`, shaped like an attempt budget. */
function dailyBudget(services: Services, name: string, limit: number): RateLimiter {
  const repo = sendBudgetRepository(services.db);
  const stored = (key: string) => `${name}|${key}`;
  return {
    async reserve(key) {
      const now = services.now();
      const day = dayOf(now);
      if (!(await repo.take(stored(key), day, limit)))
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(((day + 1) * DAY_MS - now) / 1000)) };
      return granted(() => repo.giveBack(stored(key), day));
    },
    count: (key) => repo.count(stored(key), dayOf(services.now())),
  };
}

/** One destination however it was typed: an address in lower case, a number without spaces or dashes. */
export function destinationKey(channel: CodeChannel, to: string): string {
  return channel === 'email' ? `email:${lookupKey(to.trim())}` : `sms:${to.replace(/[\s()-]/g, '')}`;
}

type Entry = readonly [RateLimiter, string];

function tenantEntries(services: Services, limits: SendLimits, tenantId: string, channel: CodeChannel): Entry[] {
  const out: Entry[] = [[dailyBudget(services, 'send-tenant', limits.perTenant), tenantId]];
  if (channel === 'sms') out.push([dailyBudget(services, 'send-tenant-sms', limits.smsPerTenant), tenantId]);
  return out;
}

/** Drop the counts of days before yesterday (best effort: a failure only delays it). */
async function sweep(services: Services): Promise<void> {
  await sendBudgetRepository(services.db)
    .deleteBefore(dayOf(services.now()) - 1)
    .catch((err: unknown) => services.log.warn('could not sweep the send budgets', { err }));
}

/**
 * Count a registration code on every budget, or throw `rate_limited` with the wait (nothing
 * counted then). A send that failed stays counted: it may have left.
 */
export async function holdRegistrationSend(
  services: Services,
  limits: SendLimits,
  o: { tenantId: string; userKey: string; channel: CodeChannel; to: string },
): Promise<void> {
  await holdAttempt([
    [dailyBudget(services, 'send-user', limits.perUser), `${o.tenantId}:${o.userKey}`],
    [
      dailyBudget(services, 'send-destination', limits.perDestination),
      `${o.tenantId}:${destinationKey(o.channel, o.to)}`,
    ],
    ...tenantEntries(services, limits, o.tenantId, o.channel),
  ]);
  await sweep(services);
}

async function tryHold(entries: readonly Entry[]): Promise<boolean> {
  try {
    await holdAttempt(entries);
    return true;
  } catch (err) {
    if (err instanceof CloudError && err.code === 'rate_limited') return false;
    throw err;
  }
}

/** Count a recovery code on the tenant's budgets: false (nothing counted) when one is spent. */
export async function takeRecoverySend(
  services: Services,
  limits: SendLimits,
  o: { tenantId: string; channel: CodeChannel },
): Promise<boolean> {
  const ok = await tryHold(tenantEntries(services, limits, o.tenantId, o.channel));
  if (ok) await sweep(services);
  return ok;
}

/** Count a security notice by text message on the tenant's text budget: false when spent. */
export function takeNoticeText(services: Services, limits: SendLimits, tenantId: string): Promise<boolean> {
  return tryHold([[dailyBudget(services, 'send-tenant-sms', limits.smsPerTenant), tenantId]]);
}
