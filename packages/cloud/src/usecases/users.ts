/**
 * The tenant's users for an admin: one user looked up by login, UPN or mail (before the first
 * completed sync there is no copy, so the directory is asked whether the login exists: a policy
 * read, not audited), and a cloud-only user created with a local password.
 */
import { hashPassword } from '../auth/passwords.js';
import type { Actor } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { createCloudUser, findUserByLogin, type CloudUser } from '../users/directory-users.js';
import { send } from './write.js';

/** The user, or null with `synced: false` when only the directory knows it. Throws `not_found`. */
export async function lookUpUser(
  services: Services,
  input: { tenantId: string; actor: Actor; login: string },
): Promise<{ user: CloudUser | null; synced: boolean }> {
  const { tenantId, login } = input;
  const synced = await services.sync.hasSynced(tenantId);
  const user = await findUserByLogin(services.db, tenantId, login);
  if (user) return { user, synced };
  if (synced) throw new CloudError('not_found', 'no such user');
  const r = await send(
    services,
    { tenantId, actor: input.actor, target: login, clientIp: null },
    { op: 'policy.get', params: { user: { by: 'login', value: login } } },
    { audit: false },
  );
  if (r.result.outcome === 'user_not_found') throw new CloudError('not_found', 'no such user');
  return { user: null, synced: false };
}

export async function createCloudOnlyUser(
  services: Services,
  input: {
    tenantId: string;
    login: string;
    password: string;
    displayName?: string | undefined;
    mail?: string | undefined;
    mobile?: string | undefined;
  },
): Promise<CloudUser> {
  const { tenantId } = input;
  if (await findUserByLogin(services.db, tenantId, input.login))
    throw new CloudError('conflict', 'a user with this login exists');
  return createCloudUser(
    services.db,
    tenantId,
    {
      login: input.login,
      passwordHash: await hashPassword(input.password),
      ...(input.displayName ? { displayName: input.displayName } : {}),
      ...(input.mail ? { mail: input.mail } : {}),
      ...(input.mobile ? { mobile: input.mobile } : {}),
    },
    services.now(),
  );
}
