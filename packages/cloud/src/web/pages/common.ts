/**
 * What the end-user pages share: the signed-in user of a request (or null), the page shell with
 * the user's navigation, the tenant's self-service rate limits, and the agent presence check made
 * before a person types anything.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { createRateLimiter, reserveAll, type RateLimiter } from '../../rate-limit/limiter.js';
import type { Tenant } from '../../tenants/tenants.js';
import { WebError } from '../errors.js';
import { layout, type SafeHtml } from '../html.js';
import { t } from '../i18n/index.js';
import { resolveUser, type PageUser } from '../identity.js';
import { tenantBase } from '../page.js';
import { currentSession, type WebSession } from '../session.js';

/** What the pages keep in a user session (nothing secret in clear: a pending TOTP key is sealed). */
export const UserSessionData = z.object({
  mustChange: z.boolean().optional(),
  expired: z.boolean().optional(),
  pendingTotp: z.string().optional(),
  pendingEmail: z.string().optional(),
  pendingSms: z.string().optional(),
});
export type UserSessionData = z.infer<typeof UserSessionData>;

export function sessionData(s: WebSession): UserSessionData {
  const r = UserSessionData.safeParse(s.data);
  return r.success ? r.data : {};
}

export interface SignedIn {
  session: WebSession;
  data: UserSessionData;
  user: PageUser;
}

export async function signedInUser(services: Services, req: FastifyRequest, tenant: Tenant): Promise<SignedIn | null> {
  const session = await currentSession(services, req, 'user', tenant.id);
  if (!session) return null;
  return { session, data: sessionData(session), user: await resolveUser(services, tenant.id, session.subjectLogin) };
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

/** Whether at least one of the tenant's agents is connected right now. */
export async function agentConnected(services: Services, tenantId: string): Promise<boolean> {
  try {
    return (await services.relay.listAgents(tenantId)).some((a) => a.tenantId === tenantId);
  } catch (err) {
    services.log.warn('could not ask the relay for agents', { tenantId, err });
    return false;
  }
}

// Self-service attempts: `attemptsPerHour` per user and four times that per client IP. One limiter
// per limit value (kept in this process, like the API's): a tenant that changes its setting starts
// counting afresh under the new value.
const limiters = new WeakMap<Services, Map<string, RateLimiter>>();

function limiter(services: Services, perHour: number): RateLimiter {
  let byLimit = limiters.get(services);
  if (!byLimit) {
    byLimit = new Map();
    limiters.set(services, byLimit);
  }
  const key = String(perHour);
  let l = byLimit.get(key);
  if (!l) {
    l = createRateLimiter({ limit: perHour, windowSeconds: 3600 }, services.now);
    byLimit.set(key, l);
  }
  return l;
}

/** Count one self-service attempt for the user and the IP, or throw `rate_limited` with the wait. */
export function countAttempt(
  services: Services,
  o: { tenantId: string; userKey: string; clientIp: string; perHour: number },
): void {
  const r = reserveAll([
    [limiter(services, o.perHour), `${o.tenantId}:u:${o.userKey}`],
    [limiter(services, o.perHour * 4), `${o.tenantId}:ip:${o.clientIp}`],
  ]);
  if (!r.ok) throw new WebError('rate_limited', { retryAfterSeconds: r.retryAfterSeconds });
}

export const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store');
