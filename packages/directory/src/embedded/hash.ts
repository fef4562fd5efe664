/**
 * Password hashing for the embedded directory: scrypt through the async `crypto.scrypt` (it runs on
 * libuv's thread pool, so the event loop keeps serving other requests), a random salt per hash, and
 * a self-describing encoding `scrypt$N$r$p$salt$hash` (salt and hash in base64) so a stored hash
 * still verifies after the configured cost changes. Comparison is constant-time.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { HashCostSchema, type HashCost } from './config.js';

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

/** A decoded hash. */
export interface ScryptHash {
  cost: HashCost;
  salt: Buffer;
  hash: Buffer;
}

/** A fresh random salt. */
export function newSalt(): Buffer {
  return randomBytes(SALT_LENGTH);
}

function derive(password: string, salt: Buffer, cost: HashCost, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      keyLength,
      { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r * cost.p + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export function encodeHash(h: ScryptHash): string {
  return `scrypt$${h.cost.N}$${h.cost.r}$${h.cost.p}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const INT = /^[1-9][0-9]{0,7}$/;

/** Parse an encoded hash; null when it is not one this module wrote (cost bounds checked too). */
export function decodeHash(encoded: string): ScryptHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [, n, r, p, salt, hash] = parts;
  if (
    !n ||
    !r ||
    !p ||
    !salt ||
    !hash ||
    !INT.test(n) ||
    !INT.test(r) ||
    !INT.test(p) ||
    !B64.test(salt) ||
    !B64.test(hash)
  )
    return null;
  const cost = HashCostSchema.safeParse({ N: Number(n), r: Number(r), p: Number(p) });
  if (!cost.success) return null;
  const saltBuf = Buffer.from(salt, 'base64');
  const hashBuf = Buffer.from(hash, 'base64');
  if (saltBuf.length < 8 || saltBuf.length > 64 || hashBuf.length < 16 || hashBuf.length > 64) return null;
  return { cost: cost.data, salt: saltBuf, hash: hashBuf };
}

/** Hash a password; `salt` defaults to a fresh one (pass one only for history digests). */
export async function hashPassword(password: string, cost: HashCost, salt: Buffer = newSalt()): Promise<string> {
  const hash = await derive(password, salt, cost, KEY_LENGTH);
  return encodeHash({ cost, salt, hash });
}

/** Whether the password matches the encoded hash (false for a malformed one). Constant-time compare. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const h = decodeHash(encoded);
  if (!h) return false;
  const key = await derive(password, h.salt, h.cost, h.hash.length);
  return timingSafeEqual(key, h.hash);
}

/**
 * Whether the password matches any of the encoded hashes, deriving once per distinct (cost, salt,
 * length): history digests share their user's history salt, so a 24-entry history costs one scrypt,
 * not 24. Every entry is compared (no early exit) so the time does not say which one matched.
 */
export async function matchesAny(password: string, encoded: readonly string[]): Promise<boolean> {
  const groups = new Map<string, { h: ScryptHash; hashes: Buffer[] }>();
  for (const e of encoded) {
    const h = decodeHash(e);
    if (!h) continue;
    const key = `${h.cost.N}$${h.cost.r}$${h.cost.p}$${h.salt.toString('base64')}$${h.hash.length}`;
    const g = groups.get(key);
    if (g) g.hashes.push(h.hash);
    else groups.set(key, { h, hashes: [h.hash] });
  }
  let found = false;
  for (const { h, hashes } of groups.values()) {
    const key = await derive(password, h.salt, h.cost, h.hash.length);
    for (const stored of hashes) if (timingSafeEqual(key, stored)) found = true;
  }
  return found;
}

/**
 * Digest a new password under a user's history salt and say whether it matches any remembered
 * digest: one scrypt for the whole history (more only for entries written under another cost or
 * salt). Returns the digest so it can be remembered in turn.
 */
export async function digestAndMatch(
  password: string,
  cost: HashCost,
  salt: Buffer,
  history: readonly string[],
): Promise<{ digest: string; matched: boolean }> {
  const own = await derive(password, salt, cost, KEY_LENGTH);
  let matched = false;
  const others: string[] = [];
  for (const entry of history) {
    const h = decodeHash(entry);
    if (!h) continue;
    const sameGroup =
      h.cost.N === cost.N &&
      h.cost.r === cost.r &&
      h.cost.p === cost.p &&
      h.hash.length === KEY_LENGTH &&
      h.salt.equals(salt);
    if (!sameGroup) others.push(entry);
    else if (timingSafeEqual(own, h.hash)) matched = true;
  }
  if (others.length > 0 && (await matchesAny(password, others))) matched = true;
  return { digest: encodeHash({ cost, salt, hash: own }), matched };
}

const DUMMY_SALT = Buffer.alloc(SALT_LENGTH, 0x5a);
/**
 * Spend the time of one verification without a stored hash, so an unknown user costs what a known
 * one does.
 */
export async function spendVerifyTime(password: string, cost: HashCost): Promise<void> {
  await derive(password, DUMMY_SALT, cost, KEY_LENGTH);
}
