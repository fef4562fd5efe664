/**
 * Web sessions of the pages (end users and admins): a cookie `<id>.<secret>`, of which the store
 * keeps only SHA-256(secret), compared in constant time. A session ends after 15 minutes without a
 * request (idle) and 8 hours after sign-in (absolute), whichever comes first; signing in always
 * makes a new session (rotation: an id planted before sign-in is never promoted). Each session has
 * its own CSRF token, embedded in its forms and checked on every POST (csrf.ts).
 *
 * Cookies: HttpOnly, SameSite=Strict, Path=/; over HTTPS also Secure with the `__Host-` prefix.
 * Users and admins have separate cookies (`wb-user`, `wb-admin`), so one browser may hold both.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret, secretMatches } from '../auth/tokens.js';
import type { Services } from '../services.js';
import type { Db } from '../store/index.js';
import {
  deleteExpiredWebSessions,
  deleteWebSession,
  getWebSession,
  insertWebSession,
  touchWebSession,
  type SessionData,
  type WebSession,
  type WebSessionKind,
} from '../store/web-sessions.js';
import { clearCookie, getCookie, setCookie } from './cookies.js';

// The session SQL lives in store/web-sessions.ts; these stay importable from here for now.
export type { SessionData, WebSession, WebSessionKind } from '../store/web-sessions.js';
export { deleteWebSession, updateSessionData } from '../store/web-sessions.js';

export const SESSION_IDLE_MS = 15 * 60_000;
export const SESSION_ABSOLUTE_MS = 8 * 3_600_000;
/** last_seen_at is written at most this often (a page load must not always be a store write). */
const TOUCH_EVERY_MS = 30_000;

export const COOKIE_BASE: Readonly<Record<WebSessionKind, string>> = { user: 'wb-user', admin: 'wb-admin' };

const COOKIE_VALUE = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/;

export const newCsrfToken = (): string => randomBytes(32).toString('base64url');

export interface NewSession {
  kind: WebSessionKind;
  tenantId: string;
  subjectId: string;
  subjectLogin: string;
  data?: SessionData;
}

/** Store a new session; returns it and the cookie value (shown to the browser only). */
export async function createWebSession(
  db: Db,
  input: NewSession,
  now: number,
): Promise<{ session: WebSession; cookie: string }> {
  const id = randomBytes(12).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const session: WebSession = {
    id,
    kind: input.kind,
    tenantId: input.tenantId,
    subjectId: input.subjectId,
    subjectLogin: input.subjectLogin,
    csrfToken: newCsrfToken(),
    data: input.data ?? {},
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + SESSION_ABSOLUTE_MS,
  };
  await insertWebSession(db, session, hashSecret(secret));
  return { session, cookie: `${id}.${secret}` };
}

/**
 * The live session a cookie value names, or null (malformed, unknown, wrong secret, other kind,
 * idle or absolute timeout). An expired session is deleted.
 */
export async function loadWebSession(
  db: Db,
  cookie: string,
  kind: WebSessionKind,
  now: number,
): Promise<WebSession | null> {
  const m = COOKIE_VALUE.exec(cookie);
  if (!m?.[1] || !m[2]) return null;
  const found = await getWebSession(db, m[1]);
  // Always one hash comparison, found or not.
  if (!secretMatches(m[2], found?.secretHash) || !found) return null;
  const s = found.session;
  if (s.kind !== kind) return null;
  if (now >= s.expiresAt || now - s.lastSeenAt >= SESSION_IDLE_MS) {
    await deleteWebSession(db, s.id);
    return null;
  }
  if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
    await touchWebSession(db, s.id, now);
    s.lastSeenAt = now;
  }
  return s;
}

/** Delete sessions past their absolute or idle limit. */
export async function sweepWebSessions(db: Db, now: number): Promise<number> {
  return deleteExpiredWebSessions(db, now, now - SESSION_IDLE_MS);
}

// ---- request level -------------------------------------------------------------------------

/** Whether browsers reach this service over HTTPS (TLS here, or a public https URL in front). */
export function isSecureSite(services: Services): boolean {
  return services.config.tls !== undefined || (services.config.publicUrl?.startsWith('https://') ?? false);
}

const cache = new WeakMap<FastifyRequest, Map<WebSessionKind, WebSession | null>>();

/** The session of this kind the request carries (loaded once per request), for the given tenant only. */
export async function currentSession(
  services: Services,
  req: FastifyRequest,
  kind: WebSessionKind,
  tenantId: string,
): Promise<WebSession | null> {
  let byKind = cache.get(req);
  if (!byKind) {
    byKind = new Map();
    cache.set(req, byKind);
  }
  if (!byKind.has(kind)) {
    const cookie = getCookie(req, COOKIE_BASE[kind], isSecureSite(services));
    byKind.set(kind, cookie ? await loadWebSession(services.db, cookie, kind, services.now()) : null);
  }
  const s = byKind.get(kind) ?? null;
  return s && s.tenantId === tenantId ? s : null;
}

/**
 * Sign a subject in: any session of this kind the browser had is ended and a new one made (new id,
 * new secret, new CSRF token), and its cookie set.
 */
export async function startSession(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  input: NewSession,
): Promise<WebSession> {
  const secure = isSecureSite(services);
  const old = getCookie(req, COOKIE_BASE[input.kind], secure);
  const oldId = old ? COOKIE_VALUE.exec(old)?.[1] : undefined;
  if (oldId) await deleteWebSession(services.db, oldId);
  const { session, cookie } = await createWebSession(services.db, input, services.now());
  setCookie(reply, COOKIE_BASE[input.kind], cookie, { secure, sameSite: 'Strict' });
  let byKind = cache.get(req);
  if (!byKind) {
    byKind = new Map();
    cache.set(req, byKind);
  }
  byKind.set(input.kind, session);
  return session;
}

/** Sign out: delete the session and its cookie. */
export async function endSession(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  kind: WebSessionKind,
): Promise<void> {
  const secure = isSecureSite(services);
  const cookie = getCookie(req, COOKIE_BASE[kind], secure);
  const id = cookie ? COOKIE_VALUE.exec(cookie)?.[1] : undefined;
  if (id) await deleteWebSession(services.db, id);
  clearCookie(reply, COOKIE_BASE[kind], secure);
  cache.get(req)?.set(kind, null);
}
