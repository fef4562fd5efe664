/**
 * Keys derived from the cloud's signing key (already in memory, never re-read): one to seal
 * secrets the cloud must read back (users' and admins' TOTP keys: AES-256-GCM, with a context
 * bound as associated data), one to hash one-time codes
 * (HMAC-SHA256, so a copy of the store alone cannot brute-force a 6-8 digit code offline).
 * Derived with HKDF, each with its own label, so neither can stand in for the signing key.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

const derived = new WeakMap<KeyObject, { seal: Buffer; mac: Buffer }>();

function keysOf(signingKey: KeyObject): { seal: Buffer; mac: Buffer } {
  let k = derived.get(signingKey);
  if (!k) {
    const ikm = signingKey.export({ format: 'der', type: 'pkcs8' });
    k = {
      seal: Buffer.from(hkdfSync('sha256', ikm, 'writeback', 'writeback/web/seal/v1', 32)),
      mac: Buffer.from(hkdfSync('sha256', ikm, 'writeback', 'writeback/web/code-mac/v1', 32)),
    };
    derived.set(signingKey, k);
  }
  return k;
}

/** `v1.<iv>.<ciphertext+tag>` (base64url); `context` is bound as associated data. */
export function seal(signingKey: KeyObject, plain: string, context: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keysOf(signingKey).seal, iv);
  c.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/** The plain text, or null when it does not open (other key, other context, tampered). */
export function unseal(signingKey: KeyObject, sealed: string, context: string): string | null {
  const m = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/.exec(sealed);
  if (!m?.[1] || !m[2]) return null;
  const body = Buffer.from(m[2], 'base64url');
  if (body.length < 16) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', keysOf(signingKey).seal, Buffer.from(m[1], 'base64url'));
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** Keyed hash (base64url) of a short secret such as a one-time code. */
export function macOf(signingKey: KeyObject, value: string): string {
  return createHmac('sha256', keysOf(signingKey).mac).update(value, 'utf8').digest('base64url');
}
