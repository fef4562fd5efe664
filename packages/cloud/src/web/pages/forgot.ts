/**
 * Forgot password: user name → prove it's you with the tenant's methods (1 or 2 of email code,
 * text message code, authenticator app, security questions) → choose a new password (reset with
 * history enforced, account unlocked) or only unlock the account. The flow record (flows.ts)
 * carries the state, expiry and CSRF token; its cookie binds it to this browser.
 *
 * Unknown and known user names get the same pages, the same answers ("if this account exists
 * ...") and the same work (a flow, a code made and stored, a send started in the background
 * without waiting for it); only a real, registered user can pass a method. Attempts (flow starts,
 * code sends) are limited per user and per IP (settings.sspr.attemptsPerHour); wrong answers are
 * capped at FLOW_MAX_FAILURES per flow. An agent must be connected: if not, that is said before
 * the person types anything.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NOTHING_WRITTEN, OUTCOME_HTTP_STATUS, PasswordSchema } from '@writeback/protocol';
import { dummyPasswordHash, verifyPassword } from '../../auth/passwords.js';
import { verifyTotp } from '../../auth/totp.js';
import type { Services } from '../../services.js';
import { getTenantSettings, type TenantSettings } from '../../tenants/settings.js';
import type { Tenant } from '../../tenants/tenants.js';
import { CodeInputSchema, checkCode, issueCode } from '../codes.js';
import { csrfTokenFor } from '../csrf.js';
import {
  assertValid,
  claimForWrite,
  createFlow,
  FlowError,
  flowCsrf,
  forgetFlow,
  loadFlow,
  recordFailure,
  recordPassed,
  releaseAfterRefusal,
  setCurrentMethod,
  type Flow,
} from '../flows.js';
import { csrfField, html, notice, type SafeHtml } from '../html.js';
import { t, type MessageKey } from '../i18n/index.js';
import { inSsprScope, resolveUser, type PageUser } from '../identity.js';
import {
  checkAnswers,
  claimTotpStep,
  getMethods,
  METHOD_KINDS,
  openTotpSecret,
  QUESTION_IDS,
  QUESTIONS_REQUIRED,
  type MethodKind,
  type QuestionId,
} from '../methods.js';
import { outcomeNotice } from '../outcome-text.js';
import { pageTenant, parseForm, redirect, sendPage, tenantBase } from '../page.js';
import { fetchPolicy, newPasswordFields, policyPanel } from '../policy-view.js';
import { macOf } from '../../keys/sealing.js';
import { deleteSubjectSessions } from '../session.js';
import { notifyAfterWrite, resetPassword, unlockAccount } from '../write.js';
import { agentConnected, countAttempt, POLICY_SCRIPT, userPage } from './common.js';

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
  const flow = await loadFlow(services, req, tenant.id);
  try {
    assertValid(flow, services.now());
  } catch (e) {
    if (e instanceof FlowError) return sendPage(reply, endedPage(tenant, e), 410);
    throw e;
  }
  return fn(tenant, flow, await getTenantSettings(services.db, tenant.id));
}

/** The questions a flow asks: the user's own, or for anyone else three fixed by the name (so a reload shows the same). */
async function questionsFor(services: Services, tenantId: string, flow: Flow): Promise<QuestionId[]> {
  if (flow.userKey) {
    const m = await getMethods(services.db, tenantId, flow.userKey);
    if (m.questions) return m.questions.map((q) => q.id);
  }
  const seed = macOf(services.cloudKey.privateKey, `questions|${tenantId}|${flow.login.toLowerCase()}`);
  const pool = [...QUESTION_IDS];
  const out: QuestionId[] = [];
  for (let i = 0; out.length < QUESTIONS_REQUIRED; i++) {
    const idx = (seed.charCodeAt(i) ?? 0) % pool.length;
    const [q] = pool.splice(idx, 1);
    if (q) out.push(q);
  }
  return out;
}

function startPage(tenant: Tenant, csrf: string, o: { agentDown: boolean; disabled: boolean; login?: string }): string {
  const base = tenantBase(tenant);
  if (o.disabled)
    return page(tenant, t('forgot.title'), notice('error', html`<p>${t('error.sspr_disabled')}</p>`, 'sspr_disabled'));
  if (o.agentDown)
    return page(
      tenant,
      t('forgot.title'),
      html`${outcomeNotice({ outcome: 'agent_unavailable' }, 'reset')}<p><a href="${base}/signin">${t('signin.title')}</a></p>`,
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
  const current = flow.data.current;
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

/** Send a code in the background (same time for everyone); only a known user with an address gets it. */
function sendInBackground(
  services: Services,
  tenantId: string,
  kind: 'email' | 'sms',
  to: string | null,
  code: string,
): void {
  if (!to) return;
  const p =
    kind === 'email'
      ? services.mailer.send({ to, subject: t('mail.code.subject'), text: t('mail.code.text', { code }) })
      : services.sms.send({ to, text: t('sms.code', { code }) });
  p.catch((err: unknown) => services.log.warn('could not send a reset code', { tenantId, channel: kind, err }));
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
  const user = await resolveUser(services, tenant.id, flow.login);
  const policy = await fetchPolicy(services, tenant.id, user.login, req.ip);
  const unlock = settings.sspr.unlockEnabled
    ? html`<section class="card" aria-labelledby="unlock-h"><h2 id="unlock-h">${t('forgot.choose.unlock')}</h2><p>${t('forgot.unlock.intro')}</p>
<form method="post" action="${base}/forgot/unlock">${csrfField(flow.csrfToken)}<div class="actions"><button type="submit" class="secondary">${t('forgot.unlock.submit')}</button></div></form></section>`
    : '';
  const agentDown =
    policy.outcome === 'agent_unavailable' && !result ? outcomeNotice({ outcome: 'agent_unavailable' }, 'reset') : '';
  return page(
    tenant,
    t('forgot.title'),
    html`${result ?? ''}${agentDown}<section class="card" aria-labelledby="reset-h"><h2 id="reset-h">${t('forgot.choose.reset')}</h2>
<div class="layout-2"><form method="post" action="${base}/forgot/new" novalidate>${csrfField(flow.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${user.login}" hidden>
${newPasswordFields()}<div class="actions"><button type="submit">${t('forgot.reset.submit')}</button></div></form>
${policyPanel(policy.policy, user, { now: services.now(), forReset: true })}</div></section>${unlock}`,
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
    const settings = await getTenantSettings(services.db, tenant.id);
    const agentDown = settings.sspr.enabled && !(await agentConnected(services, tenant.id));
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    return sendPage(
      reply,
      startPage(tenant, csrf, { agentDown, disabled: !settings.sspr.enabled }),
      agentDown ? 503 : 200,
    );
  });

  web.post('/t/:tenant/forgot', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const settings = await getTenantSettings(services.db, tenant.id);
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    if (!settings.sspr.enabled)
      return sendPage(reply, startPage(tenant, csrf, { agentDown: false, disabled: true }), 403);
    if (!(await agentConnected(services, tenant.id)))
      return sendPage(reply, startPage(tenant, csrf, { agentDown: true, disabled: false }), 503);
    const form = parseForm(StartForm, req.body);
    const user = await resolveUser(services, tenant.id, form.login);
    countAttempt(services, {
      tenantId: tenant.id,
      userKey: user.key,
      clientIp: req.ip,
      perHour: settings.sspr.attemptsPerHour,
    });
    const inScope = inSsprScope(settings, user);
    await createFlow(services, reply, {
      tenantId: tenant.id,
      userKey: inScope ? user.key : null,
      login: user.login,
      required: settings.sspr.required,
    });
    return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
  });

  web.get('/t/:tenant/forgot/verify', async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state === 'verified') return redirect(reply, `${tenantBase(tenant)}/forgot/new`);
      const questions =
        flow.data.current === 'questions'
          ? (flow.data.questions ?? (await questionsFor(services, tenant.id, flow)))
          : undefined;
      const info =
        flow.data.current === 'email' || flow.data.current === 'sms'
          ? notice('info', html`<p>${t('forgot.sent')}</p>`, 'code_sent')
          : undefined;
      return sendPage(
        reply,
        verifyPage(tenant, flow, settings, { ...(questions ? { questions } : {}), ...(info ? { info } : {}) }),
      );
    }),
  );

  web.post('/t/:tenant/forgot/method', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      const { method } = parseForm(MethodForm, req.body);
      if (!settings.sspr.methods.includes(method) || flow.verified.includes(method) || flow.state !== 'started')
        return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      if (method === 'email' || method === 'sms') {
        // Resending counts as an attempt (it is also a way to flood someone's inbox).
        countAttempt(services, {
          tenantId: tenant.id,
          userKey: flow.userKey ?? flow.login.toLowerCase(),
          clientIp: req.ip,
          perHour: settings.sspr.attemptsPerHour * 2,
        });
        const code = await issueCode(services, {
          tenantId: tenant.id,
          purpose: 'reset',
          owner: flow.id,
          channel: method,
        });
        // The same look-ups for every name; only an in-scope user gets an address.
        const m = await getMethods(services.db, tenant.id, flow.userKey ?? flow.login.toLowerCase());
        const user = await resolveUser(services, tenant.id, flow.login);
        const address = method === 'email' ? (m.email ?? user.mail) : m.sms;
        const to = flow.userKey ? address : null;
        sendInBackground(services, tenant.id, method, to, code);
        await setCurrentMethod(services, flow, method);
      } else if (method === 'questions') {
        await setCurrentMethod(services, flow, method, await questionsFor(services, tenant.id, flow));
      } else {
        await setCurrentMethod(services, flow, method);
      }
      return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
    }),
  );

  web.post('/t/:tenant/forgot/verify', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      const current = flow.data.current;
      if (!current || flow.state !== 'started') return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      const body = z.record(z.string(), z.unknown()).safeParse(req.body ?? {});
      const fields = body.success ? body.data : {};
      const found = await getMethods(services.db, tenant.id, flow.userKey ?? flow.login.toLowerCase());
      const m = flow.userKey ? found : null;
      let passed = false;
      if (current === 'email' || current === 'sms') {
        const code = CodeInputSchema.safeParse(fields.code);
        const check = code.success
          ? await checkCode(services, { tenantId: tenant.id, purpose: 'reset', owner: flow.id, code: code.data })
          : 'wrong';
        passed = check === 'ok' && flow.userKey !== null;
      } else if (current === 'totp') {
        const code = typeof fields.code === 'string' ? fields.code.slice(0, 16) : '';
        const secret =
          m?.totp && flow.userKey ? openTotpSecret(services, tenant.id, flow.userKey, m.totp.sealed) : null;
        const step = verifyTotp(secret ?? 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', code, services.now(), 1);
        // A code already used (same or earlier step) is refused: no replay within its window.
        passed =
          secret !== null &&
          step !== null &&
          flow.userKey !== null &&
          (await claimTotpStep(services.db, tenant.id, flow.userKey, step));
      } else {
        const asked = flow.data.questions ?? (await questionsFor(services, tenant.id, flow));
        const answers = new Map<QuestionId, string>();
        for (const q of asked) {
          const v = fields[`a_${q}`];
          if (typeof v === 'string') answers.set(q, v.slice(0, 128));
        }
        if (m?.questions) passed = await checkAnswers(m.questions, answers);
        else {
          // Same scrypt work as a real check.
          const dummy = await dummyPasswordHash();
          await Promise.all(asked.map((q) => verifyPassword(answers.get(q) ?? '', dummy)));
        }
      }
      if (passed) {
        const state = await recordPassed(services, flow, current);
        return redirect(reply, `${tenantBase(tenant)}/forgot/${state === 'verified' ? 'new' : 'verify'}`);
      }
      // Wrong answers are capped per flow (FLOW_MAX_FAILURES); flows themselves are counted per hour at the start.
      const left = await recordFailure(services, flow);
      if (left === 0) return sendPage(reply, endedPage(tenant, new FlowError('flow_locked')), 410);
      const questions =
        current === 'questions' ? (flow.data.questions ?? (await questionsFor(services, tenant.id, flow))) : undefined;
      const error = notice(
        'error',
        html`<p>${t('forgot.verify.wrong')} ${t('forgot.verify.attemptsLeft', { n: left })}</p>`,
        'verification_failed',
      );
      return sendPage(reply, verifyPage(tenant, flow, settings, { error, ...(questions ? { questions } : {}) }), 422);
    }),
  );

  web.get('/t/:tenant/forgot/new', async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state !== 'verified') return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      return sendPage(reply, await newPasswordPage(services, req, tenant, flow, settings));
    }),
  );

  async function write(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    flow: Flow,
    settings: TenantSettings,
    kind: 'reset' | 'unlock',
    newPassword: string | null,
  ): Promise<FastifyReply> {
    const user: PageUser = await resolveUser(services, tenant.id, flow.login);
    if (!(await claimForWrite(services, flow)))
      return sendPage(reply, endedPage(tenant, new FlowError('flow_done')), 410);
    const w = { tenantId: tenant.id, user, clientIp: req.ip };
    const result =
      newPassword !== null ? await resetPassword(services, w, newPassword) : await unlockAccount(services, w);
    const status = OUTCOME_HTTP_STATUS[result.outcome];
    if (NOTHING_WRITTEN.has(result.outcome)) {
      // Nothing was written: the verified person may try again with another password.
      await releaseAfterRefusal(services, flow);
      return sendPage(
        reply,
        await newPasswordPage(services, req, tenant, flow, settings, outcomeNotice(result, kind)),
        status,
      );
    }
    forgetFlow(services, reply);
    if (result.outcome === 'succeeded') {
      // A reset ends the user's signed-in sessions elsewhere (someone else may have been using the old password).
      if (kind === 'reset')
        await deleteSubjectSessions(services.db, tenant.id, 'user', user.cloud?.id ?? user.login.toLowerCase());
      notifyAfterWrite(services, w, kind);
    }
    return sendPage(reply, donePage(tenant, outcomeNotice(result, kind)), status);
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
      return write(req, reply, tenant, flow, settings, 'reset', form.newPassword);
    }),
  );

  web.post('/t/:tenant/forgot/unlock', flowRoute, async (req, reply) =>
    withFlow(services, req, reply, async (tenant, flow, settings) => {
      if (flow.state !== 'verified' || !settings.sspr.unlockEnabled)
        return redirect(reply, `${tenantBase(tenant)}/forgot/verify`);
      return write(req, reply, tenant, flow, settings, 'unlock', null);
    }),
  );
}
