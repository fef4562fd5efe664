/**
 * Password hashes (admin accounts, cloud-only users, the cloud hash for sign-in, security answers):
 * scrypt with a per-password salt, stored as `scrypt$N$r$p$salt$hash` so the cost can rise later
 * without breaking old hashes.
 *
 * Every derivation in this process goes through one gate: at most `HASH_CONCURRENCY` at once and
 * `HASH_QUEUE` waiting; beyond that the caller gets `rate_limited` at once (issue 10: a burst of
 * sign-ins for made-up names ran hundreds of hashes and made a real sign-in wait 57 s). The gate
 * guards this node's CPU, so it is per process by nature; the attempt budgets that bound guessing
 * are in the store (rate-limit/limiter.ts) and are checked before any hash is computed.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CloudError } from '../errors.js';

/** Derivations running at once (libuv runs four by default; more only queue there). */
export const HASH_CONCURRENCY = Math.min(4, Math.max(2, availableParallelism()));
/** Derivations allowed to wait for a slot; one more is refused. */
export const HASH_QUEUE = 32;

let running = 0;
const waiting: (() => void)[] = [];

async function gated<T>(work: () => Promise<T>, queueAlways: boolean): Promise<T> {
  if (running >= HASH_CONCURRENCY) {
    if (waiting.length >= HASH_QUEUE && !queueAlways)
      throw new CloudError('rate_limited', 'too many password checks at once; try again in a moment', {
        retryAfterSeconds: 1,
      });
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else running += 1;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    // The slot passes straight to the next waiter; only when nobody waits is it given back.
    if (next) next();
    else running -= 1;
  }
}

/** How busy the gate is (for health and tests). */
export const hashGate = (): { running: number; waiting: number } => ({ running, waiting: waiting.length });

const N = 16_384;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function derive(password: string, salt: Buffer, o: ScryptOptions, queueAlways = false): Promise<Buffer> {
  return gated(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password.normalize('NFC'), salt, KEY_LEN, { ...o, maxmem: 64 * 1024 * 1024 }, (err, key) =>
          err ? reject(err) : resolve(key),
        );
      }),
    queueAlways,
  );
}

/**
 * `queueAlways`: background work that must not be refused (the cloud hash recorded after a write:
 * refusing it would leave the previous password's hash in place); it waits for a slot instead.
 */
export async function hashPassword(password: string, o: { queueAlways?: boolean } = {}): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, { N, r: R, p: P }, o.queueAlways ?? false);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A hash of a random password, checked against when no account exists so both paths cost the same. */
let dummy: Promise<string> | undefined;
export const dummyPasswordHash = (): Promise<string> => (dummy ??= hashPassword(randomBytes(16).toString('base64url')));

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m?.[1] || !m[2] || !m[3] || !m[4] || !m[5]) return false;
  const expected = Buffer.from(m[5], 'base64url');
  const key = await derive(password, Buffer.from(m[4], 'base64url'), {
    N: Number(m[1]),
    r: Number(m[2]),
    p: Number(m[3]),
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
