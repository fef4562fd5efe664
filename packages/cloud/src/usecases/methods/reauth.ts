/**
 * Who may add, replace or remove a way to prove it's you (issue 10: methods changed from a stolen
 * session or with a temporary password, without the owner knowing). Every registration use case
 * asks `methodChangeRefusal` first:
 *
 * - never while a password change is pending (reset with "change at next logon", or expired):
 *   whoever holds a temporary password must not make the account theirs for the next reset;
 * - only within REAUTH_WINDOW_MS of the last proof of the current password: the sign-in that made
 *   the session (user sessions are only made by a password sign-in: web/pages/signin.ts), or a
 *   re-authentication since (`reauthenticate`, which the caller records in the session).
 *
 * `reauthenticate` checks the password through the sign-in use case itself (usecases/user-sign-in.ts:
 * the same cloud hash or `credentials.verify` through the agent, the same attempt budgets), so a
 * re-authentication page is no cheaper a place to guess than the sign-in page.
 */
import type { Services } from '../../services.js';
import type { MethodKind } from '../../store/user-methods.js';
import type { Person } from '../person.js';
import { signInUser } from '../user-sign-in.js';
import { assertOffered } from './registered.js';

export const REAUTH_WINDOW_MS = 10 * 60_000;

/** What the caller's session says about the person's proof. */
export interface MethodSession {
  /** When the session was made (by a password sign-in). */
  startedAt: number;
  /** When the password was last proven again in this session, if it was. */
  reauthAt?: number | undefined;
  /** A password change is pending (must change at next logon, or expired). */
  changePending: boolean;
}

export type MethodChangeRefusal = 'change_pending' | 'reauth_required';

/** Why this session may not change methods now, or null when it may. */
export function methodChangeRefusal(services: Services, s: MethodSession): MethodChangeRefusal | null {
  if (s.changePending) return 'change_pending';
  const proven = Math.max(s.startedAt, s.reauthAt ?? 0);
  const age = services.now() - proven;
  return age >= 0 && age < REAUTH_WINDOW_MS ? null : 'reauth_required';
}

/** Who changes a way of proving it's them, from which session. */
export interface MethodChange {
  tenantId: string;
  user: Person;
  session: MethodSession;
}

/**
 * The checks before a change of the method `kind`: the tenant offers it (a CloudError otherwise:
 * registered.ts assertOffered), then why this session may not change it now, or null when it may.
 */
export async function methodChangeRefusalFor(
  services: Services,
  tenantId: string,
  kind: MethodKind,
  session: MethodSession,
): Promise<MethodChangeRefusal | null> {
  await assertOffered(services, tenantId, kind);
  return methodChangeRefusal(services, session);
}

export type ReauthResult =
  | { ok: true; at: number }
  | { ok: false; problem: 'change_pending' | 'password_expired' | 'invalid_credentials' | 'unavailable' }
  | { ok: false; problem: 'rate_limited'; retryAfterSeconds: number };

/** Prove the current password again (same path and budgets as a sign-in). */
export async function reauthenticate(
  services: Services,
  o: { tenantId: string; login: string; password: string; clientIp: string | null },
): Promise<ReauthResult> {
  const r = await signInUser(services, o);
  switch (r.outcome) {
    case 'succeeded':
      return { ok: true, at: services.now() };
    case 'must_change':
      return { ok: false, problem: 'change_pending' };
    case 'password_expired':
      return { ok: false, problem: 'password_expired' };
    case 'rate_limited':
      return { ok: false, problem: 'rate_limited', retryAfterSeconds: r.retryAfterSeconds ?? 60 };
    case 'invalid_credentials':
    case 'account_locked':
    case 'account_disabled':
      return { ok: false, problem: 'invalid_credentials' };
    default:
      return { ok: false, problem: 'unavailable' };
  }
}
