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
import { z } from 'zod';
import { hashSecret, secretMatches } from '../auth/tokens.js';
import type { Services } from '../services.js';
import { parseRow, type Db } from '../store/index.js';
import { clearCookie, getCookie, setCookie } from './cookies.js';

export type WebSessionKind = 'user' | 'admin';

export const SESSION_IDLE_MS = 15 * 60_000;
export const SESSION_ABSOLUTE_MS = 8 * 3_600_000;
/** last_seen_at is written at most this often (a page load must not always be a store write). */
const TOUCH_EVERY_MS = 30_000;

/** Free-form, non-secret state of a session (each user of a key parses its own value). */
export type SessionData = Record<string, unknown>;

export interface WebSession {
  id: string;
  kind: WebSessionKind;
  tenantId: string;
  /** The signed-in subject: a cloud user id (or the login before the first sync), or an admin id. */
  subjectId: string;
  subjectLogin: string;
  csrfToken: string;
  data: SessionData;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

const DataSchema = z.record(z.string(), z.unknown());
const SessionRow = z
  .object({
    id: z.string(),
    secret_hash: z.string(),
    kind: z.enum(['user', 'admin']),
    tenant_id: z.string(),
    subject_id: z.string(),
    subject_login: z.string(),
    csrf_token: z.string(),
    data: z.string(),
    created_at: z.coerce.number(),
    last_seen_at: z.coerce.number(),
    expires_at: z.coerce.number(),
  })
  .transform((r) => {
    let data: SessionData = {};
    try {
      const parsed = DataSchema.safeParse(JSON.parse(r.data));
      if (parsed.success) data = parsed.data;
    } catch {
      data = {};
    }
    const session: WebSession = {
      id: r.id,
      kind: r.kind,
      tenantId: r.tenant_id,
      subjectId: r.subject_id,
      subjectLogin: r.subject_login,
      csrfToken: r.csrf_token,
      data,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      expiresAt: r.expires_at,
    };
    return { session, secretHash: r.secret_hash };
  });

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
  await db.exec(
    `INSERT INTO web_sessions (id, secret_hash, kind, tenant_id, subject_id, subject_login, csrf_token, data, created_at, last_seen_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      id,
      hashSecret(secret),
      session.kind,
      session.tenantId,
      session.subjectId,
      session.subjectLogin,
      session.csrfToken,
      JSON.stringify(session.data),
      now,
      now,
      session.expiresAt,
    ],
  );
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
  const row = await db.one('SELECT * FROM web_sessions WHERE id = ?', [m[1]]);
  const parsed = row ? parseRow(SessionRow, row) : undefined;
  // Always one hash comparison, found or not.
  if (!secretMatches(m[2], parsed?.secretHash) || !parsed) return null;
  const s = parsed.session;
  if (s.kind !== kind) return null;
  if (now >= s.expiresAt || now - s.lastSeenAt >= SESSION_IDLE_MS) {
    await db.exec('DELETE FROM web_sessions WHERE id = ?', [s.id]);
    return null;
  }
  if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
    await db.exec('UPDATE web_sessions SET last_seen_at = ? WHERE id = ?', [now, s.id]);
    s.lastSeenAt = now;
  }
  return s;
}

export async function updateSessionData(db: Db, id: string, data: SessionData): Promise<void> {
  await db.exec('UPDATE web_sessions SET data = ? WHERE id = ?', [JSON.stringify(data), id]);
}

export async function deleteWebSession(db: Db, id: string): Promise<void> {
  await db.exec('DELETE FROM web_sessions WHERE id = ?', [id]);
}

/** End every session of a subject (after a password reset, for example). */
export async function deleteSubjectSessions(
  db: Db,
  tenantId: string,
  kind: WebSessionKind,
  subjectId: string,
): Promise<number> {
  return (
    await db.exec('DELETE FROM web_sessions WHERE tenant_id = ? AND kind = ? AND subject_id = ?', [
      tenantId,
      kind,
      subjectId,
    ])
  ).changes;
}

/** Delete sessions past their absolute or idle limit. */
export async function sweepWebSessions(db: Db, now: number): Promise<number> {
  return (
    await db.exec('DELETE FROM web_sessions WHERE expires_at <= ? OR last_seen_at <= ?', [now, now - SESSION_IDLE_MS])
  ).changes;
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
