/**
 * Device cookies (OWASP's "device cookies" against lockout as denial of service): after a
 * successful sign-in the browser is given a token naming the account it signed in to. Later
 * attempts for that account from that browser draw on the browser's own budget instead of the
 * account-wide one, so a stranger who used up the account's budget from many addresses does not
 * lock the owner out of a browser the owner has used before; guessing from the token's browser is
 * still bounded by its own budget. The token is `d1.<nonce>.<mac>`, the mac keyed by a key
 * derived from the cloud's signing key (keys/sealing.ts) over the account and the nonce: it opens
 * only for the account it was issued to, and nothing about the account is in it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { macOf } from '../keys/sealing.js';
import type { Services } from '../services.js';

const TOKEN = /^d1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

const macFor = (services: Services, account: string, nonce: string): string =>
  macOf(services.cloudKey.privateKey, `device:${account}:${nonce}`);

/** A new device token for the account (its budget key, usecases/attempts.ts). */
export function issueDeviceToken(services: Services, account: string): string {
  const nonce = randomBytes(16).toString('base64url');
  return `d1.${nonce}.${macFor(services, account, nonce)}`;
}

/** The device's id when the token was issued for this account, else null. */
export function knownDevice(services: Services, account: string, token: string | null | undefined): string | null {
  const m = token ? TOKEN.exec(token) : null;
  if (!m?.[1] || !m[2]) return null;
  const expected = Buffer.from(macFor(services, account, m[1]));
  const given = Buffer.from(m[2]);
  return given.length === expected.length && timingSafeEqual(given, expected) ? m[1] : null;
}
