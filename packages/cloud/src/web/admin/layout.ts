/**
 * The admin pages' document: the same skeleton as the end-user layout (html.ts) plus the admin
 * stylesheet (wider content for tables), the section navigation, who is signed in with which
 * role, and the sign-out form. No inline script or style (the CSP forbids both).
 */
import { html, pageDocument, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import type { AdminContext } from './context.js';

export type AdminSection = 'users' | 'expiry' | 'agents' | 'settings' | 'admins' | 'audit';

export interface AdminPage {
  title: string;
  body: SafeHtml;
  tenantName: string;
  /** Signed in: navigation and sign-out are shown. */
  ctx?: AdminContext | null;
  section?: AdminSection;
}

const SECTIONS: readonly AdminSection[] = ['users', 'expiry', 'agents', 'settings', 'admins', 'audit'];

/** Sections only tenant admins see (the help desk gets a 403 page there, so no link either). */
const ADMIN_ONLY: ReadonlySet<AdminSection> = new Set(['admins']);

/** A signed-in admin's page: the tenant's name, the navigation and sign-out come from the context. */
export function adminPage(ctx: AdminContext, p: Omit<AdminPage, 'tenantName' | 'ctx'>): string {
  return adminLayout({ ...p, tenantName: ctx.tenant.name, ctx });
}

export function adminLayout(p: AdminPage): string {
  const c = p.ctx;
  const sections = c ? SECTIONS.filter((s) => c.admin.role === 'admin' || !ADMIN_ONLY.has(s)) : [];
  const nav = c
    ? html`<nav aria-label="${t('admin.nav.label')}"><ul>${sections.map(
        (s) =>
          html`<li><a href="${c.base}/${s}"${s === p.section ? raw(' aria-current="page"') : ''}>${t(`admin.nav.${s}`)}</a></li>`,
      )}</ul></nav>
<div class="who"><span class="visually-hidden">${t('admin.who.label')}</span>${c.admin.login} <span class="role">${t(`admin.role.${c.admin.role}`)}</span></div>
<form method="post" action="${c.base}/signout" class="signout"><input type="hidden" name="_csrf" value="${c.session.csrfToken}"><button type="submit" class="link">${t('layout.signOut')}</button></form>`
    : '';
  return pageDocument({
    lang: 'en',
    title: `${p.title} · ${p.tenantName} · ${t('admin.product')}`,
    head: raw('<link rel="stylesheet" href="/assets/admin.css">'),
    bodyClass: 'admin',
    brand: html`${p.tenantName} <span class="brand-sub">${t('admin.product')}</span>`,
    header: nav,
    heading: p.title,
    body: p.body,
    footer: t('admin.footer'),
  });
}
