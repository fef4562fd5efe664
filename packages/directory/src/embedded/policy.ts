/**
 * Active Directory's password rules, as pure functions (no I/O, no clock: `now` is passed in).
 *
 * - Length is counted in Unicode code points.
 * - Complexity is AD's "Password must meet complexity requirements": characters from at least three
 *   of five categories (uppercase, lowercase, decimal digit, non-alphanumeric, other letters such as
 *   CJK), and the password must not contain the account name (case-insensitive, skipped when the name
 *   is shorter than 3 characters) nor any display-name token of 3 or more characters (tokens split on
 *   `, . - _ #`, tab and space). The name rule is part of complexity: it only applies when
 *   complexity is on, and is reported as its own reason `contains_user_name`.
 * - History length N remembers N passwords, the current one included, as AD's "Enforce password
 *   history" does.
 * - Minimum age applies to user changes only (an admin reset ignores it), and not while a change is
 *   forced at next logon.
 * - Lockout: `lockoutThreshold` bad attempts within `lockoutObservationSeconds` lock the account for
 *   `lockoutDurationSeconds` (0: until an administrator unlocks); threshold 0 never locks.
 */
import { POLICY_REASONS, type EffectivePolicy, type PolicyReason } from '@writeback/protocol';
import { countCategories, type CharCategory } from '../password-categories.js';
import type { PolicySettings } from './config.js';

/** A complete password policy (all durations in seconds). */
export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
  complexity: boolean;
  historyLength: number;
  minAgeSeconds: number;
  maxAgeSeconds: number;
  lockoutThreshold: number;
  lockoutDurationSeconds: number;
  lockoutObservationSeconds: number;
}

const DAY = 24 * 3600;

/** The policy of a fresh AD domain (with the lockout a hardened domain sets). */
export const DEFAULT_POLICY: Readonly<PasswordPolicy> = Object.freeze({
  minLength: 8,
  maxLength: 256,
  complexity: true,
  historyLength: 24,
  minAgeSeconds: DAY,
  maxAgeSeconds: 42 * DAY,
  lockoutThreshold: 5,
  lockoutDurationSeconds: 15 * 60,
  lockoutObservationSeconds: 15 * 60,
});

/** Fields of `settings` that are set override `base`. */
export function mergePolicy(base: Readonly<PasswordPolicy>, settings: PolicySettings | undefined): PasswordPolicy {
  const s = settings ?? {};
  return {
    minLength: s.minLength ?? base.minLength,
    maxLength: s.maxLength ?? base.maxLength,
    complexity: s.complexity ?? base.complexity,
    historyLength: s.historyLength ?? base.historyLength,
    minAgeSeconds: s.minAgeSeconds ?? base.minAgeSeconds,
    maxAgeSeconds: s.maxAgeSeconds ?? base.maxAgeSeconds,
    lockoutThreshold: s.lockoutThreshold ?? base.lockoutThreshold,
    lockoutDurationSeconds: s.lockoutDurationSeconds ?? base.lockoutDurationSeconds,
    lockoutObservationSeconds: s.lockoutObservationSeconds ?? base.lockoutObservationSeconds,
  };
}

/** Who the password belongs to, for the name rule. */
export interface AccountNames {
  login: string;
  displayName?: string | undefined;
}

const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;
const DIGIT = /\p{Nd}/u;
const LETTER = /\p{L}/u;

/** A character's category by its Unicode class: letters without case are "other", the rest symbols. */
function unicodeCategory(ch: string): CharCategory {
  if (UPPER.test(ch)) return 'upper';
  if (LOWER.test(ch)) return 'lower';
  if (DIGIT.test(ch)) return 'digit';
  if (LETTER.test(ch)) return 'other';
  return 'symbol';
}

/** How many of AD's five character categories the password uses. */
export function complexityCategories(password: string): number {
  return countCategories(password, unicodeCategory);
}

/** Display-name tokens AD checks passwords against (3 characters or more). */
export function displayNameTokens(displayName: string | undefined): string[] {
  if (!displayName) return [];
  return displayName.split(/[,.\-_#\t ]+/u).filter((t) => [...t].length >= 3);
}

/** Whether the password contains the account name or a display-name token (case-insensitive). */
export function containsUserName(password: string, account: AccountNames): boolean {
  const pw = password.toLowerCase();
  const login = account.login.toLowerCase();
  if ([...login].length >= 3 && pw.includes(login)) return true;
  return displayNameTokens(account.displayName).some((t) => pw.includes(t.toLowerCase()));
}

/** Put reasons in vocabulary order, without duplicates, so results compare equal. */
export function sortReasons(reasons: Iterable<PolicyReason>): PolicyReason[] {
  const set = new Set(reasons);
  return POLICY_REASONS.filter((r) => set.has(r));
}

/**
 * The reasons a password fails the policy's length and complexity rules (history and minimum age
 * need stored state: see {@link minAgeBlocks} and the directory). Empty when it passes.
 */
export function checkPasswordQuality(
  password: string,
  policy: Readonly<PasswordPolicy>,
  account: AccountNames,
): PolicyReason[] {
  const reasons: PolicyReason[] = [];
  const length = [...password].length;
  if (length < policy.minLength) reasons.push('too_short');
  if (length > policy.maxLength) reasons.push('too_long');
  if (policy.complexity) {
    if (complexityCategories(password) < 3) reasons.push('complexity');
    if (containsUserName(password, account)) reasons.push('contains_user_name');
  }
  return sortReasons(reasons);
}

/** The password timestamps a user's policy verdicts depend on (epoch ms). */
export interface PasswordTimes {
  /** When the password was last set; null when never set or when a change is forced. */
  passwordLastSetAt: number | null;
}

/** When the minimum age next allows a user change (null: now). */
export function nextChangeAllowedAt(
  times: PasswordTimes,
  policy: Readonly<PasswordPolicy>,
  now: number,
): number | null {
  if (times.passwordLastSetAt === null || policy.minAgeSeconds <= 0) return null;
  const at = times.passwordLastSetAt + policy.minAgeSeconds * 1000;
  return at > now ? at : null;
}

/** Whether the minimum age forbids a user change now. */
export function minAgeBlocks(times: PasswordTimes, policy: Readonly<PasswordPolicy>, now: number): boolean {
  return nextChangeAllowedAt(times, policy, now) !== null;
}

/** When the password expires (null: never, or a change is already forced). */
export function expiresAt(times: PasswordTimes, policy: Readonly<PasswordPolicy>): number | null {
  if (times.passwordLastSetAt === null || policy.maxAgeSeconds <= 0) return null;
  return times.passwordLastSetAt + policy.maxAgeSeconds * 1000;
}

/** Whether the password has passed its maximum age. */
export function isExpired(times: PasswordTimes, policy: Readonly<PasswordPolicy>, now: number): boolean {
  const at = expiresAt(times, policy);
  return at !== null && now >= at;
}

/** Lockout bookkeeping of one account (epoch ms). */
export interface LockoutState {
  badCount: number;
  lastBadAt: number | null;
  lockedAt: number | null;
}

/** Whether the account is locked now (a lockout with a duration clears by itself). */
export function isLocked(state: LockoutState, policy: Readonly<PasswordPolicy>, now: number): boolean {
  if (state.lockedAt === null) return false;
  if (policy.lockoutDurationSeconds <= 0) return true;
  return now < state.lockedAt + policy.lockoutDurationSeconds * 1000;
}

/**
 * The lockout state after one more bad password. A counter older than the observation window, or
 * left over from an expired lockout, starts over. Unchanged when the policy never locks.
 */
export function recordBadAttempt(state: LockoutState, policy: Readonly<PasswordPolicy>, now: number): LockoutState {
  if (policy.lockoutThreshold <= 0) return state;
  let count = state.badCount;
  if (state.lockedAt !== null && !isLocked(state, policy, now)) count = 0;
  if (state.lastBadAt !== null && now - state.lastBadAt >= policy.lockoutObservationSeconds * 1000) count = 0;
  count += 1;
  return { badCount: count, lastBadAt: now, lockedAt: count >= policy.lockoutThreshold ? now : null };
}

/** The cleared lockout state (unlock, successful change or sign-in). */
export const NO_LOCKOUT: Readonly<LockoutState> = Object.freeze({ badCount: 0, lastBadAt: null, lockedAt: null });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The policy in the protocol's shape. `name` set means a fine-grained policy; `times` (when given)
 * adds the user's passwordLastSetAt, nextChangeAllowedAt and expiresAt.
 */
export function toEffectivePolicy(
  policy: Readonly<PasswordPolicy>,
  opts: { name?: string | undefined; times?: PasswordTimes | undefined; now: number },
): EffectivePolicy {
  const out: EffectivePolicy = {
    source: opts.name === undefined ? 'embedded' : 'fine_grained',
    ...(opts.name === undefined ? {} : { name: opts.name }),
    minLength: policy.minLength,
    maxLength: policy.maxLength,
    complexity: policy.complexity,
    historyLength: policy.historyLength,
    minAgeSeconds: policy.minAgeSeconds,
    maxAgeSeconds: policy.maxAgeSeconds,
    lockoutThreshold: policy.lockoutThreshold,
    lockoutDurationSeconds: policy.lockoutDurationSeconds,
  };
  if (opts.times) {
    out.passwordLastSetAt = iso(opts.times.passwordLastSetAt);
    out.nextChangeAllowedAt = iso(nextChangeAllowedAt(opts.times, policy, opts.now));
    out.expiresAt = iso(expiresAt(opts.times, policy));
  }
  return out;
}
