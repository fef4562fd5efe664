/**
 * The web pages: server-rendered HTML from Fastify (works without JavaScript; one small script
 * ticks the password rules as the person types). Everything lives in one encapsulated Fastify
 * scope, so the JSON API outside it is unchanged (no form parser there, its own error shape):
 * - `/assets/*`: the stylesheet and the script;
 * - `/t/:tenant/...`: end-user pages (pages/) and admin pages (admin/, registered by
 *   `registerAdminPages` from web/admin/index.ts).
 * Steps on every request of the scope: security headers (csp.ts); on every POST, the CSRF check
 * (csrf.ts), which no route can skip; errors become an HTML page with a stable code.
 */
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { registerAdminPages } from './admin/index.js';
import { ASSETS } from './assets.js';
import { setSecurityHeaders } from './csp.js';
import { assertCsrf, csrfMatches, expectedSessionCheck, kindOfRequest, presentedToken } from './csrf.js';
import { WebError, type WebErrorCode } from './errors.js';
import { html, layout, notice } from './html.js';
import { t, type MessageKey } from '../i18n/index.js';
import { loadPageTenant, redirect, sendPage, tenantBase } from './page.js';
import { registerUserPages } from './pages/index.js';
import { isSecureSite, sweepWebSessions } from './session.js';
import { sweepCodes } from '../usecases/methods/codes.js';
import { sweepFlows } from '../usecases/recovery/flow.js';
import { waitText } from './time-text.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Where the CSRF token a POST must carry comes from, when not from the session (or anonymous
     * cookie): e.g. the self-service flow's own token. Returns null when there is none.
     */
    csrfExpected?: (services: Services, req: FastifyRequest, tenantId: string) => Promise<string | null>;
  }
}

const SWEEP_EVERY_MS = 10 * 60_000;

const isFastifyError = (e: unknown): e is FastifyError =>
  e instanceof Error && 'code' in e && typeof e.code === 'string';

function toWebError(err: unknown): WebError {
  if (err instanceof WebError) return err;
  if (err instanceof CloudError) {
    if (err.code === 'rate_limited')
      return new WebError('rate_limited', {
        cause: err,
        ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
      });
    if (err.code === 'not_found') return new WebError('not_found', { cause: err });
    if (err.status < 500) return new WebError('invalid_request', { cause: err });
  }
  if (isFastifyError(err)) {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new WebError('payload_too_large', { cause: err });
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return new WebError('invalid_request', { cause: err });
  }
  return new WebError('internal_error', { cause: err });
}

const ERROR_TEXT: Record<WebErrorCode, MessageKey> = {
  csrf_failed: 'error.csrf_failed',
  not_found: 'error.not_found',
  invalid_request: 'error.invalid_request',
  invalid_password_characters: 'error.invalid_password_characters',
  rate_limited: 'error.rate_limited',
  payload_too_large: 'error.payload_too_large',
  internal_error: 'error.internal_error',
};

export function errorPage(e: WebError, home: string | null): string {
  const text =
    e.code === 'rate_limited'
      ? t('error.rate_limited', { wait: waitText(e.retryAfterSeconds ?? 60) })
      : t(ERROR_TEXT[e.code]);
  const body = html`${notice('error', html`<p>${text}</p>`, e.code)}
<p><a href="${home ?? '/'}">${t('error.back')}</a></p>`;
  const title =
    e.code === 'rate_limited'
      ? t('error.title.rate_limited')
      : e.code === 'csrf_failed'
        ? t('error.title.csrf_failed')
        : e.code === 'not_found'
          ? t('error.title.not_found')
          : t('error.title');
  return layout({ title, body });
}

/** Hook the pages into the application (called from http/app.ts). */
export function registerWebPages(app: FastifyInstance, services: Services): void {
  const secure = isSecureSite(services);
  app.register(async (web) => {
    await web.register(formbody);

    web.addHook('onSend', async (req, reply, payload) => {
      setSecurityHeaders(reply, { cacheable: req.url.startsWith('/assets/') && reply.statusCode === 200, secure });
      return payload;
    });

    web.addHook('preHandler', async (req, reply) => {
      if (req.method !== 'POST') return;
      const params = req.params;
      const ref = params !== null && typeof params === 'object' && 'tenant' in params ? params.tenant : undefined;
      const tenant = await loadPageTenant(services, ref);
      const custom = req.routeOptions.config.csrfExpected;
      if (custom) return assertCsrf(await custom(services, req, tenant.id), presentedToken(req));
      const { expected, sessionEnded } = await expectedSessionCheck(services, req, tenant.id);
      const presented = presentedToken(req);
      if (!csrfMatches(expected, presented) && sessionEnded) {
        // A form from a page of a session that has ended since: nothing is done, the person signs in
        // again (the same page a GET of a signed-in page leads to) instead of a "form expired" error.
        return kindOfRequest(req) === 'admin'
          ? redirect(reply, `${tenantBase(tenant)}/admin/signin?expired=1`)
          : redirect(reply, `${tenantBase(tenant)}/signin?m=expired`);
      }
      assertCsrf(expected, presented);
    });

    web.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
      const e = toWebError(err);
      if (e.code === 'internal_error')
        services.log.error('page failed', { reqId: req.id, method: req.method, route: req.routeOptions.url, err });
      else if (e.code !== 'not_found')
        services.log.info('page refused', { reqId: req.id, route: req.routeOptions.url ?? null, code: e.code });
      if (e.retryAfterSeconds !== undefined) reply.header('retry-after', String(e.retryAfterSeconds));
      const params = req.params;
      const ref =
        params !== null && typeof params === 'object' && 'tenant' in params && typeof params.tenant === 'string'
          ? params.tenant
          : null;
      const home = ref && /^[a-z0-9-]{1,63}$/.test(ref) ? `/t/${ref}/signin` : null;
      return sendPage(reply, errorPage(e, home), e.status);
    });

    for (const [name, asset] of Object.entries(ASSETS)) {
      web.get(`/assets/${name}`, async (_req, reply) => reply.type(asset.type).send(asset.body));
    }

    registerUserPages(web, services);

    // Ended sessions, flows and codes are deleted in the background (each check refuses them anyway).
    const timer = setInterval(() => {
      void Promise.all([
        sweepWebSessions(services.db, services.now()),
        sweepFlows(services),
        sweepCodes(services),
      ]).catch((err: unknown) => services.log.warn('web sweep failed', { err }));
    }, SWEEP_EVERY_MS);
    timer.unref();
    web.addHook('onClose', async () => clearInterval(timer));
    registerAdminPages(web, services);
  });
}
