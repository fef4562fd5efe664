/**
 * Who is signed in to the admin pages, checked on every request: an admin web session
 * (session.ts, kind `admin`) that finished both factors, whose account still exists, is enabled
 * and belongs to the tenant of the path. The role is read from the account on every request, so a
 * demotion or a disabled account takes effect at once. Pages needing the `admin` role answer a
 * 403 page (code `forbidden`) to the help desk.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { getAdminById } from '../../store/admins.js';
import type { Tenant } from '../../tenants/tenants.js';
import { html, notice } from '../html.js';
import { t } from '../../i18n/index.js';
import { pageTenant, redirect, sendPage, tenantBase } from '../page.js';
import { currentSession, type WebSession } from '../session.js';
import type { AdminAccount, AdminContext } from './context.js';
import { adminPage } from './layout.js';

export type { AdminAccount, AdminContext } from './context.js';

/** What an admin session carries: `mfa` between the password and the second factor, `ok` after. */
export const AdminSessionData = z.object({ stage: z.enum(['mfa', 'ok']), pwAt: z.number() });
export type AdminSessionData = z.infer<typeof AdminSessionData>;

/** How long the second factor may take after the password. */
export const MFA_WINDOW_MS = 5 * 60_000;

export async function loadAdminAccount(
  services: Services,
  tenantId: string,
  adminId: string,
): Promise<AdminAccount | null> {
  const a = await getAdminById(services.db, adminId);
  if (!a || a.admin.tenantId !== tenantId || a.disabled) return null;
  return { id: a.admin.id, login: a.admin.login, role: a.admin.role };
}

export const adminBase = (tenant: Pick<Tenant, 'slug'>): string => `${tenantBase(tenant)}/admin`;

/** The admin session in any stage (for the sign-in steps). */
export async function adminSession(
  services: Services,
  req: FastifyRequest,
  tenant: Tenant,
): Promise<{ session: WebSession; data: AdminSessionData } | null> {
  const session = await currentSession(services, req, 'admin', tenant.id);
  if (!session) return null;
  const data = AdminSessionData.safeParse(session.data);
  return data.success ? { session, data: data.data } : null;
}

/**
 * The signed-in admin, or null after sending the answer: a redirect to sign-in (no session, or
 * second factor not done) or a 403 page (role too low).
 */
export async function requireAdmin(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  o: { role?: 'admin' } = {},
): Promise<AdminContext | null> {
  const tenant = await pageTenant(services, req);
  const base = adminBase(tenant);
  const s = await adminSession(services, req, tenant);
  const admin = s && s.data.stage === 'ok' ? await loadAdminAccount(services, tenant.id, s.session.subjectId) : null;
  if (!s || !admin) {
    redirect(reply, `${base}/signin`);
    return null;
  }
  const ctx: AdminContext = { tenant, admin, session: s.session, base };
  if (o.role === 'admin' && admin.role !== 'admin') {
    sendForbidden(reply, ctx);
    return null;
  }
  return ctx;
}

/** An admin page's handler: it runs for the signed-in admin only. */
export type AdminHandler = (ctx: AdminContext, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Declare admin page routes: the guard (requireAdmin, with `o.role` for every route declared
 * through the result) runs before each handler, which gets the signed-in admin; once the guard has
 * answered (the sign-in redirect, the 403 page) nothing else runs.
 */
export function adminRoutes(
  web: FastifyInstance,
  services: Services,
  o: { role?: 'admin' } = {},
): { get(url: string, handle: AdminHandler): void; post(url: string, handle: AdminHandler): void } {
  const on = (method: 'GET' | 'POST') => (url: string, handle: AdminHandler) => {
    web.route({
      method,
      url,
      handler: async (req, reply) => {
        const ctx = await requireAdmin(services, req, reply, o);
        if (!ctx) return reply;
        return handle(ctx, req, reply);
      },
    });
  };
  return { get: on('GET'), post: on('POST') };
}

export function sendForbidden(reply: FastifyReply, ctx: AdminContext): void {
  const body = html`${notice('error', html`<p>${t('admin.forbidden')}</p>`, 'forbidden')}
<p><a href="${ctx.base}/users">${t('admin.backToUsers')}</a></p>`;
  sendPage(reply, adminPage(ctx, { title: t('admin.forbidden.title'), body }), 403);
}
