/**
 * Security headers of every page and asset: a strict Content-Security-Policy (no inline script or
 * style at all: scripts and styles come only from /assets on this origin), no framing, no referrer
 * (a URL of ours never leaks to another site), no MIME sniffing, and `no-store` on pages (they carry
 * forms, CSRF tokens and account details). Assets are cacheable for a short while.
 */
import type { FastifyReply } from 'fastify';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "connect-src 'self'",
].join('; ');

export function setSecurityHeaders(reply: FastifyReply, o: { cacheable: boolean; secure: boolean }): void {
  reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  if (o.secure) reply.header('strict-transport-security', 'max-age=31536000');
  reply.header('cache-control', o.cacheable ? 'public, max-age=3600' : 'no-store');
}
