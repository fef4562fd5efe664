/**
 * Bearer secrets of the form `<prefix>_<id>.<secret>` (API keys `wbk`, admin sessions `wbs`, agent
 * registration tokens `wbt`). The id finds the record; only SHA-256(secret) is stored, and it is
 * compared in constant time. A lookup that finds nothing still hashes and compares against a dummy,
 * so a wrong id costs the same time as a wrong secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenPrefix = 'wbk' | 'wbs' | 'wbt';

export interface IssuedToken {
  id: string;
  /** The full token, shown once to its owner and never stored. */
  token: string;
  /** base64url SHA-256 of the secret: what the store keeps. */
  secretHash: string;
}

const SECRET_BYTES = 32;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

/** Make a new token with a fresh id and secret. */
export function issueToken(prefix: TokenPrefix): IssuedToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, token: `${prefix}_${id}.${secret}`, secretHash: hashSecret(secret) };
}

/** Split a presented token; null when it is not of this kind (no detail why: it is untrusted input). */
export function parseToken(prefix: TokenPrefix, raw: string): { id: string; secret: string } | null {
  if (raw.length > 200) return null;
  const m = /^([a-z]{3})_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/.exec(raw);
  if (!m || m[1] !== prefix || m[2] === undefined || m[3] === undefined) return null;
  return { id: m[2], secret: m[3] };
}

/** The token's kind from its prefix, for routing a Bearer credential. */
export function tokenPrefix(raw: string): TokenPrefix | null {
  const p = raw.slice(0, 4);
  return p === 'wbk_' || p === 'wbs_' || p === 'wbt_' ? (p.slice(0, 3) as TokenPrefix) : null;
}

const DUMMY_HASH = hashSecret('writeback-dummy-secret');

/**
 * Constant-time check of a presented secret against a stored hash. Pass `stored` undefined when no
 * record was found: the same work is done and the answer is false.
 */
export function secretMatches(secret: string, stored: string | undefined): boolean {
  const a = Buffer.from(hashSecret(secret), 'base64url');
  const b = Buffer.from(stored ?? DUMMY_HASH, 'base64url');
  const equal = a.length === b.length && timingSafeEqual(a, b);
  return stored !== undefined && equal;
}
