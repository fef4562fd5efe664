/**
 * Users: the list (search, filters: synced/cloud, locked, must change; paging) from the synced
 * copy (users/directory-users.ts), and one user's page: attributes, reset (a set password, or a
 * generated one shown ONCE on the result page and never stored), force change at next logon,
 * unlock, unlock alone, and the user's recent audit events. A protected account (AD adminCount=1
 * and the like: the agent refuses every write with protected_account) gets no reset or unlock
 * forms, only the reason. Groups show by name (the first RDN of a DN; the DN in a tooltip), and
 * mail addresses break only after `@` or before a dot, never inside a word (issue 12). Before the tenant's first sync there
 * are no rows: a user is then looked up in the directory by login, as the API does.
 *
 * Reset and unlock are the use cases the API calls too (usecases/password-reset.ts, unlock.ts:
 * common-password check, generated password, sessions ended, user told; one audited request per
 * operation, actor = this admin); the outcome is shown in plain words with its code.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  OUTCOME_HTTP_STATUS,
  PasswordSchema,
  resultData,
  type OperationName,
  type OperationResult,
} from '@writeback/protocol';
import { roleAllows } from '../../auth/principal.js';
import type { Services } from '../../services.js';
import { outcomeMessage, reasonMessage, resetLeftLocked } from '../../outcomes/messages.js';
import { resetPasswordAsAdmin } from '../../usecases/password-reset.js';
import { findTarget, type Target } from '../../usecases/target.js';
import { unlockAsAdmin } from '../../usecases/unlock.js';
import { hasUsers, listUsers, type CloudUser } from '../../users/directory-users.js';
import { WebError } from '../errors.js';
import { csrfField, html, notice, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { parseForm, sendPage } from '../page.js';
import { adminLogins, auditForUser } from './audit-query.js';
import { auditTable } from './audit.js';
import { ago, utc } from './format.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';

const PAGE_SIZE = 25;

const Flag = z
  .union([z.literal('1'), z.literal('on'), z.literal('')])
  .optional()
  .transform((v) => v === '1' || v === 'on');

const ListQuery = z.object({
  q: z.string().trim().max(128).optional(),
  source: z.enum(['', 'onprem', 'cloud']).optional(),
  locked: Flag,
  mustChange: Flag,
  page: z.coerce.number().int().min(1).max(100_000).optional(),
});

const RefParams = z.object({ tenant: z.string(), ref: z.string().min(1).max(256) });

const ResetForm = z.object({
  mode: z.enum(['generate', 'set']).default('generate'),
  newPassword: PasswordSchema.optional(),
  forceChange: Flag,
  unlock: Flag,
});

/** Whom an operation is about (usecases/target.ts), and the page about them. */
interface PageTarget extends Target {
  url: string;
}

async function loadTarget(services: Services, ctx: AdminContext, refParam: string): Promise<PageTarget> {
  const target = await findTarget(services, ctx.tenant.id, refParam);
  // A name the synced copy does not know has no page once there is a copy; before the first sync
  // the directory decides (the agent answers user_not_found if it is wrong).
  if (!target.user && (await hasUsers(services.db, ctx.tenant.id))) throw new WebError('not_found');
  return { ...target, url: `${ctx.base}/users/${encodeURIComponent(target.user?.id ?? refParam)}` };
}

/** A group's name: the first RDN's value of a DN (`CN=Sales\, EMEA,OU=…` → `Sales, EMEA`), else the text as synced. */
export function groupName(group: string): string {
  const m = /^\s*(?:cn|ou|o|dc)=((?:[^,+\\]|\\.)+)/i.exec(group);
  if (!m?.[1]) return group;
  // `\C3\A9`: UTF-8 bytes in hex; `\,`: an escaped special character.
  return m[1]
    .replace(/(?:\\[0-9a-f]{2})+/gi, (hex) => Buffer.from(hex.replace(/\\/g, ''), 'hex').toString('utf8'))
    .replace(/\\(.)/g, '$1')
    .trim();
}

/** The groups as a list of names, each kept on one line where it fits; the full DN as the tooltip. */
function groupList(groups: readonly string[]): SafeHtml | string {
  if (groups.length === 0) return '—';
  const named = groups.map((g) => ({ g, name: groupName(g) })).sort((a, b) => a.name.localeCompare(b.name));
  return html`<ul class="groups">${named.map(({ g, name }) => html`<li${name === g ? '' : html` title="${g}"`}>${name}</li>`)}</ul>`;
}

/** A mail address or UPN that may wrap only after the `@` and before a dot, never inside a word. */
export function addressHtml(address: string | null): SafeHtml | string {
  if (!address) return '—';
  const at = address.lastIndexOf('@');
  const parts = at > 0 ? [address.slice(0, at + 1), ...address.slice(at + 1).split(/(?=\.)/)] : [address];
  // Each part is kept whole (no break after a hyphen either); <wbr> between parts is the only place to wrap.
  return html`<span class="addr">${parts.map((p, i) => html`${i === 0 ? '' : html`<wbr>`}<span>${p}</span>`)}</span>`;
}

function badges(u: CloudUser): SafeHtml {
  return html`${u.locked ? html`<span class="badge bad">${t('admin.users.locked')}</span> ` : ''}${u.mustChange ? html`<span class="badge warn">${t('admin.users.mustChange')}</span> ` : ''}${
    u.enabled ? '' : html`<span class="badge bad">${t('admin.users.disabled')}</span> `
  }${u.protected ? html`<span class="badge">${t('admin.users.protected')}</span> ` : ''}${!u.locked && !u.mustChange && u.enabled ? html`<span class="badge on">${t('admin.users.ok')}</span>` : ''}`;
}

const sourceText = (u: CloudUser): string =>
  t(u.source === 'onprem' ? 'admin.users.source.onprem' : 'admin.users.source.cloud');

function pager(base: string, params: URLSearchParams, page: number, total: number): SafeHtml {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const link = (p: number) => {
    const q = new URLSearchParams(params);
    q.set('page', String(p));
    return `${base}?${q.toString()}`;
  };
  const first = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = Math.min(total, page * PAGE_SIZE);
  return html`<nav class="pager" aria-label="${t('admin.pager.label')}"><span>${t('admin.pager.showing', { first, last, total })}</span>
${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">${t('admin.pager.prev')}</a>` : ''}
${page < pages ? html`<a href="${link(page + 1)}" rel="next">${t('admin.pager.next')}</a>` : ''}</nav>`;
}

/** The plain-words outcome box: the message, the policy reasons one per line, the reference. */
export function outcomeBox(
  result: Pick<OperationResult, 'outcome' | 'reasons' | 'policy' | 'missingRight' | 'historyEnforced' | 'data'>,
  op: OperationName,
  requestId: string,
  now: number,
): SafeHtml {
  const ok = result.outcome === 'succeeded';
  const uncertain = result.outcome === 'timeout' || result.outcome === 'outcome_unknown';
  const reasons =
    result.outcome === 'policy_violation' && result.reasons?.length
      ? html`<ul class="reasons">${result.reasons.map((r) => html`<li data-reason="${r}">${reasonMessage(r, result.policy, now)}</li>`)}</ul>`
      : '';
  const text = result.outcome === 'policy_violation' ? t('admin.result.policy') : outcomeMessage(result, { op, now });
  return notice(
    ok ? 'success' : uncertain ? 'warning' : 'error',
    html`<p>${text}</p>${reasons}`,
    result.outcome,
    requestId ? html` · ${t('admin.result.request', { id: requestId })}` : '',
  );
}

function statusOf(outcome: OperationResult['outcome']): number {
  return outcome === 'succeeded' ? 200 : OUTCOME_HTTP_STATUS[outcome];
}

export function registerAdminUsers(web: FastifyInstance, services: Services): void {
  const pages = adminRoutes(web, services);
  pages.get('/t/:tenant/admin/users', async (ctx, req, reply) => {
    const q = parseForm(ListQuery, req.query);
    const page = q.page ?? 1;
    const filters = {
      ...(q.q ? { search: q.q } : {}),
      ...(q.source ? { source: q.source } : {}),
      ...(q.locked ? { locked: true } : {}),
      ...(q.mustChange ? { mustChange: true } : {}),
    };
    const [{ users, total }, any] = await Promise.all([
      listUsers(services.db, ctx.tenant.id, { ...filters, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
      hasUsers(services.db, ctx.tenant.id),
    ]);
    const params = new URLSearchParams();
    if (q.q) params.set('q', q.q);
    if (q.source) params.set('source', q.source);
    if (q.locked) params.set('locked', '1');
    if (q.mustChange) params.set('mustChange', '1');
    const opt = (v: string, label: string) =>
      html`<option value="${v}"${(q.source ?? '') === v ? raw(' selected') : ''}>${label}</option>`;
    const filterForm = html`<form method="get" action="${ctx.base}/users" class="filters card" role="search">
<div class="field grow"><label for="q">${t('admin.users.search')}</label><input id="q" name="q" type="text" value="${q.q ?? ''}" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="source">${t('admin.users.source')}</label><select id="source" name="source">${opt('', t('admin.users.source.all'))}${opt('onprem', t('admin.users.source.onprem'))}${opt('cloud', t('admin.users.source.cloud'))}</select></div>
<div class="field checks"><div class="choice"><input id="locked" name="locked" type="checkbox" value="1"${q.locked ? raw(' checked') : ''}><label for="locked">${t('admin.users.filterLocked')}</label></div>
<div class="choice"><input id="mustChange" name="mustChange" type="checkbox" value="1"${q.mustChange ? raw(' checked') : ''}><label for="mustChange">${t('admin.users.filterMustChange')}</label></div></div>
<div class="field"><button type="submit">${t('admin.users.filter')}</button></div>
</form>`;
    const lookup = any
      ? ''
      : html`${notice('info', t('admin.users.noSync'))}
<form method="get" action="${ctx.base}/users/lookup" class="card filters">
<div class="field grow"><label for="login">${t('admin.users.lookupLogin')}</label><input id="login" name="login" type="text" required autocomplete="off" spellcheck="false"></div>
<div class="field"><button type="submit">${t('admin.users.lookup')}</button></div></form>`;
    const table = users.length
      ? html`<div class="table-wrap"><table class="data">
<caption class="visually-hidden">${t('admin.users.caption')}</caption>
<thead><tr><th scope="col">${t('admin.users.col.user')}</th><th scope="col">${t('admin.users.col.mail')}</th><th scope="col">${t('admin.users.col.source')}</th><th scope="col">${t('admin.users.col.status')}</th><th scope="col">${t('admin.users.col.pwdSet')}</th></tr></thead>
<tbody>${users.map(
          (
            u,
          ) => html`<tr><td data-label="${t('admin.users.col.user')}"><a href="${ctx.base}/users/${encodeURIComponent(u.id)}">${u.login}</a>${u.displayName ? html`<span class="sub">${u.displayName}</span>` : ''}</td>
<td data-label="${t('admin.users.col.mail')}">${addressHtml(u.mail)}</td><td data-label="${t('admin.users.col.source')}">${sourceText(u)}</td><td data-label="${t('admin.users.col.status')}">${badges(u)}</td><td data-label="${t('admin.users.col.pwdSet')}">${u.passwordLastSetAt ? u.passwordLastSetAt.slice(0, 10) : '—'}</td></tr>`,
        )}</tbody></table></div>
${pager(`${ctx.base}/users`, params, page, total)}`
      : any
        ? html`<p class="empty">${t('admin.users.none')}</p>`
        : '';
    const body = html`${filterForm}${lookup}${table}`;
    return sendPage(reply, adminPage(ctx, { title: t('admin.users.title'), body, section: 'users' }));
  });

  pages.get('/t/:tenant/admin/users/lookup', async (ctx, req, reply) => {
    const q = parseForm(z.object({ login: z.string().trim().min(1).max(256) }), req.query);
    return reply
      .code(303)
      .header('location', `${ctx.base}/users/${encodeURIComponent(q.login)}`)
      .send();
  });

  async function userPage(
    reply: FastifyReply,
    ctx: AdminContext,
    target: PageTarget,
    result: SafeHtml | '' = '',
    status = 200,
  ) {
    const u = target.user;
    const attrs: [string, HtmlCell][] = u
      ? [
          [t('admin.user.login'), u.login],
          [t('admin.user.displayName'), u.displayName ?? '—'],
          [t('admin.user.upn'), addressHtml(u.userPrincipalName)],
          [t('admin.user.mail'), addressHtml(u.mail)],
          [t('admin.user.mobile'), u.mobile ?? '—'],
          [t('admin.user.source'), sourceText(u)],
          [t('admin.user.status'), badges(u)],
          [
            t('admin.user.pwdSet'),
            u.passwordLastSetAt ? utc(Date.parse(u.passwordLastSetAt)) : t('admin.user.pwdNotSet'),
          ],
          [t('admin.user.groups'), groupList(u.groups)],
          [t('admin.user.updated'), html`${utc(u.updatedAt)} (${ago(u.updatedAt, services.now())})`],
        ]
      : [[t('admin.user.login'), target.login]];
    const events = await auditForUser(
      services.db,
      ctx.tenant.id,
      [target.login, u?.userPrincipalName ?? '', u?.mail ?? ''],
      10,
    );
    const csrf = ctx.session.csrfToken;
    // The agent refuses every write to a protected account: no forms that can only fail, but the reason.
    const actions = u?.protected
      ? html`<section class="card" aria-labelledby="protected-h" id="protected-account"><h2 id="protected-h">${t('admin.user.protectedTitle')}</h2>
${notice('info', html`<p>${t('admin.user.protected')}</p>`, 'protected_account')}</section>`
      : writeForms(target, u, csrf);
    const body = html`${result}
${u ? '' : notice('info', t('admin.user.directoryOnly'))}
<div class="layout-admin">
<section class="card" aria-labelledby="attrs-h"><h2 id="attrs-h">${t('admin.user.attributes')}</h2>
<dl class="attrs">${attrs.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></section>
${actions}
</div>
<section aria-labelledby="events-h"><h2 id="events-h">${t('admin.user.events')}</h2>
${events.length ? auditTable(events, ctx, await adminLogins(services.db, ctx.tenant.id), { showTarget: false }) : html`<p class="empty">${t('admin.user.noEvents')}</p>`}
<p><a href="${ctx.base}/audit?user=${encodeURIComponent(target.login)}">${t('admin.user.allEvents')}</a></p></section>`;
    return sendPage(reply, adminPage(ctx, { title: u?.displayName ?? target.login, body, section: 'users' }), status);
  }

  pages.get('/t/:tenant/admin/users/:ref', async (ctx, req, reply) => {
    const p = parseForm(RefParams, req.params);
    return userPage(reply, ctx, await loadTarget(services, ctx, p.ref));
  });

  pages.post('/t/:tenant/admin/users/:ref/reset', async (ctx, req, reply) => {
    const p = parseForm(RefParams, req.params);
    const target = await loadTarget(services, ctx, p.ref);
    const form = parseForm(ResetForm, req.body);
    const newPassword = form.mode === 'set' ? (form.newPassword ?? '') : undefined;
    if (newPassword === '')
      return userPage(reply, ctx, target, notice('error', t('admin.user.passwordMissing'), 'invalid_request'), 400);
    const r = await resetPasswordAsAdmin(services, {
      tenant: ctx.tenant,
      actor: { kind: 'admin', id: ctx.admin.id },
      may: (perm) => roleAllows(ctx.admin.role, perm),
      target,
      clientIp: req.ip,
      newPassword,
      forceChange: form.forceChange,
      unlock: form.unlock,
      enforceHistory: true,
    });
    if (!r.sent || r.op === 'policy.get')
      // Refused before sending (a common password), or the generated password's policy could not
      // be read: nothing was written, stay on the user's page with its forms.
      return userPage(
        reply,
        ctx,
        target,
        outcomeBox(r.result, r.op, r.requestId, services.now()),
        statusOf(r.result.outcome),
      );
    const ok = r.result.outcome === 'succeeded';
    const ignored = resultData('password.reset', r.result)?.forceChangeIgnored !== undefined;
    const generated = form.mode === 'generate';
    const shown =
      ok && generated
        ? html`<div class="card once" id="temporary-password-card"><h2>${t('admin.user.tempTitle')}</h2>
<p>${t('admin.user.tempIntro')}</p>
<p><output class="secret big" id="temporary-password">${r.temporaryPassword ?? ''}</output></p>
<p class="hint">${t(form.forceChange && !ignored ? 'admin.user.tempForce' : 'admin.user.tempNoForce')}</p></div>`
        : '';
    // Reset without unlock on a locked account: it still cannot sign in; offer the unlock here (issue 12).
    const stillLocked = resetLeftLocked(r.result, r.op)
      ? html`<div class="card" id="still-locked"><p>${t('admin.user.stillLocked')}</p>
<form method="post" action="${target.url}/unlock">${csrfField(ctx.session.csrfToken)}<button type="submit" id="still-locked-unlock">${t('admin.user.unlockSubmit')}</button></form></div>`
      : '';
    const body = html`${outcomeBox(r.result, r.op, r.requestId, services.now())}${ignored ? html`<p class="hint" id="force-change-ignored">${t('admin.user.forceChangeIgnored')}</p>` : ''}${stillLocked}${shown}
<p><a href="${target.url}">${t('admin.user.back', { login: target.login })}</a></p>`;
    services.log.info('admin reset from pages', {
      tenantId: ctx.tenant.id,
      adminId: ctx.admin.id,
      requestId: r.requestId,
      outcome: r.result.outcome,
      generated,
    });
    return sendPage(
      reply,
      adminPage(ctx, { title: t('admin.user.resetResult'), body, section: 'users' }),
      statusOf(r.result.outcome),
    );
  });

  pages.post('/t/:tenant/admin/users/:ref/unlock', async (ctx, req, reply) => {
    const p = parseForm(RefParams, req.params);
    const target = await loadTarget(services, ctx, p.ref);
    const r = await unlockAsAdmin(services, {
      tenant: ctx.tenant,
      actor: { kind: 'admin', id: ctx.admin.id },
      target,
      clientIp: req.ip,
    });
    const body = html`${outcomeBox(r.result, 'account.unlock', r.requestId, services.now())}
<p><a href="${target.url}">${t('admin.user.back', { login: target.login })}</a></p>`;
    return sendPage(
      reply,
      adminPage(ctx, { title: t('admin.user.unlockResult'), body, section: 'users' }),
      statusOf(r.result.outcome),
    );
  });
}

type HtmlCell = string | SafeHtml;

/** The reset and unlock forms of a user's page. */
function writeForms(target: PageTarget, u: CloudUser | null, csrf: string): SafeHtml {
  return html`<section class="card" aria-labelledby="reset-h"><h2 id="reset-h">${t('admin.user.resetTitle')}</h2>
<form method="post" action="${target.url}/reset" novalidate>
${csrfField(csrf)}
<fieldset><legend>${t('admin.user.newPassword')}</legend>
<div class="choice"><input id="mode-generate" name="mode" type="radio" value="generate" checked><label for="mode-generate">${t('admin.user.generate')}</label></div>
<div class="choice"><input id="mode-set" name="mode" type="radio" value="set"><label for="mode-set">${t('admin.user.setThis')}</label></div>
<div class="field indent"><label for="newPassword">${t('admin.user.password')}</label><span class="hint" id="pw-hint">${t('admin.user.passwordHint')}</span>
<input id="newPassword" name="newPassword" type="password" autocomplete="new-password" aria-describedby="pw-hint"></div>
</fieldset>
<div class="choice"><input id="forceChange" name="forceChange" type="checkbox" value="1" checked><label for="forceChange">${t('admin.user.forceChange')}</label></div>
<div class="choice"><input id="unlock" name="unlock" type="checkbox" value="1"${u?.locked ? raw(' checked') : ''}><label for="unlock">${t('admin.user.alsoUnlock')}</label></div>
<div class="actions"><button type="submit" id="reset-submit">${t('admin.user.resetSubmit')}</button></div>
</form></section>
<section class="card" aria-labelledby="unlock-h"><h2 id="unlock-h">${t('admin.user.unlockTitle')}</h2>
<p>${t('admin.user.unlockIntro')}</p>
<form method="post" action="${target.url}/unlock">${csrfField(csrf)}<button type="submit" class="secondary" id="unlock-submit">${t('admin.user.unlockSubmit')}</button></form></section>`;
}
