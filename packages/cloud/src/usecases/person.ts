/**
 * Who a typed user name is, for every self-service use case (sign-in, change, recovery, methods):
 * the synced cloud user when there is one (login, UPN or mail), otherwise, before the tenant's first
 * sync, the name as typed (the directory decides). The `key` names the user in the cloud's own
 * tables (methods, flows): the canonical login, lower-cased.
 */
import type { Actor } from '../auth/principal.js';
import type { Services } from '../services.js';
import type { TenantSettings } from '../tenants/settings.js';
import { findUserByLogin, lookupKey, type CloudUser } from '../users/directory-users.js';

export interface Person {
  key: string;
  /** What the agent is asked about (`by: login`). */
  login: string;
  displayName: string | null;
  /** The directory's mail attribute (a registered address may be used instead). */
  mail: string | null;
  mobile: string | null;
  cloud: CloudUser | null;
}

/** The actor of the person's own operations in the audit log. */
export const selfActor = (p: Pick<Person, 'login'>): Actor => ({ kind: 'user', id: p.login });

export async function resolvePerson(services: Services, tenantId: string, typed: string): Promise<Person> {
  return personOf(await findUserByLogin(services.db, tenantId, typed), typed);
}

/** The person a user found already (or none: the name as typed) stands for; no lookup. */
export function personOf(cloud: CloudUser | null, typed: string): Person {
  if (cloud)
    return {
      key: lookupKey(cloud.login),
      login: cloud.login,
      displayName: cloud.displayName,
      mail: cloud.mail,
      mobile: cloud.mobile,
      cloud,
    };
  return { key: lookupKey(typed), login: typed, displayName: null, mail: null, mobile: null, cloud: null };
}

/**
 * Whether self-service applies to this user: on for the tenant, and when groups are set, the
 * synced user is in one of them (a user the cloud does not know cannot be shown to be).
 */
export function inSsprScope(settings: TenantSettings, user: Person): boolean {
  if (!settings.sspr.enabled) return false;
  if (settings.sspr.groups.length === 0) return true;
  if (!user.cloud) return false;
  const wanted = new Set(settings.sspr.groups.map(lookupKey));
  return user.cloud.groups.some((g) => wanted.has(lookupKey(g)));
}

/** Names the password must not contain (AD rule: the account name, and name parts of 3+ characters). */
export function nameParts(user: Pick<Person, 'login' | 'displayName'>): string[] {
  const out = new Set<string>();
  const login = user.login.includes('@') ? (user.login.split('@')[0] ?? user.login) : user.login;
  if (login.length >= 3) out.add(login);
  for (const part of (user.displayName ?? '').split(/[\s,.\-_#\t]+/)) if (part.length >= 3) out.add(part);
  return [...out];
}
