/**
 * Sign in (user name + password) and sign out. A user who must change the password (forced, or
 * expired) lands on My Account with only the change form; a tenant that requires verification
 * methods sends a user without enough of them to set them up. Every failure in plain words.
 */
import type { FastifyInstance } from 'fastify';
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Tenant } from '../../tenants/tenants.js';
import { csrfTokenFor } from '../csrf.js';
import { csrfField, html, notice, type SafeHtml } from '../html.js';
import { t, type MessageKey } from '../../i18n/index.js';
import { pageTenant, parseForm, redirect, sendPage, tenantBase } from '../page.js';
import { getCookie, setCookie } from '../cookies.js';
import { endSession, isSecureSite, startSession } from '../session.js';
import { userSubject } from '../../usecases/sessions.js';
import { signInUser, type SignInOutcome } from '../../usecases/user-sign-in.js';
import { waitText } from '../time-text.js';
import { DEVICE_COOKIE, DEVICE_COOKIE_SECONDS, signedInUser, userPage } from './common.js';

const FAILURE_TEXT: Partial<Record<SignInOutcome, MessageKey>> = {
  invalid_credentials: 'signin.invalid_credentials',
  account_locked: 'signin.account_locked',
  account_disabled: 'signin.account_disabled',
  agent_unavailable: 'signin.agent_unavailable',
  directory_unavailable: 'signin.directory_unavailable',
  timeout: 'signin.timeout',
};

const STATUS: Partial<Record<SignInOutcome, number>> = {
  invalid_credentials: 401,
  account_locked: 423,
  account_disabled: 403,
  agent_unavailable: 503,
  directory_unavailable: 503,
  timeout: 504,
  rate_limited: 429,
};

function signInPage(tenant: Tenant, csrf: string, o: { login?: string; message?: SafeHtml } = {}): string {
  const base = tenantBase(tenant);
  const body = html`${o.message ?? ''}<form method="post" action="${base}/signin" class="card">${csrfField(csrf)}
<div class="field"><label for="login">${t('signin.login')}</label><span class="hint" id="login-hint">${t('signin.loginHint')}</span>
<input type="text" id="login" name="login" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="256" aria-describedby="login-hint" value="${o.login ?? ''}"></div>
<div class="field"><label for="password">${t('signin.password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required maxlength="256"></div>
<div class="actions"><button type="submit">${t('signin.submit')}</button><a href="${base}/forgot">${t('signin.forgot')}</a></div></form>`;
  return userPage(tenant, { title: t('signin.title'), body, current: 'signin' });
}

const SignInForm = z.object({ login: z.string().trim().min(1).max(256), password: PasswordSchema.min(1) });

export function registerSignInPages(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant/signin', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    if (await signedInUser(services, req, tenant)) return redirect(reply, `${tenantBase(tenant)}/account`);
    const q = z.object({ m: z.enum(['signedout', 'expired']).optional() }).safeParse(req.query);
    const m = q.success ? q.data.m : undefined;
    const message =
      m === 'signedout'
        ? notice('success', html`<p>${t('signin.signedOut')}</p>`, 'signed_out')
        : m === 'expired'
          ? notice('info', html`<p>${t('signin.expired')}</p>`, 'session_expired')
          : undefined;
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    return sendPage(reply, signInPage(tenant, csrf, message ? { message } : {}));
  });

  web.post('/t/:tenant/signin', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const form = parseForm(SignInForm, req.body);
    const secure = isSecureSite(services);
    const r = await signInUser(services, {
      tenantId: tenant.id,
      login: form.login,
      password: form.password,
      clientIp: req.ip,
      deviceToken: getCookie(req, DEVICE_COOKIE, secure),
    });
    // This browser is now a known one for the account (issue 10: its own attempt budget).
    if (r.deviceToken)
      setCookie(reply, DEVICE_COOKIE, r.deviceToken, { secure, sameSite: 'Strict', maxAge: DEVICE_COOKIE_SECONDS });
    if (r.outcome === 'succeeded' || r.outcome === 'must_change' || r.outcome === 'password_expired') {
      const login = r.user?.login ?? form.login;
      await startSession(services, req, reply, {
        kind: 'user',
        tenantId: tenant.id,
        subjectId: userSubject(r.user, login),
        subjectLogin: login,
        data:
          r.outcome === 'must_change'
            ? { mustChange: true }
            : r.outcome === 'password_expired'
              ? { expired: true }
              : {},
      });
      services.log.info('user signed in to the pages', { tenantId: tenant.id, outcome: r.outcome, via: r.via });
      return redirect(reply, `${tenantBase(tenant)}/account`);
    }
    const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'user');
    if (r.outcome === 'rate_limited') reply.header('retry-after', String(r.retryAfterSeconds ?? 60));
    const text =
      r.outcome === 'rate_limited'
        ? t('error.rate_limited', { wait: waitText(r.retryAfterSeconds ?? 60) })
        : t(FAILURE_TEXT[r.outcome] ?? 'signin.invalid_credentials');
    const message = notice('error', html`<p>${text}</p>`, r.outcome);
    return sendPage(reply, signInPage(tenant, csrf, { login: form.login, message }), STATUS[r.outcome] ?? 400);
  });

  web.post('/t/:tenant/signout', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    await endSession(services, req, reply, 'user');
    return redirect(reply, `${tenantBase(tenant)}/signin?m=signedout`);
  });
}
