/**
 * The embedded directory: an in-process user directory, persisted to a folder, that enforces
 * passwords the way Active Directory does. It is the directory of the demo, of the tests and of the
 * benchmark, so it answers with the exact outcome codes a real AD adapter aims for.
 *
 * Semantics (AD-like):
 * - Users are found by `{by:'anchor'}` (exact; a random UUID given at creation, never changed) or
 *   `{by:'login'}` (the login or the UPN, ASCII case-insensitive, otherwise exact). There are no
 *   wildcards anywhere: `*`, `(`, `\`, NUL, over-long or look-alike Unicode input simply matches
 *   nobody (`user_not_found`). Logins may not contain `@` and UPNs must, so the two never collide.
 * - Checks run in this order; the first that applies is the answer:
 *   reset:  user_not_found, protected_account (unless `allowProtected`), account_disabled, then
 *           policy (length, complexity, name; history only when `enforceHistory`, then the result
 *           says `historyEnforced: true`; minimum age never: an admin reset ignores it).
 *           `forceChange` sets must-change; `unlock` clears the lockout; a reset without `unlock`
 *           on a locked account succeeds and leaves it locked (`data.locked: true`).
 *   change: user_not_found, protected_account, account_disabled, account_locked,
 *           wrong_current_password (counts a bad attempt toward lockout), then policy (length,
 *           complexity, name, history, minimum age unless must-change is set), all failing reasons
 *           at once. Success clears must-change and the bad-attempt counter.
 *   unlock: user_not_found, protected_account, account_disabled; then clears the lockout and the
 *           counter: succeeded whether or not the account was locked (`data.wasLocked`).
 *   verify: user_not_found, account_disabled, account_locked, wrong_current_password (counts toward
 *           lockout); succeeded with `data: { mustChange, expired }`; success clears the counter.
 * - Every policy_violation carries the user's effective policy (`result.policy`), including
 *   `nextChangeAllowedAt` when the minimum age is the reason.
 * - History remembers `historyLength` passwords, the current one included (AD semantics), as
 *   scrypt digests under a per-user history salt so a check costs one hash; the current password
 *   itself is stored as a scrypt hash with its own salt.
 * - A lockout lasts `lockoutDurationSeconds` and then clears by itself (0: until unlocked);
 *   `lockoutThreshold` 0 never locks.
 * - Writes to one user are serialised; writes to different users run in parallel. An outcome is
 *   returned only after its change is in the journal. A journal write that fails answers
 *   `outcome_unknown`, and the directory then answers `directory_unavailable` to writes until it is
 *   reopened.
 * - Fine-grained policies are named sets of overrides over the default policy, assigned per user
 *   (AD PSOs); a user whose policy is removed falls back to the default.
 *
 * This file holds the operations: it is the reference the real adapters aim for, so each
 * operation's checks in the order above read top to bottom in one place. What they share with the
 * administration is in core.ts; the administration in admin.ts, its input schemas in schemas.ts;
 * storage, hashing, policy and the per-user queue beside them (store, state, hash, policy, keyed-queue).
 */
import { createLogger, type OperationResult, type UserRef } from '@writeback/protocol';
import type { Directory, DirectoryCapabilities, DirectoryHealth, DirectoryUser, ResetOptions } from '../directory.js';
import { EmbeddedAdmin } from './admin.js';
import { parseEmbeddedConfig, type EmbeddedConfig } from './config.js';
import { DIRECTORY_UNAVAILABLE, userChange, type EmbeddedDeps } from './core.js';
import { isExpired, isLocked, minAgeBlocks, NO_LOCKOUT, toEffectivePolicy, type LockoutState } from './policy.js';
import type { StoredUser } from './state.js';
import { EmbeddedStore } from './store.js';

export type { ChangesPage, DirectoryChange } from './admin.js';
export type { EmbeddedDeps, EmbeddedUser } from './core.js';
export type { CreateUserInput, UpdateUserPatch } from './schemas.js';

export class EmbeddedDirectory extends EmbeddedAdmin implements Directory {
  readonly kind = 'embedded' as const;
  readonly capabilities: DirectoryCapabilities = Object.freeze({
    enforcesHistoryOnReset: true,
    exactPolicyReasons: true,
    forceChangeOnReset: true,
    unlock: true,
    fineGrainedPolicies: true,
    verifyCredentials: true,
  });

  // ---------------------------------------------------------------- Directory operations

  async resetPassword(ref: UserRef, newPassword: string, options: ResetOptions): Promise<OperationResult> {
    return this.track(
      this.withUser(ref, null, async (user) => {
        if (user.protected && !this.config.allowProtected) return { outcome: 'protected_account' };
        if (!user.enabled) return { outcome: 'account_disabled' };
        if (this.store.failed !== null) return DIRECTORY_UNAVAILABLE;
        const now = this.now();
        const { policy, name } = this.resolvePolicy(user);
        const reasons = this.qualityReasons(newPassword, policy, user);
        const historyEnforced = options.enforceHistory ? { historyEnforced: true } : {};
        if (reasons.length > 0 && !options.enforceHistory)
          return this.violation(reasons, user, policy, name, now, historyEnforced);
        const hashed = await this.hashNew(newPassword, policy, user, reasons.length === 0);
        if (options.enforceHistory && hashed.reused) reasons.push('history');
        if (reasons.length > 0 || hashed.credential === null)
          return this.violation(reasons, user, policy, name, now, historyEnforced);
        const { credential, history } = hashed;
        const lockout: LockoutState = options.unlock ? NO_LOCKOUT : user;
        const next: StoredUser = {
          ...user,
          ...lockout,
          passwordHash: credential,
          passwordSetAt: now,
          mustChange: options.forceChange,
          history,
        };
        const failed = await this.write(userChange(next));
        if (failed) return failed;
        return {
          outcome: 'succeeded',
          ...historyEnforced,
          data: { locked: isLocked(next, policy, now), mustChange: next.mustChange },
        };
      }),
    );
  }

  async changePassword(ref: UserRef, currentPassword: string, newPassword: string): Promise<OperationResult> {
    return this.track(
      this.withUser(ref, currentPassword, async (user) => {
        if (user.protected && !this.config.allowProtected) return { outcome: 'protected_account' };
        if (!user.enabled) return { outcome: 'account_disabled' };
        const now = this.now();
        const { policy, name } = this.resolvePolicy(user);
        // Says when the lockout ends (issue 12: the message could only say "ask an administrator").
        if (isLocked(user, policy, now)) return { outcome: 'account_locked', policy: this.lockedPolicy(user, now) };
        if (this.store.failed !== null) return DIRECTORY_UNAVAILABLE;
        if (!(await this.checkPassword(user, currentPassword))) return this.badAttempt(user, policy, now);
        const reasons = this.qualityReasons(newPassword, policy, user);
        if (!user.mustChange && minAgeBlocks(this.times(user), policy, now)) reasons.push('min_age');
        const hashed = await this.hashNew(newPassword, policy, user, reasons.length === 0);
        if (hashed.reused) reasons.push('history');
        if (reasons.length > 0 || hashed.credential === null) return this.violation(reasons, user, policy, name, now);
        const { credential, history } = hashed;
        const next: StoredUser = {
          ...user,
          ...NO_LOCKOUT,
          passwordHash: credential,
          passwordSetAt: now,
          mustChange: false,
          history,
        };
        return (await this.write(userChange(next))) ?? { outcome: 'succeeded' };
      }),
    );
  }

  async unlock(ref: UserRef): Promise<OperationResult> {
    return this.track(
      this.withUser(ref, null, async (user) => {
        if (user.protected && !this.config.allowProtected) return { outcome: 'protected_account' };
        if (!user.enabled) return { outcome: 'account_disabled' };
        if (this.store.failed !== null) return DIRECTORY_UNAVAILABLE;
        const wasLocked = isLocked(user, this.resolvePolicy(user).policy, this.now());
        if (user.badCount !== 0 || user.lockedAt !== null || user.lastBadAt !== null) {
          const failed = await this.write(userChange({ ...user, ...NO_LOCKOUT }));
          if (failed) return failed;
        }
        return { outcome: 'succeeded', data: { wasLocked } };
      }),
    );
  }

  async getPolicy(ref?: UserRef): Promise<OperationResult> {
    this.assertOpen();
    const now = this.now();
    if (ref === undefined) return { outcome: 'succeeded', policy: toEffectivePolicy(this.defaultPolicy(), { now }) };
    const user = this.lookup(ref);
    if (!user) return { outcome: 'user_not_found' };
    return { outcome: 'succeeded', policy: this.effectivePolicy(user, now) };
  }

  async verifyCredentials(ref: UserRef, password: string): Promise<OperationResult> {
    return this.track(
      this.withUser(ref, password, async (user) => {
        if (!user.enabled) return { outcome: 'account_disabled' };
        const now = this.now();
        const { policy } = this.resolvePolicy(user);
        if (isLocked(user, policy, now)) return { outcome: 'account_locked' };
        if (!(await this.checkPassword(user, password))) return this.badAttempt(user, policy, now);
        // A successful sign-in clears the bad-attempt counter, as an AD logon resets badPwdCount.
        if ((user.badCount !== 0 || user.lockedAt !== null) && this.store.failed === null) {
          await this.write(userChange({ ...user, ...NO_LOCKOUT }));
        }
        return {
          outcome: 'succeeded',
          data: { mustChange: user.mustChange, expired: isExpired(this.times(user), policy, now) },
        };
      }),
    );
  }

  async findUser(ref: UserRef): Promise<DirectoryUser | null | 'ambiguous'> {
    this.assertOpen();
    const user = this.lookup(ref);
    return user ? this.toPublic(user, this.now()) : null;
  }

  async health(): Promise<DirectoryHealth> {
    const started = performance.now();
    const ok = !this.closing && this.store.failed === null;
    const detail = this.closing
      ? 'closed'
      : ok
        ? `${this.state.users.size} users, seq ${this.state.seq}`
        : 'journal write failed; reopen';
    return { ok, kind: 'embedded', latencyMs: performance.now() - started, detail };
  }

  /** Wait for operations in flight, flush the journal and release the folder. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    await this.store.close();
  }
}

/**
 * Open (creating when missing) the embedded directory in `config.path`. Throws TypeError for a bad
 * configuration, DirectoryError `store_locked` when another instance holds the folder and
 * `store_corrupt` when its files cannot be read back.
 */
export async function openEmbeddedDirectory(
  config: EmbeddedConfig,
  deps: EmbeddedDeps = {},
): Promise<EmbeddedDirectory> {
  const log = deps.log ?? createLogger({ name: 'directory.embedded' });
  const now = deps.now ?? Date.now;
  const cfg = parseEmbeddedConfig(config, { log });
  const store = await EmbeddedStore.open(cfg.path, {
    durability: cfg.durability,
    compactAfterBytes: cfg.compactAfterBytes,
    now,
    log,
  });
  const dir = new EmbeddedDirectory(cfg, store, now, log);
  try {
    await dir.applyConfiguredPolicy();
  } catch (err) {
    await dir.close();
    throw err;
  }
  return dir;
}
