/**
 * Forgot password: user name → prove it's you with the tenant's methods (1 or 2 of email code,
 * text message code, authenticator app, security questions) → choose a new password (reset with
 * history enforced, account unlocked) or only unlock the account. The flow and its steps are the
 * use cases in usecases/recovery/ (state machine, strategies, limits, the write); this module is
 * the adapter: it binds the flow to the browser with the cookie `wb-flow` = `<id>.<secret>`,
 * parses each form, calls the step and renders what it answers.
 *
 * Unknown and known user names get the same pages and the same answers ("if this account exists
 * ..."); the use cases give them the same work. An agent must be connected: if not, that is said
 * before the person types anything.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OUTCOME_HTTP_STATUS, PasswordSchema } from '@writeback/protocol';
import { t, type MessageKey } from '../../i18n/index.js';
import type { Services } from '../../services.js';
import { getTenantSettings, type TenantSettings } from '../../tenants/settings.js';
import type { Tenant } from '../../tenants/tenants.js';
import { METHOD_KINDS, type MethodKind, type QuestionId } from '../../usecases/methods/registered.js';
import { chooseMethod } from '../../usecases/recovery/choose.js';
import { finishRecovery } from '../../usecases/recovery/finish.js';
import { assertValid, FLOW_TTL_MS, FlowError, loadFlow, type RecoveryFlow } from '../../usecases/recovery/flow.js';
import { recoveryAvailability, startRecovery } from '../../usecases/recovery/start.js';
import { questionsFor } from '../../usecases/recovery/strategies/questions.js';
import { verifyMethod } from '../../usecases/recovery/verify.js';
import { clearCookie, getCookie, setCookie } from '../cookies.js';
import { csrfTokenFor } from '../csrf.js';
import { WebError } from '../errors.js';
import { csrfField, html, notice, type SafeHtml } from '../html.js';
import { resolvePerson } from '../../usecases/person.js';
import { outcomeNotice, unavailableNotice } from '../outcome-text.js';
import { pageTenant, parseForm, redirect, sendPage, tenantBase } from '../page.js';
import { newPasswordFields, policyPanel } from '../policy-view.js';
import { policyForPerson } from '../../usecases/policy.js';
import { isSecureSite } from '../session.js';
import { DEVICE_COOKIE, POLICY_SCRIPT, userPage } from './common.js';

type Flow = RecoveryFlow;

export const FLOW_COOKIE = 'wb-flow';

/** The flow the browser's cookie names, for this tenant, in whatever state (or null). */
const cookieFlow = (services: Services, req: FastifyRequest, tenantId: string): Promise<Flow | null> =>
  loadFlow(services, tenantId, getCookie(req, FLOW_COOKIE, isSecureSite(services)));

/** The token flow forms carry (route config `csrfExpected`). */
export async function flowCsrf(services: Services, req: FastifyRequest, tenantId: string): Promise<string | null> {
  return (await cookieFlow(services, req, tenantId))?.csrfToken ?? null;
}

const flowRoute = { config: { csrfExpected: flowCsrf } };

const USE_KEY: Record<MethodKind, MessageKey> = {
  email: 'forgot.verify.useEmail',
  sms: 'forgot.verify.useSms',
  totp: 'forgot.verify.useTotp',
  questions: 'forgot.verify.useQuestions',
};
const PROMPT_KEY: Record<MethodKind, MessageKey> = {
  email: 'forgot.verify.email',
  sms: 'forgot.verify.sms',
  totp: 'forgot.verify.totp',
  questions: 'forgot.verify.questions',
};

function page(tenant: Tenant, title: string, body: SafeHtml, scripts?: string[]): string {
  return userPage(tenant, { title, body, current: 'forgot', ...(scripts ? { scripts } : {}) });
}

function endedPage(tenant: Tenant, e: FlowError): string {
  const key: MessageKey = e.code === 'flow_locked' ? 'forgot.tooMany' : 'forgot.expired';
  return page(
    tenant,
    t('forgot.title'),
    html`${notice('error', html`<p>${t(key)}</p>`, e.code)}<p><a class="button" href="${tenantBase(tenant)}/forgot">${t('forgot.again')}</a></p>`,
  );
}

/** Run a flow step; an invalid flow becomes the "start again" page (410). */
async function withFlow(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  fn: (tenant: Tenant, flow: Flow, settings: TenantSettings) => Promise<FastifyReply>,
): Promise<FastifyReply> {
  const tenant = await pageTenant(services, req);
  const flow = await cookieFlow(services, req, tenant.id);
  try {
    assertValid(flow, services.now());
  } catch (e) {
    if (e instanceof FlowError) return sendPage(reply, endedPage(tenant, e), 410);
    throw e;
  }
  return fn(tenant, flow, await getTenantSettings(services.db, tenant.id));
}

function startPage(tenant: Tenant, csrf: string, o: { agentDown: boolean; disabled: boolean; login?: string }): string {
  const base = tenantBase(tenant);
  if (o.disabled)
    return page(tenant, t('forgot.title'), notice('error', html`<p>${t('error.sspr_disabled')}</p>`, 'sspr_disabled'));
  if (o.agentDown)
    return page(
      tenant,
      t('forgot.title'),
      html`${unavailableNotice()}<p><a href="${base}/signin">${t('signin.title')}</a></p>`,
    );
  return page(
    tenant,
    t('forgot.title'),
    html`<p>${t('forgot.intro')}</p><form method="post" action="${base}/forgot" class="card">${csrfField(csrf)}
<div class="field"><label for="login">${t('forgot.login')}</label><span class="hint" id="login-hint">${t('signin.loginHint')}</span>
<input type="text" id="login" name="login" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="256" aria-describedby="login-hint" value="${o.login ?? ''}"></div>
<div class="actions"><button type="submit">${t('forgot.start')}</button></div></form>`,
  );
}

function verifyPage(
  tenant: Tenant,
  flow: Flow,
  settings: TenantSettings,
  o: { questions?: QuestionId[]; error?: SafeHtml; info?: SafeHtml },
): string {
  const base = tenantBase(tenant);
  const progress = html`<p class="steps">${t('forgot.verify.progress', { n: flow.verified.length + 1, total: flow.required })}</p>`;
  const current = flow.method;
  const remaining = settings.sspr.methods.filter((k) => !flow.verified.includes(k));
  const choices = html`<form method="post" action="${base}/forgot/method" class="card">${csrfField(flow.csrfToken)}
<fieldset><legend>${t('forgot.verify.choose')}</legend>${remaining.map(
    (k, i) =>
      html`<div class="choice"><input type="radio" id="m-${k}" name="method" value="${k}"${(current ? k === current : i === 0) ? html` checked` : ''}><label for="m-${k}">${t(USE_KEY[k])}</label></div>`,
  )}</fieldset><div class="actions"><button type="submit"${current ? html` class="secondary"` : ''}>${t(current ? 'forgot.verify.other' : 'forgot.start')}</button></div></form>`;
  if (!current) return page(tenant, t('forgot.verify.title'), html`${progress}${o.error ?? ''}${choices}`);
  let fields: SafeHtml;
  if (current === 'questions') {
    fields = html`${(o.questions ?? []).map((q, i) => html`<div class="field"><label for="a${i}">${t(`question.${q}`)}</label><input type="text" id="a${i}" name="a_${q}" autocomplete="off" required maxlength="128"></div>`)}`;
  } else {
    fields = html`<div class="field"><label for="code">${t('forgot.verify.code')}</label><input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="16"></div>`;
  }
  const resend =
    current === 'email' || current === 'sms'
      ? html`<form method="post" action="${base}/forgot/method" class="inline-link">${csrfField(flow.csrfToken)}<input type="hidden" name="method" value="${current}"><button type="submit" class="link">${t('forgot.verify.resend')}</button></form>`
      : '';
  const body = html`${progress}${o.error ?? o.info ?? ''}<form method="post" action="${base}/forgot/verify" class="card" data-method="${current}">${csrfField(flow.csrfToken)}
<p>${t(PROMPT_KEY[current])}</p>${fields}<div class="actions"><button type="submit">${t('forgot.verify.submit')}</button></div></form>${resend}${remaining.length > 1 ? choices : ''}`;
  return page(tenant, t('forgot.verify.title'), body);
}

async function newPasswordPage(
  services: Services,
  req: FastifyRequest,
  tenant: Tenant,
  flow: Flow,
  settings: TenantSettings,
  result?: SafeHtml,
): Promise<string> {
  const base = tenantBase(tenant);
  const user = await resolvePerson(services, tenant.id, flow.login);
  const policy = await policyForPerson(services, tenant.id, user.login, req.ip);
  const unlock = settings.sspr.unlockEnabled
    ? html`<section class="card" aria-labelledby="unlock-h"><h2 id="unlock-h">${t('forgot.choose.unlock')}</h2><p>${t('forgot.unlock.intro')}</p>
<form method="post" action="${base}/forgot/unlock">${csrfField(flow.csrfToken)}<div class="actions"><button type="submit" class="secondary">${t('forgot.unlock.submit')}</button></div></form></section>`
    : '';
  const agentDown = policy.outcome === 'agent_unavailable' && !result ? unavailableNotice() : '';
  return page(
    tenant,
    t('forgot.title'),
    html`${result ?? ''}${agentDown}<section class="card" aria-labelledby="reset-h"><h2 id="reset-h">${t('forgot.choose.reset')}</h2>
<div class="layout-2"><form method="post" action="${base}/forgot/new" novalidate>${csrfField(flow.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${user.login}" hidden>
${newPasswordFields()}<div class="actions"><button type="submit">${t('forgot.reset.submit')}</button></div></form>
${policyPanel(policy.policy, user, { now: services.now(), forReset: true, resetHonoursMinAge: policy.resetHonoursMinAge })}</div></section>${unlock}`,
    [POLICY_SCRIPT],
  );
}

function donePage(tenant: Tenant, result: SafeHtml): string {
  return page(
    tenant,
    t('forgot.done.title'),
    html`${result}<p><a class="button" href="${tenantBase(tenant)}/signin">${t('forgot.done.signin')}</a></p>`,
  );
}

const StartForm = z.object({ login: z.string().trim().min(1).max(256) });
const MethodForm = z.object({ method: z.enum(METHOD_KINDS) });
const NewPasswordForm = z.object({
  newPassword: PasswordSchema.min(1),
  confirmPassword: PasswordSchema,
  username: z.string().max(256).optional(),
});

export function registerForgotPages(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant/forgot', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const { availability } = await recoveryAvailability(services, tenant.id);
    const agentDown = availability === 'agent_unavailable';
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    return sendPage(
      reply,
      startPage(tenant, csrf, { agentDown, disabled: availability === 'disabled' }),
      agentDown ? 503 : 200,
    );
  });

  web.post('/t/:tenant/forgot', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    const form = StartForm.safeParse(req.body ?? {});
    const started = await startRecovery(services, {
      tenantId: tenant.id,
      login: form.success ? form.data.login : null,
      clientIp: req.ip,
      deviceToken: getCookie(req, DEVICE_COOKIE, isSecureSite(services)),
    });
    if (!started.ok) {
      if (started.problem === 'disabled')
        return sendPage(reply, startPage(tenant, csrf, { agentDown: false, disabled: true }), 403);
      if (started.problem === 'agent_unavailable')
        return sendPage(reply, startPage(tenant, csrf, { agentDown: true, disabled: false }), 503);
      throw new WebError('invalid_request', form.success ? {} : { cause: form.error });
    }
    setCookie(reply, FLOW_COOKIE, started.token, {
      secure: isSecureSite(services),
      sameSite: 'Strict',
      maxAge: FLOW_TTL_MS / 1000,
    });
    return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
  });

  web.get('/t/:tenant/forgot/verify', async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state === 'verified') return redirect(reply, `${tenantBase(tenant)}/forgot/new`);
      const questions = flow.method === 'questions' ? await questionsFor(services, tenant.id, flow) : undefined;
      const info =
        flow.state === 'sent_code' ? notice('info', html`<p>${t('forgot.sent')}</p>`, 'code_sent') : undefined;
      return sendPage(
        reply,
        verifyPage(tenant, flow, settings, { ...(questions ? { questions } : {}), ...(info ? { info } : {}) }),
      );
    }),
  );

  web.post('/t/:tenant/forgot/method', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow) => {
      const { method } = parseForm(MethodForm, req.body);
      await chooseMethod(services, { flow, method, clientIp: req.ip });
      return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
    }),
  );

  web.post('/t/:tenant/forgot/verify', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      const body = z.record(z.string(), z.unknown()).safeParse(req.body ?? {});
      const asked = flow.method;
      const r = await verifyMethod(services, { flow, input: body.success ? body.data : {}, clientIp: req.ip });
      switch (r.kind) {
        case 'not_answering':
          return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
        case 'passed':
          return redirect(reply, `${tenantBase(tenant)}/forgot/${r.next === 'verified' ? 'new' : 'verify'}`);
        case 'locked':
          return sendPage(reply, endedPage(tenant, new FlowError('flow_locked')), 410);
        case 'wrong': {
          const questions = asked === 'questions' ? await questionsFor(services, tenant.id, flow) : undefined;
          const error = notice(
            'error',
            html`<p>${t('forgot.verify.wrong')} ${t('forgot.verify.attemptsLeft', { n: r.attemptsLeft })}</p>`,
            'verification_failed',
          );
          return sendPage(
            reply,
            verifyPage(tenant, flow, settings, { error, ...(questions ? { questions } : {}) }),
            422,
          );
        }
      }
    }),
  );

  web.get('/t/:tenant/forgot/new', async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state !== 'verified') return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      return sendPage(reply, await newPasswordPage(services, req, tenant, flow, settings));
    }),
  );

  async function finish(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    flow: Flow,
    settings: TenantSettings,
    step: { kind: 'reset'; newPassword: string } | { kind: 'unlock' },
  ): Promise<FastifyReply> {
    const r = await finishRecovery(services, { flow, clientIp: req.ip, ...step });
    switch (r.kind) {
      case 'not_verified':
        return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      case 'taken':
        return sendPage(reply, endedPage(tenant, new FlowError('flow_done')), 410);
      case 'refused':
        // Nothing was written: the verified person may try again with another password.
        return sendPage(
          reply,
          await newPasswordPage(services, req, tenant, flow, settings, outcomeNotice(r.result, step.kind)),
          OUTCOME_HTTP_STATUS[r.result.outcome],
        );
      case 'finished':
        clearCookie(reply, FLOW_COOKIE, isSecureSite(services));
        return sendPage(
          reply,
          donePage(tenant, outcomeNotice(r.result, step.kind)),
          OUTCOME_HTTP_STATUS[r.result.outcome],
        );
    }
  }

  web.post('/t/:tenant/forgot/new', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state !== 'verified') return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      const form = parseForm(NewPasswordForm, req.body);
      if (form.newPassword !== form.confirmPassword) {
        return sendPage(
          reply,
          await newPasswordPage(
            services,
            req,
            tenant,
            flow,
            settings,
            notice('error', html`<p>${t('reason.mismatch')}</p>`, 'mismatch'),
          ),
          422,
        );
      }
      return finish(req, reply, tenant, flow, settings, { kind: 'reset', newPassword: form.newPassword });
    }),
  );

  web.post('/t/:tenant/forgot/unlock', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) =>
      finish(req, reply, tenant, flow, settings, { kind: 'unlock' }),
    ),
  );
}
