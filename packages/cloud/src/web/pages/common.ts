/**
 * What the end-user pages share: the signed-in user of a request (or null), what the pages keep in
 * a user session, and the page shell with the user's navigation. (The self-service limits and the
 * agent presence check belong to the recovery use cases: usecases/recovery/.)
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Tenant } from '../../tenants/tenants.js';
import { layout, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { resolvePerson, type Person } from '../../usecases/person.js';
import { redirect, tenantBase } from '../page.js';
import { currentSession, type WebSession } from '../session.js';

/** What the pages keep in a user session (nothing secret in clear: a pending TOTP key is sealed). */
export const UserSessionData = z.object({
  mustChange: z.boolean().optional(),
  expired: z.boolean().optional(),
  pendingTotp: z.string().optional(),
  pendingEmail: z.string().optional(),
  pendingSms: z.string().optional(),
  /** When the password was last proven again in this session (usecases/methods/reauth.ts). */
  reauthAt: z.number().optional(),
});
export type UserSessionData = z.infer<typeof UserSessionData>;

export function sessionData(s: WebSession): UserSessionData {
  const r = UserSessionData.safeParse(s.data);
  return r.success ? r.data : {};
}

export interface SignedIn {
  session: WebSession;
  data: UserSessionData;
  user: Person;
}

export async function signedInUser(services: Services, req: FastifyRequest, tenant: Tenant): Promise<SignedIn | null> {
  const session = await currentSession(services, req, 'user', tenant.id);
  if (!session) return null;
  return { session, data: sessionData(session), user: await resolvePerson(services, tenant.id, session.subjectLogin) };
}

export function userPage(
  tenant: Tenant,
  o: { title: string; body: SafeHtml; csrf?: string; current?: 'account' | 'signin' | 'forgot'; scripts?: string[] },
): string {
  const base = tenantBase(tenant);
  return layout({
    title: o.title,
    body: o.body,
    tenantName: tenant.name,
    ...(o.csrf
      ? {
          nav: [{ href: `${base}/account`, label: t('account.title'), current: o.current === 'account' }],
          signOut: { action: `${base}/signout`, csrf: o.csrf },
        }
      : {}),
    ...(o.scripts ? { scripts: o.scripts } : {}),
  });
}

export const POLICY_SCRIPT = '/assets/policy-check.js';

export const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store');

/** The signed-in user, or null after redirecting to sign-in (the session expired). */
export async function requireUser(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  tenant: Tenant,
): Promise<SignedIn | null> {
  const s = await signedInUser(services, req, tenant);
  if (!s) {
    await redirect(reply, `${tenantBase(tenant)}/signin?m=expired`);
    return null;
  }
  return s;
}

/** The device cookie (usecases/devices.ts): kept half a year, renewed at each sign-in. */
export const DEVICE_COOKIE = 'wb-device';
export const DEVICE_COOKIE_SECONDS = 180 * 86_400;
