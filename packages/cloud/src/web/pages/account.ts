/**
 * My Account: change the password (current + new, written back synchronously by
 * usecases/password-change.ts; the exact outcome and the rule that failed in plain words), and the
 * list of the ways to prove it's you, each set up on its own page (methods.ts). A user who must
 * change the password (expired, or reset with "change at next logon") sees only the change form
 * until it is done.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OUTCOME_HTTP_STATUS, PasswordSchema, type OperationResult } from '@writeback/protocol';
import type { Services } from '../../services.js';
import { getTenantSettings } from '../../tenants/settings.js';
import type { Tenant } from '../../tenants/tenants.js';
import { csrfField, html, notice, type SafeHtml } from '../html.js';
import { t, type MessageKey } from '../../i18n/index.js';
import {
  getMethods,
  METHOD_KINDS,
  registeredKinds,
  registrationMissing,
  type MethodKind,
} from '../../usecases/methods/registered.js';
import { outcomeNotice, unavailableNotice } from '../outcome-text.js';
import { pageTenant, parseForm, sendPage, tenantBase } from '../page.js';
import { newPasswordFields, policyPanel } from '../policy-view.js';
import { policyForPerson } from '../../usecases/policy.js';
import { updateSessionData } from '../session.js';
import { changeOwnPassword } from '../../usecases/password-change.js';
import { POLICY_SCRIPT, requireUser, userPage, type SignedIn } from './common.js';

const METHOD_LABEL: Record<MethodKind, MessageKey> = {
  email: 'account.method.email',
  totp: 'account.method.totp',
  questions: 'account.method.questions',
  sms: 'account.method.sms',
};

function mustChange(s: SignedIn): boolean {
  return s.data.mustChange === true || s.data.expired === true;
}

interface AccountView {
  result?: OperationResult;
  formError?: SafeHtml;
  done?: MethodKind;
}

async function renderAccount(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  tenant: Tenant,
  s: SignedIn,
  v: AccountView = {},
  status = 200,
): Promise<FastifyReply> {
  const base = tenantBase(tenant);
  const settings = await getTenantSettings(services.db, tenant.id);
  const now = services.now();
  const policy = await policyForPerson(services, tenant.id, s.user.login, req.ip);
  const forced = mustChange(s);
  const missing = await registrationMissing(services, tenant.id, s.user);
  const notices: SafeHtml[] = [];
  if (v.result) notices.push(outcomeNotice(v.result, 'change'));
  if (v.formError) notices.push(v.formError);
  if (!v.result && forced)
    notices.push(
      notice(
        'warning',
        html`<p>${t(s.data.expired ? 'account.expired' : 'account.mustChange')}</p>`,
        s.data.expired ? 'password_expired' : 'must_change',
      ),
    );
  if (!v.result && policy.outcome === 'agent_unavailable') notices.push(unavailableNotice());
  if (v.done) notices.push(notice('success', html`<p>${t(`register.${v.done}.done`)}</p>`, 'method_registered'));
  if (!forced && missing > 0)
    notices.push(
      notice(
        'info',
        html`<p>${t('account.registerNeeded', { n: settings.sspr.required })}</p>`,
        'registration_required',
      ),
    );

  const changeForm = html`<section class="card" aria-labelledby="change-h"><h2 id="change-h">${t('account.change')}</h2>
<div class="layout-2"><form method="post" action="${base}/account/password" novalidate>
${csrfField(s.session.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${s.user.login}" hidden>
<div class="field"><label for="currentPassword">${t('account.current')}</label>
<input type="password" id="currentPassword" name="currentPassword" autocomplete="current-password" required maxlength="256"></div>
${newPasswordFields()}
<div class="actions"><button type="submit">${t('account.submit')}</button></div>
</form>
${policyPanel(policy.policy, s.user, { now, forReset: false })}</div></section>`;

  let methods: SafeHtml | string = '';
  if (!forced && settings.sspr.enabled) {
    const m = await getMethods(services.db, tenant.id, s.user.key);
    const have = new Set(registeredKinds(m, settings.sspr.methods, s.user.mail));
    methods = html`<section class="card" aria-labelledby="methods-h"><h2 id="methods-h">${t('account.methods')}</h2>
<p>${t('account.methodsIntro')}</p>
<ul class="methods">${settings.sspr.methods.map(
      (
        k,
      ) => html`<li data-method="${k}"><span>${t(METHOD_LABEL[k])} <span class="badge${have.has(k) ? ' on' : ''}">${t(have.has(k) ? 'account.method.done' : 'account.method.none')}</span></span>
<a class="button secondary" href="${base}/account/methods/${k}">${t(have.has(k) ? 'account.method.change' : 'account.method.set')}<span class="visually-hidden">: ${t(METHOD_LABEL[k])}</span></a></li>`,
    )}</ul></section>`;
  }
  // When the tenant still needs methods from this user, setting them up comes first.
  const sections = missing > 0 && !forced ? html`${methods}${changeForm}` : html`${changeForm}${methods}`;
  const body = html`${notices}<p>${t('account.hello', { name: s.user.displayName ?? s.user.login })}</p>${sections}`;
  return sendPage(
    reply,
    userPage(tenant, {
      title: t('account.title'),
      body,
      csrf: s.session.csrfToken,
      current: 'account',
      scripts: [POLICY_SCRIPT],
    }),
    status,
  );
}

const ChangeForm = z.object({
  _csrf: z.string(),
  username: z.string().max(256).optional(),
  currentPassword: PasswordSchema.min(1),
  newPassword: PasswordSchema.min(1),
  confirmPassword: PasswordSchema,
});

export function registerAccountPages(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant/account', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    const q = z.object({ done: z.enum(METHOD_KINDS).optional() }).safeParse(req.query);
    return renderAccount(services, req, reply, tenant, s, q.success && q.data.done ? { done: q.data.done } : {});
  });

  web.post('/t/:tenant/account/password', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    const form = parseForm(ChangeForm, req.body);
    if (form.newPassword !== form.confirmPassword) {
      return renderAccount(
        services,
        req,
        reply,
        tenant,
        s,
        { formError: notice('error', html`<p>${t('reason.mismatch')}</p>`, 'mismatch') },
        422,
      );
    }
    const { result } = await changeOwnPassword(services, {
      tenantId: tenant.id,
      user: s.user,
      currentPassword: form.currentPassword,
      newPassword: form.newPassword,
      clientIp: req.ip,
      session: s.session.id,
    });
    if (result.outcome === 'succeeded') {
      const { mustChange: _m, expired: _e, ...rest } = s.data;
      await updateSessionData(services.db, s.session.id, rest);
      s.data = rest;
    }
    return renderAccount(services, req, reply, tenant, s, { result }, OUTCOME_HTTP_STATUS[result.outcome]);
  });
}
