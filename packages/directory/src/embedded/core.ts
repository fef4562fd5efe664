/**
 * What the embedded directory's operations and administration share: the store and its state,
 * the per-user queue and the operations in flight (close waits for them), finding a user (in the
 * sync scope, by anchor or login/UPN), a user's resolved policy, hashing a new password against
 * the history, journaling a change, and the public view of a user. The operations are in
 * embedded-directory.ts, the administration in admin.ts.
 */
import {
  MAX_PASSWORD_LENGTH,
  MAX_USER_REF_LENGTH,
  type EffectivePolicy,
  type Logger,
  type OperationResult,
  type PolicyReason,
  type SyncedUser,
  type UserRef,
} from '@writeback/protocol';
import type { DirectoryDeps, DirectoryUser } from '../directory.js';
import { DirectoryError } from '../errors.js';
import type { ResolvedEmbeddedConfig } from './config.js';
import { digestAndMatch, hashPassword, spendVerifyTime, verifyPassword } from './hash.js';
import { KeyedQueue } from './keyed-queue.js';
import {
  checkPasswordQuality,
  DEFAULT_POLICY,
  isLocked,
  mergePolicy,
  recordBadAttempt,
  sortReasons,
  toEffectivePolicy,
  type PasswordPolicy,
  type PasswordTimes,
} from './policy.js';
import type { Change, StoredUser } from './state.js';
import type { EmbeddedStore } from './store.js';
import { EmbeddedSyncSource } from './sync.js';

/** Injected collaborators: a clock (epoch ms) and a logger. */
export type EmbeddedDeps = DirectoryDeps;

/** A user as the embedded directory describes it (no secrets). */
export interface EmbeddedUser extends DirectoryUser {
  /** Assigned fine-grained policy (null: the default policy). */
  policyName: string | null;
  createdAt: string;
  /** Sequence number of the user's last change. */
  seq: number;
  mobile?: string;
  groups: string[];
}

/** A user change for the journal (the record's own seq replaces the user's). */
export function userChange(user: StoredUser): Change {
  const { seq, ...rest } = user;
  void seq;
  return { type: 'user', user: rest };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const DIRECTORY_UNAVAILABLE: OperationResult = Object.freeze({
  outcome: 'directory_unavailable',
  detail: 'the embedded directory store stopped accepting writes after a write failed; reopen it',
});

/** A user's resolved policy: the settings and, for a fine-grained one, its name. */
interface ResolvedPolicy {
  policy: PasswordPolicy;
  name: string | undefined;
}

/** The state and the steps the operations and the administration are built from. */
export abstract class EmbeddedCore {
  /** Sync source over the journal (see ./sync.ts). */
  readonly sync: EmbeddedSyncSource;
  /** The same object, for the scope checks (a wrapper may replace `sync`, never the scope). */
  protected readonly syncSource: EmbeddedSyncSource;

  protected readonly queue = new KeyedQueue();
  protected readonly inflight = new Set<Promise<unknown>>();
  protected closing = false;

  /** Use openEmbeddedDirectory (embedded-directory.ts). */
  constructor(
    readonly config: ResolvedEmbeddedConfig,
    protected readonly store: EmbeddedStore,
    protected readonly now: () => number,
    protected readonly log: Logger,
  ) {
    this.syncSource = new EmbeddedSyncSource({
      state: () => this.store.state,
      toSynced: (u) => this.toSynced(u, this.now()),
      scopeGroups: config.syncScope?.groups ?? null,
      assertOpen: () => this.assertOpen(),
    });
    this.sync = this.syncSource;
  }

  protected get state() {
    return this.store.state;
  }

  protected assertOpen(): void {
    if (this.closing) throw new DirectoryError('closed', 'embedded directory is closed');
  }

  /** Keep `close()` waiting for this operation. */
  protected track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  protected lookup(ref: UserRef): StoredUser | undefined {
    const value: unknown = ref?.value;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_USER_REF_LENGTH) return undefined;
    const user =
      ref.by === 'anchor'
        ? this.state.users.get(value)
        : ref.by === 'login'
          ? this.state.findByLogin(value)
          : undefined;
    // Users outside the sync scope are not served at all (as the real adapters' search base and filter).
    return user && this.syncSource.inScope(user) ? user : undefined;
  }

  protected lookupAdmin(anchorOrLogin: string): StoredUser | undefined {
    if (typeof anchorOrLogin !== 'string' || anchorOrLogin.length === 0 || anchorOrLogin.length > MAX_USER_REF_LENGTH)
      return undefined;
    return this.state.users.get(anchorOrLogin) ?? this.state.findByLogin(anchorOrLogin);
  }

  protected mustGet(anchor: string): StoredUser {
    const u = this.state.users.get(anchor);
    if (!u) throw new DirectoryError('not_found', 'user vanished');
    return u;
  }

  /**
   * Find the user, then run `op` in the user's queue against the user's latest record. An unknown
   * user whose password we were given costs one hash anyway, so timing does not tell them apart.
   */
  protected async withUser(
    ref: UserRef,
    password: string | null,
    op: (user: StoredUser) => Promise<OperationResult>,
  ): Promise<OperationResult> {
    this.assertOpen();
    const found = this.lookup(ref);
    if (!found) {
      if (password !== null) await spendVerifyTime(password.slice(0, MAX_PASSWORD_LENGTH), this.config.hash);
      return { outcome: 'user_not_found' };
    }
    return this.queue.run(found.anchor, async () => {
      const user = this.state.users.get(found.anchor);
      return user && this.syncSource.inScope(user) ? op(user) : { outcome: 'user_not_found' };
    });
  }

  protected async withAdminUser<T>(anchorOrLogin: string, op: (user: StoredUser) => Promise<T>): Promise<T> {
    this.assertOpen();
    const found = this.lookupAdmin(anchorOrLogin);
    if (!found) throw new DirectoryError('not_found', 'no such user');
    return this.queue.run(found.anchor, async () => {
      const user = this.state.users.get(found.anchor);
      if (!user) throw new DirectoryError('not_found', 'no such user');
      return op(user);
    });
  }

  protected assertNamesFree(login: string, upn: string | undefined, self: string | undefined): void {
    if (this.state.nameTaken(login, self)) throw new DirectoryError('user_exists', 'login already in use');
    if (upn !== undefined && this.state.nameTaken(upn, self))
      throw new DirectoryError('user_exists', 'upn already in use');
  }

  /** Journal a change for a directory operation: null when written, else the outcome to answer. */
  protected async write(change: Change): Promise<OperationResult | null> {
    let pending: Promise<unknown>;
    try {
      pending = this.store.commit(change);
    } catch {
      return DIRECTORY_UNAVAILABLE;
    }
    try {
      await pending;
      return null;
    } catch (err) {
      this.log.error('embedded directory: write not confirmed', { err });
      return { outcome: 'outcome_unknown', detail: 'the change could not be confirmed on disk' };
    }
  }

  /** Journal an administrative change; failures throw (`closed`, `store_failed`). */
  protected async adminWrite(change: Change): Promise<void> {
    try {
      await this.store.commit(change);
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      throw new DirectoryError('store_failed', 'embedded directory could not write the change', { cause: err });
    }
  }

  protected defaultPolicy(): PasswordPolicy {
    return this.state.defaultPolicy ?? { ...DEFAULT_POLICY };
  }

  protected resolvePolicy(user: StoredUser): ResolvedPolicy {
    const base = this.defaultPolicy();
    const settings = user.policyName === undefined ? undefined : this.state.policies.get(user.policyName);
    return settings
      ? { policy: mergePolicy(base, settings), name: user.policyName }
      : { policy: base, name: undefined };
  }

  protected times(user: StoredUser): PasswordTimes {
    return { passwordLastSetAt: user.mustChange ? null : user.passwordSetAt };
  }

  /** The user's policy with the time a lockout in force ends (null: until an administrator unlocks it). */
  protected lockedPolicy(user: StoredUser, now: number): EffectivePolicy {
    const { policy } = this.resolvePolicy(user);
    const ends =
      user.lockedAt !== null && policy.lockoutDurationSeconds > 0
        ? new Date(user.lockedAt + policy.lockoutDurationSeconds * 1000).toISOString()
        : null;
    return { ...this.effectivePolicy(user, now), lockedUntil: ends };
  }

  protected effectivePolicy(user: StoredUser, now: number): EffectivePolicy {
    const { policy, name } = this.resolvePolicy(user);
    return toEffectivePolicy(policy, { name, times: this.times(user), now });
  }

  protected qualityReasons(password: string, policy: PasswordPolicy, user: StoredUser): PolicyReason[] {
    const reasons = checkPasswordQuality(password, policy, { login: user.login, displayName: user.displayName });
    if (password.length > MAX_PASSWORD_LENGTH && !reasons.includes('too_long')) reasons.push('too_long');
    return reasons;
  }

  /**
   * Hash a new password: its history digest (under the user's history salt: was it remembered, and
   * the history it leaves) and, when `withCredential`, its credential hash, computed in parallel.
   * Callers ask for the credential only when no other reason already rejects the password, so a
   * rejected password costs one hash, not two.
   */
  protected async hashNew(
    password: string,
    policy: PasswordPolicy,
    user: StoredUser,
    withCredential: true,
  ): Promise<{ reused: boolean; history: string[]; credential: string }>;
  protected async hashNew(
    password: string,
    policy: PasswordPolicy,
    user: StoredUser,
    withCredential: boolean,
  ): Promise<{ reused: boolean; history: string[]; credential: string | null }>;
  protected async hashNew(
    password: string,
    policy: PasswordPolicy,
    user: StoredUser,
    withCredential: boolean,
  ): Promise<{ reused: boolean; history: string[]; credential: string | null }> {
    const remembered = user.history.slice(0, policy.historyLength);
    const [digest, credential] = await Promise.all([
      policy.historyLength > 0
        ? digestAndMatch(password, this.config.hash, Buffer.from(user.historySalt, 'base64'), remembered)
        : null,
      withCredential ? hashPassword(password, this.config.hash) : null,
    ]);
    if (!digest) return { reused: false, history: [], credential };
    return {
      reused: digest.matched,
      history: [digest.digest, ...remembered].slice(0, policy.historyLength),
      credential,
    };
  }

  protected async checkPassword(user: StoredUser, password: string): Promise<boolean> {
    if (user.passwordHash === null || password.length > MAX_PASSWORD_LENGTH) {
      await spendVerifyTime(password.slice(0, MAX_PASSWORD_LENGTH), this.config.hash);
      return false;
    }
    return verifyPassword(password, user.passwordHash);
  }

  protected async badAttempt(user: StoredUser, policy: PasswordPolicy, now: number): Promise<OperationResult> {
    const lockout = recordBadAttempt(user, policy, now);
    if (lockout !== user && this.store.failed === null) {
      // The answer stays wrong_current_password even if the counter could not be written.
      await this.write(userChange({ ...user, ...lockout }));
    }
    return { outcome: 'wrong_current_password', data: { locked: isLocked(lockout, policy, now) } };
  }

  protected violation(
    reasons: PolicyReason[],
    user: StoredUser,
    policy: PasswordPolicy,
    name: string | undefined,
    now: number,
    extra: Partial<OperationResult> = {},
  ): OperationResult {
    return {
      outcome: 'policy_violation',
      reasons: sortReasons(reasons),
      policy: toEffectivePolicy(policy, { name, times: this.times(user), now }),
      ...extra,
    };
  }

  protected toPublic(user: StoredUser, now: number): EmbeddedUser {
    return {
      anchor: user.anchor,
      login: user.login,
      ...(user.upn === undefined ? {} : { userPrincipalName: user.upn }),
      ...(user.mail === undefined ? {} : { mail: user.mail }),
      ...(user.displayName === undefined ? {} : { displayName: user.displayName }),
      ...(user.mobile === undefined ? {} : { mobile: user.mobile }),
      groups: [...(user.groups ?? [])],
      enabled: user.enabled,
      locked: isLocked(user, this.resolvePolicy(user).policy, now),
      mustChange: user.mustChange,
      protected: user.protected,
      passwordLastSetAt: iso(this.times(user).passwordLastSetAt),
      policyName: user.policyName ?? null,
      createdAt: new Date(user.createdAt).toISOString(),
      seq: user.seq,
    };
  }

  /** What the cloud syncs of a user: the public view without the embedded-only fields. */
  protected toSynced(user: StoredUser, now: number): SyncedUser {
    const { policyName: _policy, createdAt: _created, seq: _seq, ...synced } = this.toPublic(user, now);
    return synced;
  }

  /** @internal Apply the configured default-policy fields at open (journaled only when they change something). */
  async applyConfiguredPolicy(): Promise<void> {
    if (!this.config.policy) return;
    const current = this.defaultPolicy();
    const wanted = mergePolicy(current, this.config.policy);
    if (wanted.minLength > wanted.maxLength) throw new TypeError('policy.minLength: greater than policy.maxLength');
    if (JSON.stringify(wanted) !== JSON.stringify(current) || this.state.defaultPolicy === null) {
      await this.adminWrite({ type: 'default_policy', policy: wanted });
    }
  }
}
