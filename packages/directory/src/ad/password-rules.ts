/**
 * The password rules an AD DC applies, checked locally: before a write (so a weak password is
 * refused with its exact reason and without a round trip, and so the account-name rule that Samba
 * does not apply is still enforced), and after a generic rejection (AD answers every policy
 * failure with the same `0000052D`; Windows gives no reason at all).
 *
 * Length counts UTF-16 code units, as both Windows and Samba do. Complexity follows the documented
 * Windows rule (3 of 5 categories, plus the account-name and display-name tokens); where Windows
 * and Samba disagree on a character's category, the more lenient reading wins, so a local
 * pre-check never refuses a password the DC would have taken.
 */
import type { EffectivePolicy, PolicyReason } from '@writeback/protocol';
import { countCategories, type CharCategory } from '../password-categories.js';

/** What the name rules look at. */
export interface PasswordIdentity {
  /** sAMAccountName. */
  login: string;
  displayName?: string | undefined;
}

const NON_ALPHANUMERIC = new Set('~!@#$%^&*_-+=`|\\(){}[]:;"\'<>,.?/');
/** Windows splits displayName on these before the token check. */
const DISPLAY_NAME_DELIMITERS = /[,.\-_ #\t\u2013\u2014]+/u;

/** A character's category as the DC counts it, leniently where Windows and Samba disagree. */
function adCategory(ch: string): CharCategory | undefined {
  if (ch >= '0' && ch <= '9') return 'digit';
  if (/\p{Lu}/u.test(ch)) return 'upper';
  if (/\p{Ll}/u.test(ch)) return 'lower';
  if (NON_ALPHANUMERIC.has(ch)) return 'symbol';
  // Windows: "alphabetic but neither upper nor lower case" (Asian scripts); Samba: any other
  // non-ASCII character. Count the wider set.
  if ((ch.codePointAt(0) ?? 0) > 0x7f) return 'other';
  return undefined;
}

/** Categories present: upper, lower, digit, symbol, other letters (and, leniently, other non-ASCII). */
export function complexityCategories(password: string): number {
  return countCategories(password, adCategory);
}

/** True when the password contains the account name (≥ 3 characters) or a display-name token (≥ 3). */
export function containsUserName(password: string, id: PasswordIdentity): boolean {
  const pw = password.toLocaleLowerCase('en-US');
  if (id.login.length >= 3 && pw.includes(id.login.toLocaleLowerCase('en-US'))) return true;
  if (id.displayName) {
    for (const token of id.displayName.split(DISPLAY_NAME_DELIMITERS)) {
      if (token.length >= 3 && pw.includes(token.toLocaleLowerCase('en-US'))) return true;
    }
  }
  return false;
}

/** Every rule the password breaks under `policy`, in a stable order; empty when it passes. */
export function precheckPassword(password: string, policy: EffectivePolicy, id: PasswordIdentity): PolicyReason[] {
  const reasons: PolicyReason[] = [];
  if (password.length < policy.minLength) reasons.push('too_short');
  if (policy.maxLength !== undefined && password.length > policy.maxLength) reasons.push('too_long');
  if (policy.complexity) {
    if (password.length === 0 || complexityCategories(password) < 3) reasons.push('complexity');
    if (containsUserName(password, id)) reasons.push('contains_user_name');
  }
  return reasons;
}

export interface RejectionContext {
  op: 'reset' | 'change';
  /** The DC's diagnostic text (Samba explains; Windows does not). */
  diagnostic: string;
  /** The effective policy, freshly read; null when it could not be read. */
  policy: EffectivePolicy | null;
  /** Local pre-check result under that policy. */
  localReasons: readonly PolicyReason[];
  /** The reset carried the policy-hints control (so history applied). */
  hintsUsed: boolean;
  now: number;
  passwordLastSetMs: number | null;
}

/** Why a DC refused a password with `0000052D`. */
export function classifyRejection(ctx: RejectionContext): PolicyReason[] {
  const d = ctx.diagnostic.toLowerCase();
  if (d.includes('too short')) return ['too_short'];
  if (d.includes('too long')) return ['too_long'];
  if (d.includes('already used') || d.includes('in history') || d.includes('previous password')) return ['history'];
  if (d.includes('too young')) return ['min_age'];
  if (d.includes('complexity')) {
    // Samba's `check password script` rejections read exactly like complexity failures; when the
    // password meets the complexity rule, it was the site's filter that refused it.
    const local = ctx.localReasons.filter((r) => r === 'complexity' || r === 'contains_user_name');
    return local.length > 0 ? local : ['filter_rejected'];
  }
  if (d.includes('miscellaneous restriction') || d.includes('filter')) return ['filter_rejected'];

  // No readable reason (Windows): deduce from what the rules allow.
  if (ctx.localReasons.length > 0) return [...ctx.localReasons];
  const p = ctx.policy;
  if (!p) return ['unspecified'];
  if (ctx.op === 'change') {
    if (minAgeActive(p, ctx)) return ['min_age'];
    if (p.historyLength > 0) return ['history'];
    return ['filter_rejected'];
  }
  // A reset that carried the policy hints is held to what a change is (resetHintsFor in
  // controls.ts): inside the minimum age that is the likelier reason, as for a change.
  if (ctx.hintsUsed) {
    if (minAgeActive(p, ctx)) return ['min_age'];
    if (p.historyLength > 0) return ['history'];
  }
  return ['filter_rejected'];
}

/** The user's password was set less than the minimum age ago. */
function minAgeActive(p: EffectivePolicy, ctx: RejectionContext): boolean {
  return (
    p.minAgeSeconds > 0 && ctx.passwordLastSetMs !== null && ctx.now < ctx.passwordLastSetMs + p.minAgeSeconds * 1000
  );
}
