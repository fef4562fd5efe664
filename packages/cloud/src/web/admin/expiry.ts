/**
 * The expiring-passwords report (usecases/expiry-reminders.ts, shared with GET
 * /api/v1/tenants/:tenant/password-expiry): users whose password expires within N days (default
 * the tenant's reminder setting, else 14), whether their reminder went out, those already expired,
 * and those whose expiry is not known with the reason (the reminders skip them). Admins and the
 * help desk alike (users.read).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { t } from '../../i18n/index.js';
import type { Services } from '../../services.js';
import { type ExpiringUser, expiryReport } from '../../usecases/expiry-reminders.js';
import { html, notice, type SafeHtml } from '../html.js';
import { parseForm, sendPage } from '../page.js';
import { utc } from './format.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';
import { addressHtml } from './users.js';

const Query = z.object({
  days: z
    .string()
    .trim()
    .regex(/^\d{1,3}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(365))
    .optional()
    .or(z.literal('').transform(() => undefined)),
});

function userCell(ctx: AdminContext, u: { userId: string; login: string; displayName: string | null }): SafeHtml {
  return html`<a href="${ctx.base}/users/${encodeURIComponent(u.userId)}">${u.login}</a>${u.displayName ? html`<span class="sub">${u.displayName}</span>` : ''}`;
}

function expiringTable(ctx: AdminContext, rows: readonly ExpiringUser[], id: string): SafeHtml {
  if (rows.length === 0) return html`<p class="empty" id="${id}-none">${t('admin.expiry.none')}</p>`;
  return html`<div class="table-wrap"><table class="data expiry" id="${id}">
<caption class="visually-hidden">${t('admin.expiry.caption')}</caption>
<thead><tr><th scope="col">${t('admin.expiry.col.user')}</th><th scope="col">${t('admin.users.col.mail')}</th><th scope="col">${t('admin.expiry.col.expires')}</th><th scope="col">${t('admin.expiry.col.reminded')}</th></tr></thead>
<tbody>${rows.map(
    (u) => html`<tr data-user="${u.login}"><td data-label="${t('admin.expiry.col.user')}">${userCell(ctx, u)}</td>
<td data-label="${t('admin.users.col.mail')}">${addressHtml(u.mail)}</td>
<td data-label="${t('admin.expiry.col.expires')}" class="when"><time datetime="${new Date(u.expiresAt).toISOString()}">${utc(u.expiresAt)}</time></td>
<td data-label="${t('admin.expiry.col.reminded')}" data-reminded="${u.reminded ? 'yes' : 'no'}">${u.reminded ? html`<span class="badge on">${t('admin.expiry.reminded')}</span>` : t('admin.expiry.notReminded')}</td></tr>`,
  )}</tbody></table></div>`;
}

export function registerAdminExpiry(web: FastifyInstance, services: Services): void {
  const pages = adminRoutes(web, services);
  pages.get('/t/:tenant/admin/expiry', async (ctx, req, reply) => {
    const q = parseForm(Query, req.query);
    const r = await expiryReport(services, ctx.tenant.id, q.days);
    const form = html`<form method="get" action="${ctx.base}/expiry" class="filters card">
<div class="field"><label for="days">${t('admin.expiry.days')}</label><input id="days" name="days" type="text" inputmode="numeric" value="${String(r.days)}"></div>
<div class="field"><button type="submit">${t('admin.expiry.show')}</button></div></form>`;
    const setting =
      r.remindDays > 0
        ? notice('info', html`<p>${t('admin.expiry.remindersOn', { days: r.remindDays })}</p>`)
        : notice('info', html`<p>${t('admin.expiry.remindersOff')}</p>`);
    const unknown = r.unknown.length
      ? html`<p>${t('admin.expiry.unknownIntro')}</p><div class="table-wrap"><table class="data" id="expiry-unknown">
<thead><tr><th scope="col">${t('admin.expiry.col.user')}</th><th scope="col">${t('admin.expiry.col.reason')}</th></tr></thead>
<tbody>${r.unknown.map(
          (u) =>
            html`<tr data-user="${u.login}"><td data-label="${t('admin.expiry.col.user')}">${userCell(ctx, u)}</td><td data-label="${t('admin.expiry.col.reason')}" data-reason="${u.reason}">${t(`admin.expiry.reason.${u.reason}`)}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p class="empty" id="expiry-unknown-none">${t('admin.expiry.none')}</p>`;
    const body = html`<p>${t('admin.expiry.intro', { days: r.days })}</p>${setting}${form}
<section aria-labelledby="expiring-h"><h2 id="expiring-h">${t('admin.expiry.expiring', { days: r.days, n: r.expiring.length })}</h2>${expiringTable(ctx, r.expiring, 'expiry-expiring')}</section>
<section aria-labelledby="expired-h"><h2 id="expired-h">${t('admin.expiry.expired', { n: r.expired.length })}</h2>${expiringTable(ctx, r.expired, 'expiry-expired')}</section>
<section aria-labelledby="unknown-h"><h2 id="unknown-h">${t('admin.expiry.unknown', { n: r.unknown.length })}</h2>${unknown}</section>
<p class="hint">${t('admin.expiry.neverExpires', { n: r.neverExpires, checked: r.checked })}</p>`;
    return sendPage(reply, adminPage(ctx, { title: t('admin.expiry.title'), body, section: 'expiry' }));
  });
}
