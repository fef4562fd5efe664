/**
 * Password reset, by an admin (API and admin pages) or by the user after recovery (the forgot
 * flow's last step). One path for each:
 *
 * 1. A given password passes the common-password check first (policy/banned.ts), refused in the
 *    directory's own shape without reaching the agent. A generated one is made to the directory's
 *    effective policy, read first (the read is audited like the write).
 * 2. One password.reset request. An admin's reset forces a change at next sign-in by default when
 *    the password was generated (the admin saw it); the user's own reset never does, enforces
 *    history and unlocks.
 * 3. After a success: the user's signed-in sessions end (someone else may have known the old
 *    password), the cloud's copy of the user is settled (must-change, lock), and the user (and for
 *    self-service, the listed admins) are told.
 */
import type { Actor, TenantPermission } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import { BANNED_DETAIL, bannedRefusal } from '../policy/banned.js';
import type { Services } from '../services.js';
import { generatePassword } from '../writeback/password-generator.js';
import { notifyAdminWrite, notifySelfServiceWrite } from './notify.js';
import { selfActor, type Person } from './person.js';
import { endUserSessions } from './sessions.js';
import type { Target } from './target.js';
import { afterSuccess, refuseBeforeSending, send, type WriteAnswer } from './write.js';

export interface AdminResetInput {
  tenant: { id: string; name: string };
  actor: Actor;
  /** What the caller may do in the tenant (its role or key). */
  may: (perm: TenantPermission) => boolean;
  target: Target;
  clientIp: string | null;
  /** Absent: the cloud generates one that meets the directory's policy. */
  newPassword?: string | undefined;
  /** Default: true for a generated password, false for a given one. */
  forceChange?: boolean | undefined;
  unlock: boolean;
  enforceHistory: boolean;
}

export async function resetPasswordAsAdmin(services: Services, input: AdminResetInput): Promise<WriteAnswer> {
  const { tenant, target } = input;
  // Skipping the history reopens the user's old passwords: a tenant admin's decision, not the help desk's.
  if (!input.enforceHistory && !input.may('users.reset_without_history'))
    throw new CloudError('forbidden', 'only a tenant admin may reset without enforcing the password history');
  const w = {
    tenantId: tenant.id,
    actor: input.actor,
    target: target.login,
    clientIp: input.clientIp,
    user: target.user,
  };
  let newPassword = input.newPassword;
  const generated = newPassword === undefined;
  if (newPassword === undefined) {
    // A generated password must meet the directory's own policy: read it first.
    const policy = await send(services, w, { op: 'policy.get', params: { user: target.ref } });
    if (policy.result.outcome !== 'succeeded') return policy;
    newPassword = generatePassword(policy.result.policy, target.login);
  } else {
    const refused = bannedRefusal(newPassword, { login: target.login, displayName: target.user?.displayName });
    if (refused) return refuseBeforeSending(services, w, 'password.reset', refused, BANNED_DETAIL);
  }
  const forceChange = input.forceChange ?? generated;
  const answer = await send(services, w, {
    op: 'password.reset',
    params: { user: target.ref, forceChange, unlock: input.unlock, enforceHistory: input.enforceHistory },
    secret: { newPassword },
  });
  if (answer.result.outcome !== 'succeeded') return answer;
  await afterSuccess(services, answer, "end the user's sessions", () => endUserSessions(services, tenant.id, target));
  if (target.user) await services.writeback.userSettled(target.user.id);
  notifyAdminWrite(services, { tenant, login: target.login, user: target.user }, 'reset');
  return generated ? { ...answer, temporaryPassword: newPassword } : answer;
}

export interface SelfServiceInput {
  tenantId: string;
  person: Person;
  clientIp: string | null;
}

/** The user's own reset after verification: history enforced, account unlocked, no forced change. */
export async function resetOwnPassword(
  services: Services,
  input: SelfServiceInput,
  newPassword: string,
): Promise<WriteAnswer> {
  const { person } = input;
  const w = { tenantId: input.tenantId, actor: selfActor(person), target: person.login, clientIp: input.clientIp };
  const refused = bannedRefusal(newPassword, person);
  if (refused) return refuseBeforeSending(services, w, 'password.reset', refused, BANNED_DETAIL);
  const answer = await send(services, w, {
    op: 'password.reset',
    params: { user: { by: 'login', value: person.login }, forceChange: false, unlock: true, enforceHistory: true },
    secret: { newPassword },
  });
  if (answer.result.outcome !== 'succeeded') return answer;
  await afterSuccess(services, answer, "end the user's sessions", () =>
    endUserSessions(services, input.tenantId, { user: person.cloud, login: person.login }),
  );
  notifySelfServiceWrite(services, { tenantId: input.tenantId, person }, 'reset');
  return answer;
}
