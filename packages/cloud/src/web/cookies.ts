/**
 * Cookies of the pages, without a plugin: parse the Cookie header, and write Set-Cookie with the
 * safe attributes (HttpOnly, SameSite, Path=/, Secure + `__Host-` prefix when served over HTTPS).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Cookie values we accept: our own tokens are base64url/hex with `.`, nothing else. */
const VALUE = /^[A-Za-z0-9._-]{1,300}$/;

export function readCookies(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  const header = req.headers.cookie;
  if (!header || header.length > 8192) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (name && VALUE.test(value) && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  secure: boolean;
  sameSite: 'Strict' | 'Lax';
  /** Seconds; omitted: a browser-session cookie. 0 deletes it. */
  maxAge?: number;
}

/** The real name of a cookie: `__Host-` prefixed when Secure (the prefix requires Secure, Path=/ and no Domain). */
export const cookieName = (base: string, secure: boolean): string => (secure ? `__Host-${base}` : base);

export function setCookie(reply: FastifyReply, base: string, value: string, o: CookieOptions): void {
  const parts = [`${cookieName(base, o.secure)}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${o.sameSite}`];
  if (o.secure) parts.push('Secure');
  if (o.maxAge !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(o.maxAge))}`);
  // Fastify appends repeated set-cookie headers.
  reply.header('set-cookie', parts.join('; '));
}

export function clearCookie(reply: FastifyReply, base: string, secure: boolean): void {
  setCookie(reply, base, '', { secure, sameSite: 'Strict', maxAge: 0 });
}

export function getCookie(req: FastifyRequest, base: string, secure: boolean): string | null {
  return readCookies(req).get(cookieName(base, secure)) ?? null;
}
