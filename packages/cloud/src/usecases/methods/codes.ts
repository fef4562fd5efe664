/**
 * One-time codes sent by email or text message: 8 random digits, valid 10 minutes, single use, at
 * most 5 tries each. Only a keyed hash (sealing.ts macOf) of `<id>|<code>` is stored, and a
 * presented code is compared with timingSafeEqual. A try is counted atomically in the store before
 * the comparison (concurrent guesses cannot all be compared). A new code for the same owner and
 * purpose retires the earlier ones. The code itself exists only in the message: never in a URL
 * or a log.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { t } from '../../i18n/index.js';
import { macOf as macWith } from '../../keys/sealing.js';
import type { Services } from '../../services.js';
import { sentCodeRepository, type CodeChannel, type CodePurpose } from '../../store/sent-codes.js';

export type { CodeChannel, CodePurpose };

export const CODE_DIGITS = 8;
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_MAX_ATTEMPTS = 5;
/** Used and expired codes are kept this long, then deleted. */
const CODE_KEEP_MS = 24 * 3_600_000;

export type CodeCheck = 'ok' | 'wrong' | 'expired' | 'none';

/** What a person may type: digits, spaces and dashes are ignored (codes are often copied as `1234 5678`). */
export const CodeInputSchema = z
  .string()
  .max(32)
  .transform((s) => s.replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^\d{6,8}$/));

function newCode(): string {
  let s = '';
  for (let i = 0; i < CODE_DIGITS; i++) s += String(randomInt(10));
  return s;
}

const macOf = (services: Services, value: string): string => macWith(services.cloudKey.privateKey, value);
const hashFor = (services: Services, id: string, code: string): Buffer =>
  Buffer.from(macOf(services, `${id}|${code}`), 'base64url');

/** Make and store a code; the caller sends it (and only there does it appear). */
export async function issueCode(
  services: Services,
  o: { tenantId: string; purpose: CodePurpose; owner: string; channel: CodeChannel },
): Promise<string> {
  const now = services.now();
  const id = randomBytes(12).toString('hex');
  const code = newCode();
  await sentCodeRepository(services.db).replace({
    id,
    tenantId: o.tenantId,
    purpose: o.purpose,
    owner: o.owner,
    channel: o.channel,
    codeHash: macOf(services, `${id}|${code}`),
    createdAt: now,
    expiresAt: now + CODE_TTL_MS,
  });
  return code;
}

/**
 * Check a presented code against the owner's live code and use it up when it matches (single use,
 * even under concurrent submissions). Every try counts against the code's tries, counted before
 * the comparison.
 */
export async function checkCode(
  services: Services,
  o: { tenantId: string; purpose: CodePurpose; owner: string; code: string },
): Promise<CodeCheck> {
  const now = services.now();
  const codes = sentCodeRepository(services.db);
  const live = await codes.live(o.tenantId, o.owner, o.purpose);
  if (!live) {
    // Same work whether or not there is a live code.
    equal(hashFor(services, 'none', o.code), hashFor(services, 'none', 'none'));
    return 'none';
  }
  if (now >= live.expiresAt || (await codes.reserveAttempt(live.id, CODE_MAX_ATTEMPTS, now)) === null) return 'expired';
  if (!equal(hashFor(services, live.id, o.code), Buffer.from(live.codeHash, 'base64url'))) return 'wrong';
  return (await codes.markUsed(live.id, now)) ? 'ok' : 'none';
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Send a code by its channel (the text says how long it is valid; never a link). */
export function sendCode(services: Services, channel: CodeChannel, to: string, code: string): Promise<void> {
  return channel === 'email'
    ? services.mailer.send({ to, subject: t('mail.code.subject'), text: t('mail.code.text', { code }) })
    : services.sms.send({ to, text: t('sms.code', { code }) });
}

/** Delete codes that are used or expired for more than a day (nothing left to check against). */
export async function sweepCodes(services: Services): Promise<number> {
  return sentCodeRepository(services.db).deleteExpired(services.now() - CODE_KEEP_MS);
}
