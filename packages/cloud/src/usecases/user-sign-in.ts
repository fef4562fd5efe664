/**
 * End-user sign-in, per the tenant's settings.signIn.mode:
 *
 * - cloud_hash: the cloud's own scrypt hash, recorded when a password was written (or verified)
 *   through the cloud. A hash older than the directory's passwordLastSetAt (changed on-premises, as
 *   sync shows) is stale and not used: sign-in falls through to pass-through for that user, and a
 *   successful pass-through refreshes the hash. A must-change user always goes through the directory
 *   (it alone says must-change / expired).
 * - pass_through: `credentials.verify` through the agent, which binds as the user: a wrong password
 *   counts toward the directory's lockout as it would on-premises.
 *
 * Cloud-only users always use the cloud hash. Before a tenant's first completed sync there are no
 * user rows: pass-through by login. Until the password is proven every failure is the same answer
 * (issue 10): unknown user, wrong password, and a locked or disabled account as the directory
 * reports it are all `invalid_credentials`, with no details, after the same hash work and, under
 * pass-through, about the directory's usual time (usecases/timing.ts). Only a proven password
 * (the cloud hash matched) learns that the account is locked or disabled. Rate limited per account (one budget whichever
 * alias was typed: usecases/attempts.ts) and per client IP, counting only attempts that tested the
 * password. Called by the API's POST /sign-in and the sign-in page; neither makes its own checks.
 */
import { resultData, type OperationResult, type OutcomeCode } from '@writeback/protocol';
import { dummyPasswordHash, verifyPassword } from '../auth/passwords.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { getTenantSettings } from '../tenants/settings.js';
import { findUserByLogin, usableCloudHash, type CloudUser } from '../users/directory-users.js';
import { accountBudget, userBudgetKey, withAttempt } from './attempts.js';
import { issueDeviceToken, knownDevice } from './devices.js';
import { observe, padLike, startTimer } from './timing.js';

export const SIGN_IN_OUTCOMES = [
  'succeeded',
  'must_change',
  'password_expired',
  'invalid_credentials',
  'account_locked',
  'account_disabled',
  'agent_unavailable',
  'directory_unavailable',
  'rate_limited',
  'timeout',
] as const;
export type SignInOutcome = (typeof SIGN_IN_OUTCOMES)[number];

export interface SignInResult {
  outcome: SignInOutcome;
  user: CloudUser | null;
  via: 'cloud_hash' | 'pass_through' | null;
  requestId?: string;
  /** With rate_limited: when to try again. */
  retryAfterSeconds?: number;
  /** After a proven password: a device token for this browser and account, for the page to keep. */
  deviceToken?: string;
}

export interface SignInInput {
  tenantId: string;
  login: string;
  password: string;
  clientIp: string | null;
  /** The browser's device cookie, if any (usecases/devices.ts). */
  deviceToken?: string | null | undefined;
}

/** Failed attempts that tested the password (or may have): they count toward the rate limits. */
const COUNTED: ReadonlySet<SignInOutcome> = new Set<SignInOutcome>([
  'invalid_credentials',
  'account_locked',
  'account_disabled',
  'timeout',
]);

function mapVerify(r: OperationResult): Exclude<SignInOutcome, 'rate_limited'> {
  switch (r.outcome) {
    case 'succeeded': {
      const d = resultData('credentials.verify', r);
      // AD reports an expired password as must-change too: expired is the more precise answer.
      if (d?.expired) return 'password_expired';
      if (d?.mustChange) return 'must_change';
      return 'succeeded';
    }
    case 'wrong_current_password':
    case 'user_not_found':
      return 'invalid_credentials';
    // The directory says locked or disabled before it checks the password (AD: data 775 even with
    // the right one): nothing is proven, so the caller learns nothing about the account.
    case 'account_locked':
    case 'account_disabled':
      return 'invalid_credentials';
    case 'agent_unavailable':
    case 'request_rejected':
      return 'agent_unavailable';
    case 'timeout':
    case 'outcome_unknown':
      return 'timeout';
    default:
      return 'directory_unavailable';
  }
}

/**
 * What the audit record of a pass-through sign-in says: the code the caller got (issue 12: the
 * API answered invalid_credentials while the record said wrong_current_password). A proven
 * password is `succeeded` (must change and expired included: the password was right); the
 * directory's own answer stays in the record's detail.
 */
function auditCodeOf(r: OperationResult): OutcomeCode {
  const o = mapVerify(r);
  switch (o) {
    case 'succeeded':
    case 'must_change':
    case 'password_expired':
      return 'succeeded';
    default:
      return o;
  }
}

/** Answers that prove the password (must change and expired: it was right, only old). */
const PROVEN: ReadonlySet<SignInOutcome> = new Set<SignInOutcome>(['succeeded', 'must_change', 'password_expired']);

/** Every failure before the password is proven looks the same: same code, same (empty) details. */
const FAILED: SignInResult = { outcome: 'invalid_credentials', user: null, via: null };

/** An answer, and whether a real password check (cloud hash or directory bind) made it. */
interface Checked {
  result: SignInResult;
  tested: boolean;
}

async function viaCloudHash(hash: string | null, password: string, user: CloudUser | null): Promise<Checked> {
  const ok = await verifyPassword(password, hash ?? (await dummyPasswordHash()));
  const tested = hash !== null && user !== null;
  if (!ok || !user || hash === null) return { result: FAILED, tested };
  if (!user.enabled) return { result: { outcome: 'account_disabled', user, via: 'cloud_hash' }, tested };
  if (user.locked) return { result: { outcome: 'account_locked', user, via: 'cloud_hash' }, tested };
  return { result: { outcome: 'succeeded', user, via: 'cloud_hash' }, tested };
}

/** Directory answers that came from checking the password (the others came before any check). */
const TESTED_BY_DIRECTORY: ReadonlySet<OperationResult['outcome']> = new Set(['succeeded', 'wrong_current_password']);

async function check(s: Services, input: SignInInput, found: CloudUser | null): Promise<Checked> {
  const { db } = s;
  const settings = await getTenantSettings(db, input.tenantId);
  const synced = await s.sync.hasSynced(input.tenantId);
  // Cloud-only users exist whether or not the directory was ever synced.
  let user = found;
  if (user?.source === 'cloud') {
    await s.writeback.userSettled(user.id);
    return viaCloudHash(await usableCloudHash(db, input.tenantId, user.id), input.password, user);
  }
  if (!synced) user = null;
  else {
    if (!user) {
      // Unknown: the same scrypt work as a known user with a wrong password (and the same time: see attempt).
      await verifyPassword(input.password, await dummyPasswordHash());
      return { result: FAILED, tested: false };
    }
    // A write through the cloud a moment ago may still be recording this user's hash.
    await s.writeback.userSettled(user.id);
    if (settings.signIn.mode === 'cloud_hash' && !user.mustChange) {
      const hash = await usableCloudHash(db, input.tenantId, user.id);
      if (hash !== null) return viaCloudHash(hash, input.password, user);
    }
  }
  const r = await s.writeback.executeOperation({
    tenantId: input.tenantId,
    request: {
      op: 'credentials.verify',
      params: { user: { by: 'login', value: input.login } },
      secret: { password: input.password },
    },
    actor: { kind: 'user', id: input.login },
    target: input.login,
    clientIp: input.clientIp,
    auditOutcome: auditCodeOf,
  });
  // Under cloud_hash the writeback service records the verified password as the cloud hash, off
  // this answer's path (users/resolve.ts afterWrite); the next sign-in waits for it (userSettled).
  const tested = TESTED_BY_DIRECTORY.has(r.result.outcome);
  const outcome = mapVerify(r.result);
  if (outcome === 'invalid_credentials') return { result: FAILED, tested };
  return { result: { outcome, user, via: 'pass_through', requestId: r.requestId }, tested };
}

/**
 * One sign-in attempt, timed: an answer from a real password check teaches this node how long
 * they take; a failure that was not one (unknown name, the directory's "locked" or "disabled"
 * before any check) waits until it has taken as long (usecases/timing.ts).
 */
async function attempt(s: Services, input: SignInInput, found: CloudUser | null): Promise<SignInResult> {
  const kind = `sign-in:${input.tenantId}`;
  const started = startTimer();
  const { result, tested } = await check(s, input, found);
  if (tested) observe(s, kind, started);
  else if (result.outcome === 'invalid_credentials') await padLike(s, kind, started);
  return result;
}

/** Sign a user in (no session is made here: the web pages and the API decide what follows). */
export async function signInUser(s: Services, input: SignInInput): Promise<SignInResult> {
  const user = await findUserByLogin(s.db, input.tenantId, input.login);
  const account = userBudgetKey(input.tenantId, user, input.login);
  const device = knownDevice(s, account, input.deviceToken);
  try {
    const r = await withAttempt(
      accountBudget(s.limiters.userSignIn, { account, ip: input.clientIp, device }),
      (r: SignInResult) => COUNTED.has(r.outcome),
      () => attempt(s, input, user),
    );
    // A proven password makes this browser a known one for the account (its own budget next time).
    return PROVEN.has(r.outcome) ? { ...r, deviceToken: issueDeviceToken(s, account) } : r;
  } catch (err) {
    if (err instanceof CloudError && err.code === 'rate_limited')
      return {
        outcome: 'rate_limited',
        user: null,
        via: null,
        ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
      };
    throw err;
  }
}
