/**
 * One-time codes sent by email or text message: 8 random digits, valid 10 minutes, single use,
 * at most 5 wrong tries each. Only a keyed hash (sealing.ts macOf) of `<id>|<code>` is stored, and
 * a presented code is compared with timingSafeEqual. A new code for the same owner and purpose
 * retires the earlier ones. The code itself exists only in the message: never in a URL or a log.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Services } from '../services.js';
import { parseRow } from '../store/index.js';
import { macOf } from '../keys/sealing.js';

export const CODE_DIGITS = 8;
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_MAX_ATTEMPTS = 5;

export type CodePurpose = 'reset' | 'register_email' | 'register_sms';
export type CodeChannel = 'email' | 'sms';
export type CodeCheck = 'ok' | 'wrong' | 'expired' | 'none';

/** What a person may type: digits, spaces and dashes are ignored (codes are often copied as `1234 5678`). */
export const CodeInputSchema = z
  .string()
  .max(32)
  .transform((s) => s.replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^\d{6,8}$/));

const Row = z.object({
  id: z.string(),
  code_hash: z.string(),
  attempts: z.coerce.number(),
  expires_at: z.coerce.number(),
});

function newCode(): string {
  let s = '';
  for (let i = 0; i < CODE_DIGITS; i++) s += String(randomInt(10));
  return s;
}

const hashFor = (services: Services, id: string, code: string): string =>
  macOf(services.cloudKey.privateKey, `${id}|${code}`);

/** Make and store a code; the caller sends it (and only there does it appear). */
export async function issueCode(
  services: Services,
  o: { tenantId: string; purpose: CodePurpose; owner: string; channel: CodeChannel },
): Promise<string> {
  const now = services.now();
  const id = randomBytes(12).toString('hex');
  const code = newCode();
  await services.db.tx(async (t) => {
    await t.exec(
      'UPDATE sent_codes SET used_at = ? WHERE tenant_id = ? AND owner = ? AND purpose = ? AND used_at IS NULL',
      [now, o.tenantId, o.owner, o.purpose],
    );
    await t.exec(
      'INSERT INTO sent_codes (id, tenant_id, purpose, owner, channel, code_hash, attempts, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, NULL)',
      [id, o.tenantId, o.purpose, o.owner, o.channel, hashFor(services, id, code), now, now + CODE_TTL_MS],
    );
  });
  return code;
}

/**
 * Check a presented code against the owner's live code and use it up when it matches (single use,
 * even under concurrent submissions). A wrong code counts against the code's tries.
 */
export async function checkCode(
  services: Services,
  o: { tenantId: string; purpose: CodePurpose; owner: string; code: string },
): Promise<CodeCheck> {
  const now = services.now();
  const row = await services.db.one(
    'SELECT id, code_hash, attempts, expires_at FROM sent_codes WHERE tenant_id = ? AND owner = ? AND purpose = ? AND used_at IS NULL ORDER BY created_at DESC LIMIT 1',
    [o.tenantId, o.owner, o.purpose],
  );
  const live = row ? parseRow(Row, row) : null;
  // Same work whether or not there is a live code.
  const presented = Buffer.from(hashFor(services, live?.id ?? 'none', o.code), 'base64url');
  const stored = Buffer.from(live?.code_hash ?? hashFor(services, 'none', 'none'), 'base64url');
  const equal = presented.length === stored.length && timingSafeEqual(presented, stored);
  if (!live) return 'none';
  if (now >= live.expires_at || live.attempts >= CODE_MAX_ATTEMPTS) return 'expired';
  if (!equal) {
    await services.db.exec('UPDATE sent_codes SET attempts = attempts + 1 WHERE id = ?', [live.id]);
    return 'wrong';
  }
  const { changes } = await services.db.exec('UPDATE sent_codes SET used_at = ? WHERE id = ? AND used_at IS NULL', [
    now,
    live.id,
  ]);
  return changes === 1 ? 'ok' : 'none';
}

/** Delete codes that are used or expired for more than a day (nothing left to check against). */
export async function sweepCodes(services: Services): Promise<number> {
  const cutoff = services.now() - 24 * 3_600_000;
  return (await services.db.exec('DELETE FROM sent_codes WHERE expires_at <= ?', [cutoff])).changes;
}
