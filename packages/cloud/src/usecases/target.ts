/**
 * Whom an admin operation is about: the synced user (by id, login, UPN or mail) when the cloud
 * knows one, and how the agent is to find them: by the immutable anchor when there is one, by
 * login otherwise (before the first sync the directory decides; a login the copy does not know is
 * looked up once more by the writeback service after a refresh sync, then user_not_found).
 */
import type { UserRef } from '@writeback/protocol';
import type { Services } from '../services.js';
import { findUserByLogin, getUserById, type CloudUser } from '../users/directory-users.js';

export interface Target {
  user: CloudUser | null;
  /** The login the admin named, or the synced user's login. */
  login: string;
  ref: UserRef;
}

/** A cloud user id (`newId('u')`): only such a reference is looked up by id first. */
const USER_ID = /^u-[0-9a-f]{16}$/;

export async function findTarget(services: Services, tenantId: string, typed: string): Promise<Target> {
  const byId = USER_ID.test(typed) ? await getUserById(services.db, tenantId, typed) : null;
  const user = byId ?? (await findUserByLogin(services.db, tenantId, typed));
  if (!user) return { user: null, login: typed, ref: { by: 'login', value: typed } };
  return {
    user,
    login: user.login,
    ref:
      user.source === 'onprem' && user.anchor
        ? { by: 'anchor', value: user.anchor }
        : { by: 'login', value: user.login },
  };
}
