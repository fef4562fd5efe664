/**
 * CSRF protection for every POST of the pages (a `preHandler` in register.ts; a route cannot opt
 * out). The token a form carries in `_csrf` must equal, compared in constant time:
 * - for routes marked `config: { csrf: 'flow' }`: the CSRF token of the self-service flow the
 *   browser's flow cookie names (flows.ts);
 * - otherwise: the CSRF token of the signed-in session of the kind the matched route belongs to
 *   (`/t/:tenant/admin/...` → admin, else user; read from the route pattern, never from the URL as
 *   spelled, so `/t/demo/%61dmin/...` is an admin path too: issue 10), or, without a session, the browser's anonymous
 *   CSRF cookie (`wb-csrf`, random, HttpOnly), which pages set when they render a form.
 * All cookies are SameSite=Strict as well, so this is a second, independent barrier.
 * A session-bound form whose session has ended meanwhile (its cookie is still sent, the session is
 * gone) is answered with a redirect to the sign-in page, and nothing is done.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import { getCookie, setCookie } from './cookies.js';
import { WebError } from './errors.js';
import { COOKIE_BASE, currentSession, isSecureSite, type WebSessionKind } from './session.js';

export const ANON_CSRF_COOKIE = 'wb-csrf';

/** Where a route's expected token comes from (Fastify route `config.csrf`). */
export type CsrfSource = 'session' | 'flow';

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Compare equal-length buffers always, so the time does not depend on where they differ.
  const same = x.length === y.length;
  return timingSafeEqual(same ? x : y, y) && same;
}

/** The kind of session a path (or route pattern) belongs to. */
export const kindOfPath = (url: string): WebSessionKind =>
  /^\/t\/[^/]+\/admin(?:\/|$|\?)/.test(url) ? 'admin' : 'user';

/**
 * The kind of session the request's handler belongs to: from the pattern of the route the router
 * matched (`/t/:tenant/admin/settings`), which no spelling of the URL can change; the URL only
 * when no route matched.
 */
export const kindOfRequest = (req: FastifyRequest): WebSessionKind => kindOfPath(req.routeOptions.url ?? req.url);

const anonCache = new WeakMap<FastifyRequest, string>();

/**
 * The token to embed in a form rendered for this request: the session's, or the anonymous
 * cookie's (set now when the browser has none).
 */
export async function csrfTokenFor(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  tenantId: string,
  kind: WebSessionKind = kindOfRequest(req),
): Promise<string> {
  const session = await currentSession(services, req, kind, tenantId);
  if (session) return session.csrfToken;
  const secure = isSecureSite(services);
  const existing = anonCache.get(req) ?? getCookie(req, ANON_CSRF_COOKIE, secure);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  setCookie(reply, ANON_CSRF_COOKIE, token, { secure, sameSite: 'Strict' });
  anonCache.set(req, token);
  return token;
}

/** The token presented with a POST (form field `_csrf`), or null. */
export function presentedToken(req: FastifyRequest): string | null {
  const body = req.body;
  if (body === null || typeof body !== 'object' || !('_csrf' in body)) return null;
  const v = body._csrf;
  return typeof v === 'string' && v.length <= 100 ? v : null;
}

/** Throws `csrf_failed` unless the presented token equals the expected one. */
export function assertCsrf(expected: string | null, presented: string | null): void {
  if (!csrfMatches(expected, presented)) throw new WebError('csrf_failed');
}

/**
 * The token a session-bound (or anonymous) POST must carry, and whether the browser still presents
 * the cookie of a session of the path's kind that has ended (idle or absolute limit, or signed out
 * in another tab): a form posted from a page of that session then gets the sign-in page, not
 * `csrf_failed`.
 */
export async function expectedSessionCheck(
  services: Services,
  req: FastifyRequest,
  tenantId: string,
): Promise<{ expected: string | null; sessionEnded: boolean }> {
  const kind = kindOfRequest(req);
  const session = await currentSession(services, req, kind, tenantId);
  if (session) return { expected: session.csrfToken, sessionEnded: false };
  const secure = isSecureSite(services);
  return {
    expected: getCookie(req, ANON_CSRF_COOKIE, secure),
    sessionEnded: getCookie(req, COOKIE_BASE[kind], secure) !== null,
  };
}

/** True when `presented` is the expected token (constant time). */
export function csrfMatches(expected: string | null, presented: string | null): boolean {
  return expected !== null && presented !== null && safeEqual(expected, presented);
}
