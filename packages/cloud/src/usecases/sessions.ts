/**
 * The end-user's signed-in sessions as the use cases see them: which subject a session is made
 * for, and ending them when someone else may have known the password: all of them after an
 * admin's reset or a self-service reset, all but the one that made it after a change. Admin
 * sessions (API tokens, page sessions) are the admin sign-in's.
 */
import type { Services } from '../services.js';
import { lookupKey, type CloudUser } from '../users/directory-users.js';
import { deleteSubjectSessions } from '../store/web-sessions.js';

/** The subject a user's session is made for: the synced user's id, else the canonical login. */
export function userSubject(user: Pick<CloudUser, 'id'> | null, login: string): string {
  return user ? user.id : lookupKey(login);
}

/**
 * End every signed-in session of the user (both subjects it may have been made under), but the
 * one in `except` (the session that made the change).
 */
export async function endUserSessions(
  services: Services,
  tenantId: string,
  who: { user: Pick<CloudUser, 'id'> | null; login: string },
  except: string | null = null,
): Promise<void> {
  const subjects = [userSubject(who.user, who.login), lookupKey(who.login), who.login.toLowerCase()];
  await deleteSubjectSessions(services.db, tenantId, 'user', subjects, except);
}
