/**
 * Generated temporary passwords for admin resets: long, random (crypto), with all four character
 * groups, within the effective policy's length bounds, and not containing the user's login.
 * Ambiguous characters (I, l, O, 0, 1) are left out because people read these aloud.
 */
import { randomInt } from 'node:crypto';
import type { EffectivePolicy } from '@writeback/protocol';

const GROUPS = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#$%&*+-=?@^_'] as const;
const ALL = GROUPS.join('');
const DEFAULT_LENGTH = 20;

const pick = (set: string): string => set[randomInt(set.length)] ?? '';

function shuffle(chars: string[]): string[] {
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const a = chars[i];
    const b = chars[j];
    if (a !== undefined && b !== undefined) {
      chars[i] = b;
      chars[j] = a;
    }
  }
  return chars;
}

/** Parts of a login a directory's "contains user name" rule looks for (AD: tokens of 3+ characters). */
function userTokens(login: string | undefined): string[] {
  if (!login) return [];
  return login
    .toLowerCase()
    .split(/[\s,.\-_#\t@\\/]+/)
    .filter((t) => t.length >= 3);
}

export function generatePassword(
  policy?: Pick<EffectivePolicy, 'minLength' | 'maxLength'> | null,
  login?: string,
): string {
  const min = Math.max(policy?.minLength ?? 0, DEFAULT_LENGTH);
  const max = policy?.maxLength && policy.maxLength > 0 ? policy.maxLength : 256;
  const length = Math.max(GROUPS.length, Math.min(min, max, 256));
  const tokens = userTokens(login);
  for (;;) {
    const chars = GROUPS.map(pick);
    while (chars.length < length) chars.push(pick(ALL));
    const password = shuffle(chars).join('');
    const lower = password.toLowerCase();
    if (!tokens.some((t) => lower.includes(t))) return password;
  }
}
