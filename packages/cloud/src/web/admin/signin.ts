/**
 * Admin sign-in, two steps:
 *   GET/POST signin        login + password (local admin accounts, scrypt; unknown login and wrong
 *                          password answer alike after the same work; failures rate limited per
 *                          login and per IP, one budget with the API's) → an admin session in stage `mfa`
 *   GET/POST signin/totp   the TOTP code; an admin without a confirmed factor enrols first
 *                          (QR code + key, confirmed by a first code) → a NEW session in stage `ok`
 * The `mfa` stage lasts five minutes. Both checks are the use case's (usecases/admin-sign-in.ts):
 * codes are replay-protected and failures count towards the same per-login budget.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import { totpUri } from '../../auth/totp.js';
import type { Services } from '../../services.js';
import { CloudError } from '../../errors.js';
import type { Tenant } from '../../tenants/tenants.js';
import { csrfTokenFor } from '../csrf.js';
import { csrfField, html, notice, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { pageTenant, parseForm, redirect, sendPage } from '../page.js';
import { endSession, isSecureSite, startSession } from '../session.js';
import { waitText } from '../time-text.js';
import { adminBase, adminSession, loadAdminAccount, MFA_WINDOW_MS, type AdminSessionData } from './guard.js';
import { adminLayout } from './layout.js';
import { beginEnrolment, getAdminTotp, unsealSecret, type TotpCheck } from '../../auth/admin-totp.js';
import {
  adminDeviceToken,
  checkAdminCodeStep,
  checkAdminPasswordStep,
  type SignedInAdmin,
} from '../../usecases/admin-sign-in.js';
import { getCookie, setCookie } from '../cookies.js';

const SignInForm = z.object({ login: z.string().trim().min(1).max(128), password: PasswordSchema.min(1) });
const CodeForm = z.object({ code: z.string().trim().max(16) });
const Query = z.object({ signedOut: z.string().optional(), expired: z.string().optional() });

function signInForm(base: string, csrf: string, o: { login?: string; message?: SafeHtml | '' }): SafeHtml {
  return html`${o.message ?? ''}
<div class="card narrow">
<form method="post" action="${base}/signin" novalidate>
${csrfField(csrf)}
<div class="field"><label for="login">${t('admin.signin.login')}</label>
<input id="login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${o.login ?? ''}"${o.login ? '' : raw(' autofocus')}></div>
<div class="field"><label for="password">${t('admin.signin.password')}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${o.login ? raw(' autofocus') : ''}></div>
<div class="actions"><button type="submit">${t('admin.signin.submit')}</button></div>
</form>
</div>`;
}

/** The admin pages' device cookie (usecases/devices.ts), apart from the end-user one. */
const ADMIN_DEVICE_COOKIE = 'wb-admin-device';
const ADMIN_DEVICE_COOKIE_SECONDS = 180 * 86_400;

/**
 * A step refused `rate_limited`: set Retry-After and give the notice that says how long to wait.
 * Any other error is thrown on.
 */
function rateLimitedNotice(err: unknown, reply: FastifyReply): SafeHtml {
  if (!(err instanceof CloudError && err.code === 'rate_limited')) throw err;
  const wait = err.retryAfterSeconds ?? 60;
  reply.header('retry-after', String(wait));
  return notice('error', t('admin.signin.rateLimited', { wait: waitText(wait) }), 'rate_limited');
}

async function showSignIn(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  tenant: Tenant,
  o: { status?: number; login?: string; message?: SafeHtml | '' } = {},
) {
  const csrf = await csrfTokenFor(services, req, reply, tenant.id, 'admin');
  const doc = adminLayout({
    title: t('admin.signin.title'),
    tenantName: tenant.name,
    body: signInForm(adminBase(tenant), csrf, o),
  });
  return sendPage(reply, doc, o.status ?? 200);
}

async function qrSvg(text: string): Promise<SafeHtml> {
  // The library's SVG holds only paths and fills (no script, no style attribute).
  const svg = await QRCode.toString(text, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
  return raw(svg.replace('<svg ', `<svg role="img" aria-label="${t('admin.totp.qrLabel')}" class="qr" `));
}

/** Groups of four for reading the key aloud or typing it into an app. */
const grouped = (secret: string): string => secret.replace(/(.{4})(?=.)/g, '$1 ');

export function registerAdminSignIn(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant/admin', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await adminSession(services, req, tenant);
    return redirect(reply, `${adminBase(tenant)}/${s?.data.stage === 'ok' ? 'users' : 'signin'}`);
  });

  web.get('/t/:tenant/admin/signin', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const s = await adminSession(services, req, tenant);
    if (s?.data.stage === 'ok') return redirect(reply, `${adminBase(tenant)}/users`);
    const q = Query.safeParse(req.query);
    const message =
      q.success && q.data.signedOut
        ? notice('success', t('admin.signin.signedOut'))
        : q.success && q.data.expired
          ? notice('info', t('admin.signin.expired'))
          : '';
    return showSignIn(services, req, reply, tenant, { message });
  });

  web.post('/t/:tenant/admin/signin', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const form = parseForm(SignInForm, req.body);
    let signedIn: SignedInAdmin | null;
    try {
      signedIn = await checkAdminPasswordStep(services, {
        tenantRef: tenant.id,
        login: form.login,
        password: form.password,
        clientIp: req.ip,
        deviceToken: getCookie(req, ADMIN_DEVICE_COOKIE, isSecureSite(services)),
      });
    } catch (err) {
      const message = rateLimitedNotice(err, reply);
      return showSignIn(services, req, reply, tenant, { status: 429, login: form.login, message });
    }
    if (!signedIn)
      return showSignIn(services, req, reply, tenant, {
        status: 401,
        login: form.login,
        message: notice('error', t('admin.signin.invalid'), 'invalid_credentials'),
      });
    const { admin } = signedIn;
    const data: AdminSessionData = { stage: 'mfa', pwAt: services.now() };
    await startSession(services, req, reply, {
      kind: 'admin',
      tenantId: tenant.id,
      subjectId: admin.id,
      subjectLogin: admin.login,
      data,
    });
    return redirect(reply, `${adminBase(tenant)}/signin/totp`);
  });

  /** The session between the two factors, or null after redirecting back to the start. */
  async function mfaStage(req: FastifyRequest, reply: FastifyReply, tenant: Tenant) {
    const s = await adminSession(services, req, tenant);
    const base = adminBase(tenant);
    if (s?.data.stage === 'ok') {
      redirect(reply, `${base}/users`);
      return null;
    }
    const admin = s ? await loadAdminAccount(services, tenant.id, s.session.subjectId) : null;
    if (!s || !admin || services.now() - s.data.pwAt > MFA_WINDOW_MS) {
      if (s) await endSession(services, req, reply, 'admin');
      redirect(reply, `${base}/signin${s ? '?expired=1' : ''}`);
      return null;
    }
    return { session: s.session, admin };
  }

  async function showTotp(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    status = 200,
    message: SafeHtml | '' = '',
  ) {
    const st = await mfaStage(req, reply, tenant);
    if (!st) return reply;
    const base = adminBase(tenant);
    const factor = await getAdminTotp(services.db, st.admin.id);
    let enrol: SafeHtml | '' = '';
    if (!factor?.confirmed) {
      // Keep an unconfirmed key across reloads, so a scanned code keeps working.
      const existing = factor ? unsealSecret(services.cloudKey.privateKey, factor.sealed, st.admin.id) : null;
      const secret =
        existing ??
        (await beginEnrolment(
          services.db,
          services.cloudKey.privateKey,
          { id: st.admin.id, tenantId: tenant.id },
          services.now(),
        ));
      if (!secret) return redirect(reply, `${base}/signin/totp`);
      const uri = totpUri({ secret, issuer: `${tenant.name} admin`, account: st.admin.login });
      enrol = html`<div class="card enrol">
<h2>${t('admin.totp.enrolTitle')}</h2>
<p>${t('admin.totp.enrolIntro')}</p>
<div class="enrol-grid">${await qrSvg(uri)}
<div><p class="label">${t('admin.totp.keyLabel')}</p><p><code class="secret" id="totp-secret" data-secret="${secret}">${grouped(secret)}</code></p>
<p class="hint">${t('admin.totp.keyHint')}</p></div></div>
</div>`;
    }
    const body = html`${message}${enrol}
<div class="card narrow">
<form method="post" action="${base}/signin/totp" novalidate>
${csrfField(st.session.csrfToken)}
<div class="field"><label for="code">${t(factor?.confirmed ? 'admin.totp.code' : 'admin.totp.confirmCode')}</label>
<span class="hint" id="code-hint">${t('admin.totp.codeHint')}</span>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9 ]*" maxlength="8" autocomplete="one-time-code" aria-describedby="code-hint" required autofocus></div>
<div class="actions"><button type="submit">${t(factor?.confirmed ? 'admin.totp.submit' : 'admin.totp.confirm')}</button></div>
</form>
</div>`;
    return sendPage(
      reply,
      adminLayout({
        title: t(factor?.confirmed ? 'admin.totp.title' : 'admin.totp.enrolPageTitle'),
        tenantName: tenant.name,
        body,
      }),
      status,
    );
  }

  web.get('/t/:tenant/admin/signin/totp', async (req, reply) => showTotp(req, reply, await pageTenant(services, req)));

  web.post('/t/:tenant/admin/signin/totp', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    const form = parseForm(CodeForm, req.body);
    const st = await mfaStage(req, reply, tenant);
    if (!st) return reply;
    let step: { check: TotpCheck; enrolled: boolean };
    try {
      step = await checkAdminCodeStep(services, {
        tenant,
        admin: st.admin,
        code: form.code,
        clientIp: req.ip,
        deviceToken: getCookie(req, ADMIN_DEVICE_COOKIE, isSecureSite(services)),
      });
    } catch (err) {
      return showTotp(req, reply, tenant, 429, rateLimitedNotice(err, reply));
    }
    const r = step.check;
    if (r === 'no_factor') return redirect(reply, `${adminBase(tenant)}/signin/totp`);
    if (r !== 'ok')
      return showTotp(
        req,
        reply,
        tenant,
        401,
        notice(
          'error',
          t(r === 'replayed' ? 'admin.totp.replayed' : 'admin.totp.invalid'),
          r === 'replayed' ? 'totp_replayed' : 'totp_invalid',
        ),
      );
    // This browser is now a known one for the admin (issue 10: its own attempt budget).
    setCookie(reply, ADMIN_DEVICE_COOKIE, adminDeviceToken(services, tenant, st.admin.login), {
      secure: isSecureSite(services),
      sameSite: 'Strict',
      maxAge: ADMIN_DEVICE_COOKIE_SECONDS,
    });
    // A new session (new id, secret and CSRF token) for the fully signed-in admin.
    const data: AdminSessionData = { stage: 'ok', pwAt: services.now() };
    await startSession(services, req, reply, {
      kind: 'admin',
      tenantId: tenant.id,
      subjectId: st.admin.id,
      subjectLogin: st.admin.login,
      data,
    });
    services.log.info('admin signed in (pages)', {
      tenantId: tenant.id,
      adminId: st.admin.id,
      enrolled: step.enrolled,
    });
    return redirect(reply, `${adminBase(tenant)}/users`);
  });

  web.post('/t/:tenant/admin/signout', async (req, reply) => {
    const tenant = await pageTenant(services, req);
    await endSession(services, req, reply, 'admin');
    return redirect(reply, `${adminBase(tenant)}/signin?signedOut=1`);
  });
}
