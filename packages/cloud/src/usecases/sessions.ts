/**
 * The end-user's signed-in sessions as the use cases see them: which subject a session is made
 * for, and ending them all when someone else may have known the password (after an admin's reset
 * or a self-service reset). Admin sessions (API tokens, page sessions) are the admin sign-in's.
 */
import type { Services } from '../services.js';
import { lookupKey, type CloudUser } from '../users/directory-users.js';
import { deleteSubjectSessions } from '../store/web-sessions.js';

/** The subject a user's session is made for: the synced user's id, else the canonical login. */
export function userSubject(user: Pick<CloudUser, 'id'> | null, login: string): string {
  return user ? user.id : lookupKey(login);
}

/** End every signed-in session of the user (both subjects it may have been made under). */
export async function endUserSessions(
  services: Services,
  tenantId: string,
  who: { user: Pick<CloudUser, 'id'> | null; login: string },
): Promise<void> {
  const subjects = new Set([userSubject(who.user, who.login), lookupKey(who.login), who.login.toLowerCase()]);
  for (const s of subjects) await deleteSubjectSessions(services.db, tenantId, 'user', s);
}
