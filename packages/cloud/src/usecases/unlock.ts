/**
 * Unlocking an account, by an admin (API and admin pages) or by the user after recovery when the
 * tenant allows unlock alone. One account.unlock request; after a success the user (and for
 * self-service the listed admins) are told, and the cloud's copy shows the account unlocked.
 */
import type { Actor } from '../auth/principal.js';
import type { Services } from '../services.js';
import { notifyAdminWrite, notifySelfServiceWrite } from './notify.js';
import type { SelfServiceInput } from './password-reset.js';
import { selfActor } from './person.js';
import type { Target } from './target.js';
import { send, type WriteAnswer } from './write.js';

export async function unlockAsAdmin(
  services: Services,
  input: { tenant: { id: string; name: string }; actor: Actor; target: Target; clientIp: string | null },
): Promise<WriteAnswer> {
  const { tenant, target } = input;
  const answer = await send(
    services,
    { tenantId: tenant.id, actor: input.actor, target: target.login, clientIp: input.clientIp, user: target.user },
    { op: 'account.unlock', params: { user: target.ref } },
  );
  if (answer.result.outcome !== 'succeeded') return answer;
  if (target.user) await services.writeback.userSettled(target.user.id);
  notifyAdminWrite(services, { tenant, login: target.login, user: target.user }, 'unlock');
  return answer;
}

export async function unlockOwnAccount(services: Services, input: SelfServiceInput): Promise<WriteAnswer> {
  const { person } = input;
  const answer = await send(
    services,
    { tenantId: input.tenantId, actor: selfActor(person), target: person.login, clientIp: input.clientIp },
    { op: 'account.unlock', params: { user: { by: 'login', value: person.login } } },
  );
  if (answer.result.outcome === 'succeeded')
    notifySelfServiceWrite(services, { tenantId: input.tenantId, person }, 'unlock');
  return answer;
}
