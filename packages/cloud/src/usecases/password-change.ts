/**
 * Self-service password change (current + new), for the public API and the My Account page alike,
 * including the forced change of a user who must change (expired, or reset with change at next
 * sign-in): the directory checks the current password in the same write that sets the new one.
 *
 * That makes it a password-guessing oracle, so it draws on the user's attempt budget (one per
 * account whichever alias was typed: usecases/attempts.ts) and the client IP's. An attempt counts
 * when it tested the current password (wrong_current_password, succeeded) or may have (timeout,
 * outcome_unknown), or probed for a user (user_not_found); refused before the directory (the
 * common-password check) or not reaching it, it does not. After a success the user's other
 * signed-in sessions end (the one that made the change stays) and the user and the listed admins
 * are told.
 */
import type { OutcomeCode } from '@writeback/protocol';
import { BANNED_DETAIL, bannedRefusal } from '../policy/banned.js';
import type { Services } from '../services.js';
import { userBudgetKey, withAttempt } from './attempts.js';
import { notifySelfServiceWrite } from './notify.js';
import { resolvePerson, selfActor, type Person } from './person.js';
import { endUserSessions } from './sessions.js';
import { refuseBeforeSending, send, type WriteAnswer } from './write.js';

const COUNTED: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'succeeded',
  'wrong_current_password',
  'user_not_found',
  'timeout',
  'outcome_unknown',
]);

export interface ChangeInput {
  tenantId: string;
  /** The user as typed (login, UPN or mail), or the signed-in user. */
  user: string | Person;
  currentPassword: string;
  newPassword: string;
  clientIp: string | null;
  /** The page session that made the change: it stays signed in; every other session ends. */
  session?: string | null;
}

export async function changeOwnPassword(services: Services, input: ChangeInput): Promise<WriteAnswer> {
  const { tenantId } = input;
  const person = typeof input.user === 'string' ? await resolvePerson(services, tenantId, input.user) : input.user;
  const w = { tenantId, actor: selfActor(person), target: person.login, clientIp: input.clientIp };
  const refused = bannedRefusal(input.newPassword, person);
  if (refused) return refuseBeforeSending(services, w, 'password.change', refused, BANNED_DETAIL);
  const { limiters } = services;
  const answer = await withAttempt(
    [
      [limiters.changePerUser, userBudgetKey(tenantId, person.cloud, person.login)],
      [limiters.changePerIp, input.clientIp],
    ],
    (a: WriteAnswer) => COUNTED.has(a.result.outcome),
    () =>
      send(services, w, {
        op: 'password.change',
        params: { user: { by: 'login', value: person.login } },
        secret: { currentPassword: input.currentPassword, newPassword: input.newPassword },
      }),
  );
  if (answer.result.outcome === 'succeeded') {
    // Whoever else was signed in may have known the old password.
    await endUserSessions(services, tenantId, { user: person.cloud, login: person.login }, input.session ?? null);
    notifySelfServiceWrite(services, { tenantId, person }, 'change');
  }
  return answer;
}
