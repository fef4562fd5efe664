/**
 * Admins: the tenant's admin accounts (role, enabled or not, authenticator enrolled or not) and
 * what a tenant admin may do to them: change the role, disable or enable, remove. Only tenant
 * admins see the page (the help desk gets the 403 page and no navigation entry: the list of
 * admin logins is nothing the help desk needs). The rules — never the last enabled admin
 * (`last_admin`, shown on the page with that code), sessions ended, one audit record per change —
 * are the use case's (usecases/admins.ts), shared with the API. New accounts are made through the
 * API (POST /api/v1/tenants/:tenant/admins).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ADMIN_ROLES } from '../../auth/admins.js';
import { CloudError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AdminView, listAdmins, removeAdmin, updateAdmin } from '../../usecases/admins.js';
import { csrfField, html, notice, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { parseForm, redirect, sendPage } from '../page.js';
import { utc } from './format.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';

const DONE = ['role', 'disabled', 'enabled', 'removed'] as const;
const Done = z.object({ done: z.enum(DONE).optional() });
const AdminParams = z.object({ tenant: z.string(), adminId: z.string().regex(/^adm-[0-9a-f]{16}$/) });
const RoleForm = z.object({ role: z.enum(ADMIN_ROLES) });

/** The admin acting, in their tenant, from where. */
const by = (ctx: AdminContext, clientIp: string) => ({
  tenantId: ctx.tenant.id,
  actor: { kind: 'admin' as const, id: ctx.admin.id },
  clientIp,
});

function row(ctx: AdminContext, a: AdminView): SafeHtml {
  const csrf = csrfField(ctx.session.csrfToken);
  const action = (what: string) => `${ctx.base}/admins/${encodeURIComponent(a.id)}/${what}`;
  const other = a.role === 'admin' ? 'helpdesk' : 'admin';
  const self = a.id === ctx.admin.id ? html` <span class="badge">${t('admin.admins.you')}</span>` : '';
  return html`<tr data-admin-id="${a.id}"><td data-label="${t('admin.admins.col.login')}"><strong>${a.login}</strong>${self}<span class="sub mono">${a.id}</span></td>
<td data-label="${t('admin.admins.col.role')}" data-role="${a.role}">${t(`admin.role.${a.role}`)}</td>
<td data-label="${t('admin.admins.col.status')}">${a.disabledAt === null ? html`<span class="badge on" data-status="enabled">${t('admin.admins.enabled')}</span>` : html`<span class="badge bad" data-status="disabled">${t('admin.admins.disabled')}</span>`}</td>
<td data-label="${t('admin.admins.col.factor')}">${a.secondFactor ? t('admin.admins.factor.yes') : html`<span class="badge warn">${t('admin.admins.factor.no')}</span>`}</td>
<td data-label="${t('admin.admins.col.created')}">${utc(a.createdAt)}</td>
<td><div class="row-actions"><form method="post" action="${action('role')}">${csrf}<input type="hidden" name="role" value="${other}"><button type="submit" class="secondary" aria-label="${t(`admin.admins.makeAria.${other}`, { login: a.login })}">${t(`admin.admins.make.${other}`)}</button></form>
<form method="post" action="${action(a.disabledAt === null ? 'disable' : 'enable')}">${csrf}<button type="submit" class="secondary" aria-label="${t(a.disabledAt === null ? 'admin.admins.disableAria' : 'admin.admins.enableAria', { login: a.login })}">${t(a.disabledAt === null ? 'admin.admins.disable' : 'admin.admins.enable')}</button></form>
<form method="post" action="${action('remove')}">${csrf}<button type="submit" class="secondary danger" aria-label="${t('admin.admins.removeAria', { login: a.login })}">${t('admin.admins.remove')}</button></form></div></td></tr>`;
}

async function adminsPage(services: Services, ctx: AdminContext, top: SafeHtml | ''): Promise<string> {
  const admins = await listAdmins(services, ctx.tenant.id);
  const body = html`${top}<p>${t('admin.admins.intro')}</p>
<div class="table-wrap"><table class="data"><caption class="visually-hidden">${t('admin.admins.caption')}</caption>
<thead><tr><th scope="col">${t('admin.admins.col.login')}</th><th scope="col">${t('admin.admins.col.role')}</th><th scope="col">${t('admin.admins.col.status')}</th><th scope="col">${t('admin.admins.col.factor')}</th><th scope="col">${t('admin.admins.col.created')}</th><th scope="col"><span class="visually-hidden">${t('admin.admins.col.actions')}</span></th></tr></thead>
<tbody>${admins.map((a) => row(ctx, a))}</tbody></table></div>
<p class="hint">${t('admin.admins.createHint')}</p>`;
  return adminPage(ctx, { title: t('admin.admins.title'), body, section: 'admins' });
}

/**
 * Run one change; `last_admin` re-renders the page with the refusal (409), anything else is the
 * pages' error handling. Ends with a redirect, which leads to sign-in when the change ended the
 * acting admin's own session.
 */
async function change(
  services: Services,
  ctx: AdminContext,
  reply: FastifyReply,
  done: (typeof DONE)[number],
  run: () => Promise<unknown>,
): Promise<FastifyReply> {
  try {
    await run();
  } catch (err) {
    if (err instanceof CloudError && err.code === 'last_admin')
      return sendPage(
        reply,
        await adminsPage(services, ctx, notice('error', t('admin.admins.lastAdmin'), 'last_admin')),
        409,
      );
    throw err;
  }
  return redirect(reply, `${ctx.base}/admins?done=${done}`);
}

export function registerAdminAdmins(web: FastifyInstance, services: Services): void {
  const adminOnly = adminRoutes(web, services, { role: 'admin' });
  adminOnly.get('/t/:tenant/admin/admins', async (ctx, req, reply) => {
    const d = Done.safeParse(req.query);
    const top = d.success && d.data.done ? notice('success', t(`admin.admins.done.${d.data.done}`)) : '';
    return sendPage(reply, await adminsPage(services, ctx, top));
  });

  adminOnly.post('/t/:tenant/admin/admins/:adminId/role', async (ctx, req, reply) => {
    const p = parseForm(AdminParams, req.params);
    const form = parseForm(RoleForm, req.body);
    return change(services, ctx, reply, 'role', () =>
      updateAdmin(services, { ...by(ctx, req.ip), adminId: p.adminId, role: form.role }),
    );
  });

  for (const [what, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const)
    adminOnly.post(`/t/:tenant/admin/admins/:adminId/${what}`, async (ctx, req, reply) => {
      const p = parseForm(AdminParams, req.params);
      return change(services, ctx, reply, disabled ? 'disabled' : 'enabled', () =>
        updateAdmin(services, { ...by(ctx, req.ip), adminId: p.adminId, disabled }),
      );
    });

  adminOnly.post('/t/:tenant/admin/admins/:adminId/remove', async (ctx, req, reply) => {
    const p = parseForm(AdminParams, req.params);
    return change(services, ctx, reply, 'removed', () =>
      removeAdmin(services, { ...by(ctx, req.ip), adminId: p.adminId }),
    );
  });
}
