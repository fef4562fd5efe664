/**
 * Self-service password change (current + new), for the public API and the My Account page alike,
 * including the forced change of a user who must change (expired, or reset with change at next
 * sign-in): the directory checks the current password in the same write that sets the new one.
 *
 * That makes it a password-guessing oracle, so it draws on the user's attempt budget (one per
 * account whichever alias was typed: usecases/attempts.ts) and the client IP's. An attempt counts
 * when it tested the current password (wrong_current_password, succeeded) or may have (timeout,
 * outcome_unknown), or probed for a user (user_not_found); refused before the directory (the
 * common-password check) or not reaching it, it does not. An unauthenticated caller (the public
 * API) learns nothing about an account before the current password is proven (issue 10): unknown
 * user, disabled, locked, protected or cloud-only all answer `wrong_current_password` with no
 * details, in about the directory's usual time (usecases/timing.ts). After a success the user's other
 * signed-in sessions end (the one that made the change stays) and the user and the listed admins
 * are told.
 */
import { randomUUID } from 'node:crypto';
import type { OutcomeCode } from '@writeback/protocol';
import { BANNED_DETAIL, bannedRefusal } from '../policy/banned.js';
import type { Services } from '../services.js';
import { accountBudget, userBudgetKey, withAttempt } from './attempts.js';
import { notifySelfServiceWrite } from './notify.js';
import { resolvePerson, selfActor, type Person } from './person.js';
import { endUserSessions } from './sessions.js';
import { observe, padLike, startTimer } from './timing.js';
import { afterSuccess, refuseBeforeSending, send, type WriteAnswer } from './write.js';

const COUNTED: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'succeeded',
  'wrong_current_password',
  'user_not_found',
  'timeout',
  'outcome_unknown',
]);

export interface ChangeInput {
  tenantId: string;
  /**
   * The user as typed (login, UPN or mail) by an unauthenticated caller (the public API), or the
   * signed-in user (My Account). Only the signed-in user has proven anything yet.
   */
  user: string | Person;
  currentPassword: string;
  newPassword: string;
  clientIp: string | null;
  /** The page session that made the change: it stays signed in; every other session ends. */
  session?: string | null;
}

/** Directory answers that come from checking the current password. */
const TESTED: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'succeeded',
  'wrong_current_password',
  'policy_violation',
]);

/** What an unauthenticated caller is told about anything but its own proven password: nothing. */
const NOT_PROVEN: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'wrong_current_password',
  'user_not_found',
  'account_disabled',
  'account_locked',
  'protected_account',
]);

export async function changeOwnPassword(services: Services, input: ChangeInput): Promise<WriteAnswer> {
  const { tenantId } = input;
  const proven = typeof input.user !== 'string';
  const person = typeof input.user === 'string' ? await resolvePerson(services, tenantId, input.user) : input.user;
  const w = { tenantId, actor: selfActor(person), target: person.login, clientIp: input.clientIp };
  // Before proof, only what was typed counts as the user's name (a display name would tell who exists).
  const refused = bannedRefusal(input.newPassword, proven ? person : { login: person.login });
  if (refused) return refuseBeforeSending(services, w, 'password.change', refused, BANNED_DETAIL);
  const { limiters } = services;
  const timing = `change:${tenantId}`;
  const started = startTimer();
  const answer = await withAttempt(
    accountBudget(limiters.change, {
      account: userBudgetKey(tenantId, person.cloud, person.login),
      ip: input.clientIp,
      // A signed-in session is the owner's own browser: its budget, not the account-wide one.
      device: input.session ? `session:${input.session}` : null,
    }),
    (a: WriteAnswer) => COUNTED.has(a.result.outcome),
    async (): Promise<WriteAnswer> => {
      const noDirectoryAccount = person.cloud
        ? person.cloud.source === 'cloud'
        : await services.sync.hasSynced(tenantId);
      if (!proven && noDirectoryAccount) {
        // A name the synced copy does not know, or a cloud-only user: answered like a wrong
        // password, in the same time, without a trip to the directory (nor the refresh sync a
        // stranger could otherwise trigger).
        await padLike(services, timing, started);
        const unknown: WriteAnswer = {
          op: 'password.change',
          result: { outcome: 'user_not_found' },
          requestId: randomUUID(),
          sent: false,
        };
        return unknown;
      }
      const a = await send(services, w, {
        op: 'password.change',
        params: { user: { by: 'login', value: person.login } },
        secret: { currentPassword: input.currentPassword, newPassword: input.newPassword },
      });
      // Answers made by checking the current password teach the usual time; the directory's
      // answers made before any check (disabled, locked, protected) wait until they took as long.
      if (TESTED.has(a.result.outcome)) observe(services, timing, started);
      else if (!proven && NOT_PROVEN.has(a.result.outcome)) await padLike(services, timing, started);
      return a;
    },
  );
  if (answer.result.outcome === 'succeeded') {
    // Whoever else was signed in may have known the old password.
    await afterSuccess(services, answer, 'end the other sessions', () =>
      endUserSessions(services, tenantId, { user: person.cloud, login: person.login }, input.session ?? null),
    );
    notifySelfServiceWrite(services, { tenantId, person }, 'change');
  }
  if (!proven && NOT_PROVEN.has(answer.result.outcome))
    return { ...answer, result: { outcome: 'wrong_current_password' } };
  return answer;
}
