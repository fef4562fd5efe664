/**
 * End-user sign-in for the pages. The cloud's sign-in service (users/sign-in.ts: cloud hash or
 * pass-through per tenant settings) is the one to use; until it is present this bridge signs in by
 * pass-through (credentials.verify through the writeback service, i.e. the directory decides),
 * with the same result shape, rate limits per login and per IP, and no user enumeration.
 */
import { z } from 'zod';
import type { OutcomeCode } from '@writeback/protocol';
import type { Services } from '../http/context.js';
import { reserveAll } from '../rate-limit/limiter.js';
import { findUserByLogin, lookupKey, type CloudUser } from '../users/directory-users.js';

export type SignInOutcome =
  | 'succeeded'
  | 'must_change'
  | 'password_expired'
  | 'invalid_credentials'
  | 'account_locked'
  | 'account_disabled'
  | 'agent_unavailable'
  | 'directory_unavailable'
  | 'rate_limited'
  | 'timeout';

export interface SignInResult {
  outcome: SignInOutcome;
  user: CloudUser | null;
  via: 'cloud_hash' | 'pass_through' | null;
  retryAfterSeconds?: number;
}

const VerifyData = z.object({ mustChange: z.boolean().optional(), expired: z.boolean().optional() });

function fromOutcome(o: OutcomeCode): SignInOutcome {
  switch (o) {
    case 'account_locked':
      return 'account_locked';
    case 'account_disabled':
      return 'account_disabled';
    case 'agent_unavailable':
    case 'request_rejected':
      return 'agent_unavailable';
    case 'directory_unavailable':
    case 'access_denied':
      return 'directory_unavailable';
    case 'timeout':
    case 'outcome_unknown':
      return 'timeout';
    default:
      return 'invalid_credentials';
  }
}

export async function signInForPages(services: Services, input: { tenantId: string; login: string; password: string; clientIp: string | null }): Promise<SignInResult> {
  const r = reserveAll([
    [services.limiters.signInPerLogin, `user:${input.tenantId}:${lookupKey(input.login)}`],
    [services.limiters.signInPerIp, `user:${input.clientIp ?? 'unknown'}`],
  ]);
  if (!r.ok) return { outcome: 'rate_limited', user: null, via: null, retryAfterSeconds: r.retryAfterSeconds };
  const user = await findUserByLogin(services.db, input.tenantId, input.login);
  const login = user?.login ?? input.login;
  const res = await services.writeback.executeOperation({
    tenantId: input.tenantId,
    request: { op: 'credentials.verify', params: { user: { by: 'login', value: login } }, secret: { password: input.password } },
    actor: { kind: 'user', id: login },
    target: login,
    clientIp: input.clientIp,
  });
  const result = res.result;
  if (result.outcome !== 'succeeded') {
    const outcome = fromOutcome(result.outcome);
    // Only guesses count against the limit; an outage is not the person's attempt.
    if (outcome !== 'invalid_credentials' && outcome !== 'account_locked') r.release();
    return { outcome, user, via: 'pass_through' };
  }
  r.release();
  const data = VerifyData.safeParse(result.data ?? {});
  const flags = data.success ? data.data : {};
  return { outcome: flags.expired ? 'password_expired' : flags.mustChange ? 'must_change' : 'succeeded', user, via: 'pass_through' };
}
