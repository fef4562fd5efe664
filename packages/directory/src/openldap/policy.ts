/**
 * ppolicy entries and per-user password state as the adapter reads them: LDAP generalized time,
 * a pwdPolicy entry mapped to the shared EffectivePolicy, and whether a lock is still in force.
 * Pure functions; nothing here talks to the server.
 */
import type { EffectivePolicy } from '@writeback/protocol';
import type { Entry } from 'ldapts';

/**
 * pwdAccountLockedTime value that ppolicy treats as a permanent, administrative lock (the
 * convention for "disabled": OpenLDAP has no standard disabled flag).
 */
export const PERMANENT_LOCK = '000001010000Z';

/** An LDAP entry as ldapts returns it. */
export type RawEntry = Entry;

/** All string values of an attribute (ldapts returns [] for requested attributes that are absent). */
export function values(entry: RawEntry, attr: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attr.toLowerCase());
  const v = key === undefined ? undefined : entry[key];
  if (v === undefined) return [];
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));
}

export function first(entry: RawEntry, attr: string): string | undefined {
  return values(entry, attr)[0];
}

/**
 * Parses GeneralizedTime (YYYYMMDDHH[MM[SS]][.fff](Z|±hhmm)) to epoch ms; null when malformed.
 * ppolicy writes e.g. 20240101123456Z and pwdFailureTime with microseconds.
 */
export function parseGeneralizedTime(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d{1,9}))?(Z|[+-]\d{4})$/.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi = '00', se = '00', frac = '', tz = 'Z'] = m;
  const ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(se),
    Math.floor(Number(`0.${frac || '0'}`) * 1000),
  );
  if (!Number.isFinite(ms)) return null;
  if (tz === 'Z') return ms;
  const sign = tz.startsWith('-') ? -1 : 1;
  const off = (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5))) * 60_000;
  return ms - sign * off;
}

/** The ppolicy attributes the adapter uses, with the overlay's own defaults for absent ones. */
export interface PpolicySettings {
  dn: string;
  minLength: number;
  maxLength: number;
  checkQuality: number;
  inHistory: number;
  minAgeSeconds: number;
  maxAgeSeconds: number;
  maxFailure: number;
  lockout: boolean;
  lockoutDurationSeconds: number;
  mustChange: boolean;
  safeModify: boolean;
}

function int(entry: RawEntry, attr: string, dflt: number): number {
  const v = first(entry, attr);
  if (v === undefined || !/^-?\d{1,12}$/.test(v)) return dflt;
  return Math.max(0, Number(v));
}

function bool(entry: RawEntry, attr: string, dflt: boolean): boolean {
  const v = first(entry, attr);
  return v === undefined ? dflt : v.toUpperCase() === 'TRUE';
}

/** Reads a pwdPolicy entry (defaults as in draft-behera / slapd-ppolicy(5): absent means off). */
export function settingsFromEntry(entry: RawEntry): PpolicySettings {
  return {
    dn: entry.dn,
    minLength: int(entry, 'pwdMinLength', 0),
    maxLength: int(entry, 'pwdMaxLength', 0),
    checkQuality: int(entry, 'pwdCheckQuality', 0),
    inHistory: int(entry, 'pwdInHistory', 0),
    minAgeSeconds: int(entry, 'pwdMinAge', 0),
    maxAgeSeconds: int(entry, 'pwdMaxAge', 0),
    maxFailure: int(entry, 'pwdMaxFailure', 0),
    lockout: bool(entry, 'pwdLockout', false),
    lockoutDurationSeconds: int(entry, 'pwdLockoutDuration', 0),
    mustChange: bool(entry, 'pwdMustChange', false),
    safeModify: bool(entry, 'pwdSafeModify', false),
  };
}

/** Password state of one user (operational attributes the adapter asks for explicitly). */
export interface UserPasswordState {
  changedAt: number | null;
  reset: boolean;
  lockedTime: string | undefined;
}

export function userStateFromEntry(entry: RawEntry): UserPasswordState {
  const changed = first(entry, 'pwdChangedTime');
  return {
    changedAt: changed === undefined ? null : parseGeneralizedTime(changed),
    reset: (first(entry, 'pwdReset') ?? '').toUpperCase() === 'TRUE',
    lockedTime: first(entry, 'pwdAccountLockedTime'),
  };
}

/** The ppolicy convention for an administratively disabled account. */
export function isDisabled(state: UserPasswordState): boolean {
  return state.lockedTime === PERMANENT_LOCK;
}

/**
 * Whether a lockout still holds at `now`: slapd lifts it by itself once pwdLockoutDuration has
 * passed (0: until an administrator unlocks). An unreadable time counts as locked.
 */
export function isLocked(state: UserPasswordState, policy: PpolicySettings | null, now: number): boolean {
  if (state.lockedTime === undefined || isDisabled(state)) return false;
  const at = parseGeneralizedTime(state.lockedTime);
  const duration = policy?.lockoutDurationSeconds ?? 0;
  if (at === null || duration === 0) return true;
  return now < at + duration * 1000;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The effective policy of a locked user, with the time the lockout ends by itself (null: until an
 * administrator unlocks it, pwdLockoutDuration 0); undefined without a policy entry.
 */
export function lockedPolicy(p: PpolicySettings | null, user: UserPasswordState): EffectivePolicy | undefined {
  if (!p) return undefined;
  const at = user.lockedTime === undefined ? null : parseGeneralizedTime(user.lockedTime);
  const duration = p.lockout ? p.lockoutDurationSeconds : 0;
  return { ...toEffectivePolicy(p, user), lockedUntil: at !== null && duration > 0 ? iso(at + duration * 1000) : null };
}

/**
 * Maps ppolicy settings to the shared EffectivePolicy. pwdMinLength counts only when
 * pwdCheckQuality is 1 or 2 (slapd skips the check at 0), and slapd counts it in UTF-8 BYTES, not
 * characters, so a non-ASCII password passes with fewer characters than minLength says. complexity is always false: slapd checks
 * nothing but length unless a pwdCheckModule is loaded, and none ships with Debian's slapd.
 * lockoutDurationSeconds 0 means "until an administrator unlocks".
 */
export function toEffectivePolicy(p: PpolicySettings, user?: UserPasswordState): EffectivePolicy {
  const policy: EffectivePolicy = {
    source: 'ppolicy',
    name: p.dn,
    minLength: p.checkQuality > 0 ? p.minLength : 0,
    complexity: false,
    historyLength: p.inHistory,
    minAgeSeconds: p.minAgeSeconds,
    maxAgeSeconds: p.maxAgeSeconds,
    lockoutThreshold: p.lockout ? p.maxFailure : 0,
    lockoutDurationSeconds: p.lockout ? p.lockoutDurationSeconds : 0,
  };
  if (p.maxLength > 0 && p.checkQuality > 0) policy.maxLength = p.maxLength;
  if (user) {
    // A pending must-change (pwdReset) reads like AD's pwdLastSet=0: no usable "last set" time.
    const changedAt = user.reset ? null : user.changedAt;
    policy.passwordLastSetAt = iso(changedAt);
    policy.nextChangeAllowedAt =
      changedAt !== null && p.minAgeSeconds > 0 ? iso(changedAt + p.minAgeSeconds * 1000) : null;
    policy.expiresAt = changedAt !== null && p.maxAgeSeconds > 0 ? iso(changedAt + p.maxAgeSeconds * 1000) : null;
  }
  return policy;
}
