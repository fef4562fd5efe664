/**
 * Setting up the ways to prove it's you, from My Account: email code, text message code,
 * authenticator app, security questions (usecases/methods/: the registration use cases). Each page
 * parses, calls the use case and renders; what is pending between two steps (an address a code
 * was sent to, a sealed TOTP key) is kept in the user's session. A change needs a recent proof of
 * the password and no pending password change (usecases/methods/reauth.ts): otherwise the person
 * is sent to the re-authentication page (`/account/reauth`, a password field) or back to My
 * Account (which then shows only the change form).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Tenant } from '../../tenants/tenants.js';
import { csrfField, html, notice, raw, type SafeHtml } from '../html.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { confirmRegistrationCode, sendRegistrationCode } from '../../usecases/methods/contact.js';
import { registerQuestions } from '../../usecases/methods/questions.js';
import {
  methodChangeRefusalFor,
  reauthenticate,
  type MethodChangeRefusal,
  type MethodSession,
} from '../../usecases/methods/reauth.js';
import {
  assertOffered,
  getMethods,
  METHOD_KINDS,
  QUESTION_IDS,
  QUESTIONS_REQUIRED,
  QuestionIdSchema,
  type MethodKind,
  type QuestionId,
} from '../../usecases/methods/registered.js';
import { beginTotpRegistration, confirmTotpRegistration, type PendingTotp } from '../../usecases/methods/totp.js';
import { pageTenant, parseForm, redirect, sendPage, tenantBase } from '../page.js';
import { updateSessionData } from '../session.js';
import { waitText } from '../time-text.js';
import { requireUser, userPage, type SignedIn } from './common.js';

function methodPage(tenant: Tenant, s: SignedIn, title: string, body: SafeHtml): string {
  const back = html`<p><a href="${tenantBase(tenant)}/account">${t('account.title')}</a></p>`;
  return userPage(tenant, { title, body: html`${body}${back}`, csrf: s.session.csrfToken, current: 'account' });
}

/** What the session says about the person's proof of the password. */
const proofOf = (s: SignedIn): MethodSession => ({
  startedAt: s.session.createdAt,
  reauthAt: s.data.reauthAt,
  changePending: s.data.mustChange === true || s.data.expired === true,
});

/** Where a refused change goes: My Account (the change form first), or the password check. */
function refusedTo(reply: FastifyReply, tenant: Tenant, problem: MethodChangeRefusal, kind: MethodKind): FastifyReply {
  const base = tenantBase(tenant);
  return redirect(reply, problem === 'change_pending' ? `${base}/account` : `${base}/account/reauth?next=${kind}`);
}

/** The signed-in user, when this session may change methods now (else redirected: null). */
async function requireMethodChange(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  tenant: Tenant,
  kind: MethodKind,
): Promise<SignedIn | null> {
  const s = await requireUser(services, req, reply, tenant);
  if (!s) return null;
  const refused = await methodChangeRefusalFor(services, tenant.id, kind, proofOf(s));
  if (!refused) return s;
  await refusedTo(reply, tenant, refused, kind);
  return null;
}

const ReauthQuery = z.object({ next: z.enum(METHOD_KINDS).optional() });
const ReauthForm = z.object({
  _csrf: z.string(),
  username: z.string().max(256).optional(),
  password: z.string().min(1).max(256),
  next: z.enum(METHOD_KINDS).optional(),
});

export function registerMethodPages(web: FastifyInstance, services: Services): void {
  // ---- re-authentication: the current password, before a method changes ----
  const reauthPage = (tenant: Tenant, s: SignedIn, next: MethodKind | undefined, error?: SafeHtml): string =>
    methodPage(
      tenant,
      s,
      t('reauth.title'),
      html`${error ?? ''}<p>${t('reauth.intro')}</p><form method="post" action="${tenantBase(tenant)}/account/reauth" class="card">${csrfField(s.session.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${s.user.login}" hidden>
${next ? html`<input type="hidden" name="next" value="${next}">` : ''}
<div class="field"><label for="password">${t('reauth.password')}</label><input type="password" id="password" name="password" autocomplete="current-password" required maxlength="256"></div>
<div class="actions"><button type="submit">${t('reauth.submit')}</button></div></form>`,
    );

  web.get('/t/:tenant/account/reauth', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    if (proofOf(s).changePending) return redirect(reply, `${tenantBase(tenant)}/account`);
    const q = ReauthQuery.safeParse(req.query);
    return sendPage(reply, reauthPage(tenant, s, q.success ? q.data.next : undefined));
  });

  web.post('/t/:tenant/account/reauth', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    const base = tenantBase(tenant);
    if (proofOf(s).changePending) return redirect(reply, `${base}/account`);
    const form = parseForm(ReauthForm, req.body);
    const r = await reauthenticate(services, {
      tenantId: tenant.id,
      login: s.user.login,
      password: form.password,
      clientIp: req.ip,
    });
    if (r.ok) {
      await updateSessionData(services.db, s.session.id, { ...s.data, reauthAt: r.at });
      return redirect(reply, form.next ? `${base}/account/methods/${form.next}` : `${base}/account`);
    }
    if (r.problem === 'change_pending' || r.problem === 'password_expired') {
      // The directory wants a new password first: My Account shows only the change form.
      const pending = r.problem === 'change_pending' ? { mustChange: true } : { expired: true };
      await updateSessionData(services.db, s.session.id, { ...s.data, ...pending });
      return redirect(reply, `${base}/account`);
    }
    if (r.problem === 'rate_limited') reply.header('retry-after', String(r.retryAfterSeconds));
    const [text, code, status] =
      r.problem === 'rate_limited'
        ? [t('error.rate_limited', { wait: waitText(r.retryAfterSeconds) }), 'rate_limited', 429]
        : r.problem === 'invalid_credentials'
          ? [t('reauth.wrong'), 'invalid_credentials', 401]
          : [t('reauth.unavailable'), 'unavailable', 503];
    return sendPage(reply, reauthPage(tenant, s, form.next, notice('error', html`<p>${text}</p>`, code)), status);
  });

  // ---- email and text message: address → code → confirmed ----
  for (const kind of ['email', 'sms'] as const) {
    const titleKey: MessageKey = kind === 'email' ? 'register.email.title' : 'register.sms.title';

    const addressForm = (tenant: Tenant, s: SignedIn, value: string, error?: SafeHtml): string => {
      const base = tenantBase(tenant);
      const field =
        kind === 'email'
          ? html`<div class="field"><label for="address">${t('register.email.address')}</label><input type="email" id="address" name="address" autocomplete="email" required maxlength="254" value="${value}"></div>`
          : html`<div class="field"><label for="address">${t('register.sms.number')}</label><span class="hint" id="address-hint">${t('register.sms.numberHint')}</span><input type="tel" id="address" name="address" autocomplete="tel" required maxlength="20" aria-describedby="address-hint" value="${value}"></div>`;
      return methodPage(
        tenant,
        s,
        t(titleKey),
        html`${error ?? ''}<form method="post" action="${base}/account/methods/${kind}/send" class="card">${csrfField(s.session.csrfToken)}${field}<div class="actions"><button type="submit">${t(kind === 'email' ? 'register.email.send' : 'register.sms.send')}</button></div></form>`,
      );
    };
    const codeForm = (tenant: Tenant, s: SignedIn, address: string, error?: SafeHtml): string => {
      const base = tenantBase(tenant);
      return methodPage(
        tenant,
        s,
        t(titleKey),
        html`${error ?? notice('info', html`<p>${t(kind === 'email' ? 'register.email.sent' : 'register.sms.sent', { address })}</p>`, 'code_sent')}
<form method="post" action="${base}/account/methods/${kind}/confirm" class="card">${csrfField(s.session.csrfToken)}
<div class="field"><label for="code">${t('register.email.code')}</label><input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="16"></div>
<div class="actions"><button type="submit">${t('register.email.confirm')}</button></div></form>`,
      );
    };

    web.get(`/t/:tenant/account/methods/${kind}`, async (req, reply) => {
      const tenant = await pageTenant(services, req);
      const s = await requireMethodChange(services, req, reply, tenant, kind);
      if (!s) return reply;
      const m = await getMethods(services.db, tenant.id, s.user.key);
      return sendPage(
        reply,
        addressForm(tenant, s, (kind === 'email' ? (m.email ?? s.user.mail) : (m.sms ?? s.user.mobile)) ?? ''),
      );
    });

    web.post(`/t/:tenant/account/methods/${kind}/send`, async (req, reply) => {
      const tenant = await pageTenant(services, req);
      const s = await requireUser(services, req, reply, tenant);
      if (!s) return reply;
      const form = parseForm(z.object({ address: z.string().trim().max(254) }), req.body);
      const sent = await sendRegistrationCode(services, {
        tenantId: tenant.id,
        kind,
        owner: s.session.id,
        address: form.address,
        user: s.user,
        session: proofOf(s),
      });
      if (!sent.ok && (sent.problem === 'change_pending' || sent.problem === 'reauth_required'))
        return refusedTo(reply, tenant, sent.problem, kind);
      // The address form again, with the refusal under its code.
      const refused = (message: MessageKey, code: string, status: number) =>
        sendPage(
          reply,
          addressForm(tenant, s, form.address, notice('error', html`<p>${t(message)}</p>`, code)),
          status,
        );
      if (!sent.ok && sent.problem === 'invalid_address')
        return refused('error.invalid_request', 'invalid_address', 422);
      // A code was made: the address it was sent to is the only one it can confirm.
      const data = { ...s.data, ...(kind === 'email' ? { pendingEmail: form.address } : { pendingSms: form.address }) };
      await updateSessionData(services.db, s.session.id, data);
      if (!sent.ok) return refused('error.internal_error', 'send_failed', 502);
      return sendPage(reply, codeForm(tenant, s, form.address));
    });

    web.post(`/t/:tenant/account/methods/${kind}/confirm`, async (req, reply) => {
      const tenant = await pageTenant(services, req);
      const s = await requireUser(services, req, reply, tenant);
      if (!s) return reply;
      const address = kind === 'email' ? s.data.pendingEmail : s.data.pendingSms;
      if (!address) {
        await assertOffered(services, tenant.id, kind);
        return redirect(reply, `${tenantBase(tenant)}/account/methods/${kind}`);
      }
      const form = parseForm(z.object({ code: z.string().max(32) }), req.body);
      const confirmed = await confirmRegistrationCode(services, {
        tenantId: tenant.id,
        user: s.user,
        session: proofOf(s),
        kind,
        owner: s.session.id,
        address,
        code: form.code,
      });
      if (!confirmed.ok) {
        if (confirmed.problem === 'change_pending' || confirmed.problem === 'reauth_required')
          return refusedTo(reply, tenant, confirmed.problem, kind);
        return sendPage(
          reply,
          codeForm(
            tenant,
            s,
            address,
            notice(
              'error',
              html`<p>${t(confirmed.problem === 'code_wrong' ? 'register.code.wrong' : 'register.code.invalid')}</p>`,
              'code_wrong',
            ),
          ),
          422,
        );
      }
      const { pendingEmail: _e, pendingSms: _s, ...rest } = s.data;
      await updateSessionData(services.db, s.session.id, rest);
      return redirect(reply, `${tenantBase(tenant)}/account?done=${kind}`);
    });
  }

  // ---- authenticator app: QR + key → confirm a code ----
  async function totpPage(tenant: Tenant, s: SignedIn, pending: PendingTotp, error?: SafeHtml): Promise<string> {
    const base = tenantBase(tenant);
    const svg = await QRCode.toString(pending.uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
    const src = `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
    const grouped = pending.secret.replace(/(.{4})/g, '$1 ').trim();
    return methodPage(
      tenant,
      s,
      t('register.totp.title'),
      html`${error ?? ''}<div class="card"><p>${t('register.totp.scan')}</p>
<img class="qr" src="${src}" alt="${t('register.totp.qr')}" width="192" height="192">
<p>${t('register.totp.secret')}: <code class="secret" data-totp-secret>${grouped}</code></p>
<form method="post" action="${base}/account/methods/totp">${csrfField(s.session.csrfToken)}
<div class="field"><label for="code">${t('register.totp.code')}</label><input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="8"></div>
<div class="actions"><button type="submit">${t('register.totp.confirm')}</button></div></form></div>`,
    );
  }

  web.get('/t/:tenant/account/methods/totp', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireMethodChange(services, req, reply, tenant, 'totp');
    if (!s) return reply;
    const pending = await beginTotpRegistration(services, {
      tenantId: tenant.id,
      owner: s.session.id,
      pending: s.data.pendingTotp,
      issuer: tenant.name,
      account: s.user.login,
    });
    if (pending.created) {
      // The key waits, sealed, in the session until a code from the app confirms it.
      s.data = { ...s.data, pendingTotp: pending.sealed };
      await updateSessionData(services.db, s.session.id, s.data);
    }
    return sendPage(reply, await totpPage(tenant, s, pending));
  });

  web.post('/t/:tenant/account/methods/totp', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    const form = parseForm(z.object({ code: z.string().max(16) }), req.body);
    const confirmed = await confirmTotpRegistration(services, {
      tenantId: tenant.id,
      user: s.user,
      session: proofOf(s),
      owner: s.session.id,
      pending: s.data.pendingTotp,
      code: form.code,
      issuer: tenant.name,
      account: s.user.login,
    });
    if (!confirmed.ok) {
      if (confirmed.problem === 'no_pending') return redirect(reply, `${tenantBase(tenant)}/account/methods/totp`);
      if (confirmed.problem === 'change_pending' || confirmed.problem === 'reauth_required')
        return refusedTo(reply, tenant, confirmed.problem, 'totp');
      return sendPage(
        reply,
        await totpPage(
          tenant,
          s,
          confirmed.pending,
          notice('error', html`<p>${t('register.code.wrong')}</p>`, 'code_wrong'),
        ),
        422,
      );
    }
    const { pendingTotp: _p, ...rest } = s.data;
    await updateSessionData(services.db, s.session.id, rest);
    return redirect(reply, `${tenantBase(tenant)}/account?done=totp`);
  });

  // ---- security questions ----
  function questionsPage(
    tenant: Tenant,
    s: SignedIn,
    chosen: readonly (QuestionId | undefined)[],
    error?: SafeHtml,
  ): string {
    const base = tenantBase(tenant);
    const rows: SafeHtml[] = [];
    for (let i = 0; i < QUESTIONS_REQUIRED; i++) {
      const n = i + 1;
      const pick = chosen[i] ?? QUESTION_IDS[i];
      rows.push(html`<fieldset><legend>${t('register.questions.question', { n })}</legend>
<div class="field"><label for="q${n}">${t('register.questions.question', { n })}</label><select id="q${n}" name="q${n}">${QUESTION_IDS.map((id) => html`<option value="${id}"${id === pick ? raw(' selected') : ''}>${t(`question.${id}`)}</option>`)}</select></div>
<div class="field"><label for="a${n}">${t('register.questions.answer', { n })}</label><input type="text" id="a${n}" name="a${n}" autocomplete="off" required maxlength="128"></div></fieldset>`);
    }
    return methodPage(
      tenant,
      s,
      t('register.questions.title'),
      html`${error ?? ''}<p>${t('register.questions.intro')}</p><form method="post" action="${base}/account/methods/questions" class="card">${csrfField(s.session.csrfToken)}${rows}<div class="actions"><button type="submit">${t('register.questions.save')}</button></div></form>`,
    );
  }

  web.get('/t/:tenant/account/methods/questions', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireMethodChange(services, req, reply, tenant, 'questions');
    if (!s) return reply;
    return sendPage(reply, questionsPage(tenant, s, []));
  });

  const QuestionsForm = z.object({
    q1: QuestionIdSchema,
    q2: QuestionIdSchema,
    q3: QuestionIdSchema,
    a1: z.string().max(128),
    a2: z.string().max(128),
    a3: z.string().max(128),
  });

  web.post('/t/:tenant/account/methods/questions', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await requireUser(services, req, reply, tenant);
    if (!s) return reply;
    const f = parseForm(QuestionsForm, req.body);
    const answers = [
      { id: f.q1, answer: f.a1 },
      { id: f.q2, answer: f.a2 },
      { id: f.q3, answer: f.a3 },
    ];
    const saved = await registerQuestions(services, {
      tenantId: tenant.id,
      user: s.user,
      session: proofOf(s),
      answers,
    });
    if (!saved.ok) {
      if (saved.problem === 'change_pending' || saved.problem === 'reauth_required')
        return refusedTo(reply, tenant, saved.problem, 'questions');
      const text =
        saved.problem === 'questions_not_distinct' ? 'register.questions.distinct' : 'register.questions.short';
      return sendPage(
        reply,
        questionsPage(
          tenant,
          s,
          answers.map((x) => x.id),
          notice('error', html`<p>${t(text)}</p>`, saved.problem),
        ),
        422,
      );
    }
    return redirect(reply, `${tenantBase(tenant)}/account?done=questions`);
  });
}
