/**
 * The attempt budgets of the guessable steps (user sign-in, self-service change, admin sign-in and
 * its second factor), with ONE key scheme whatever door the attempt came through (API or page) and
 * however the person was named:
 *
 * - a user is counted under the synced user's id when the typed name (login, UPN or mail) finds
 *   one, so every alias of one account draws on one budget; a name the cloud does not know is
 *   counted under its canonical form (NFC, lower case);
 * - an admin is counted under the resolved tenant's id and the canonical login, so the tenant's
 *   slug and its id are one budget; a tenant that does not exist is counted under the reference as
 *   typed (there is nothing to protect, and no way to tell it apart from a real one).
 *
 * An attempt reserves its slot before any work, atomically in the store (rate-limit/limiter.ts), so
 * parallel attempts cannot all slip past and every cloud node counts on the same budget; the use
 * case gives the slot back when the attempt did not test a secret (see each use case's COUNTED).
 */
import { CloudError } from '../errors.js';
import { reserveAll, type RateLimiter } from '../rate-limit/limiter.js';
import type { CloudUser } from '../users/directory-users.js';
import { lookupKey } from '../users/directory-users.js';

/** The budget key of a user: the account when the cloud knows it, else the name as typed. */
export function userBudgetKey(tenantId: string, user: Pick<CloudUser, 'id'> | null, typed: string): string {
  return user ? `${tenantId}:user:${user.id}` : `${tenantId}:name:${lookupKey(typed.trim())}`;
}

/** The budget key of an admin login in a tenant (the tenant by id, however the caller spelled it). */
export function adminBudgetKey(tenant: { id: string } | null, typedTenant: string, login: string): string {
  const scope = tenant ? tenant.id : `unknown:${lookupKey(typedTenant)}`;
  return `${scope}:${lookupKey(login.trim())}`;
}

/** The budgets of one kind of guessable step (sign-in, change…), each a store-backed limiter. */
export interface AccountLimiters {
  /** Per account and client address: bounds one guesser quickly. */
  perAccountIp: RateLimiter;
  /** Per account from everywhere but its known browsers: slower, bounds a guesser with many addresses. */
  perAccount: RateLimiter;
  /** Per account and known browser (device cookie): replaces the account-wide budget there. */
  perDevice: RateLimiter;
  /** Per client address, whatever account. */
  perIp: RateLimiter;
}

/**
 * The budgets an attempt on `account` draws on (issue 10, lockout as denial of service): a third
 * party can use up the budgets of its own addresses and, from many addresses, the account-wide
 * one, but not the budget of a browser the owner signed in with before (`device`, from
 * usecases/devices.ts), so the owner is not locked out there; guessing stays bounded everywhere.
 */
export function accountBudget(
  l: AccountLimiters,
  o: { account: string; ip: string | null; device: string | null },
): (readonly [RateLimiter, string | null])[] {
  return [
    [l.perAccountIp, `${o.account}|ip:${o.ip ?? '-'}`],
    o.device ? [l.perDevice, `${o.account}|device:${o.device}`] : [l.perAccount, o.account],
    [l.perIp, o.ip],
  ];
}

/**
 * Reserve one attempt on every budget that applies, or throw `rate_limited` with the wait.
 * Returns the release for an attempt that turns out not to count. A null key skips that budget
 * (e.g. no client IP known).
 */
export async function holdAttempt(
  entries: readonly (readonly [RateLimiter, string | null])[],
): Promise<() => Promise<void>> {
  const applied = entries.filter((e): e is readonly [RateLimiter, string] => e[1] !== null);
  const r = await reserveAll(applied);
  if (!r.ok)
    throw new CloudError('rate_limited', 'too many attempts; try again later', {
      retryAfterSeconds: r.retryAfterSeconds,
    });
  return r.release;
}

/**
 * Run an attempt inside a held budget: the slot is given back when `counts` says the answer did
 * not test the secret. An attempt that threw keeps its slot (it may have tested the secret).
 */
export async function withAttempt<T>(
  entries: readonly (readonly [RateLimiter, string | null])[],
  counts: (answer: T) => boolean,
  attempt: () => Promise<T>,
): Promise<T> {
  const release = await holdAttempt(entries);
  let counted = true;
  try {
    const answer = await attempt();
    counted = counts(answer);
    return answer;
  } catch (err) {
    // Turned away before testing anything (the node is busy): not the person's attempt.
    if (err instanceof CloudError && err.code === 'rate_limited') counted = false;
    throw err;
  } finally {
    if (!counted) await release();
  }
}
