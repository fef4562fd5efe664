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
 * One file (over 400 lines) on purpose: it is the reference the real adapters aim for, so each
 * operation's checks in the order above read top to bottom in one place; storage, hashing, policy
 * and the per-user queue are already beside it (store, state, hash, policy, keyed-queue).
 */
import { randomUUID } from 'node:crypto';
import {
  createLogger,
  MAX_PASSWORD_LENGTH,
  MAX_USER_REF_LENGTH,
  type EffectivePolicy,
  type Logger,
  type OperationResult,
  type PolicyReason,
  type SyncedUser,
  type UserRef,
} from '@writeback/protocol';
import { z } from 'zod';
import type { Directory, DirectoryCapabilities, DirectoryHealth, DirectoryUser, ResetOptions } from '../directory.js';
import type { DirectoryDeps } from '../directory.js';
import { DirectoryError } from '../errors.js';
import {
  parseEmbeddedConfig,
  PolicySettingsSchema,
  type EmbeddedConfig,
  type PolicySettings,
  type ResolvedEmbeddedConfig,
} from './config.js';
import { digestAndMatch, hashPassword, newSalt, spendVerifyTime, verifyPassword } from './hash.js';
import { KeyedQueue } from './keyed-queue.js';
import {
  checkPasswordQuality,
  DEFAULT_POLICY,
  isExpired,
  isLocked,
  mergePolicy,
  minAgeBlocks,
  NO_LOCKOUT,
  recordBadAttempt,
  sortReasons,
  toEffectivePolicy,
  type LockoutState,
  type PasswordPolicy,
  type PasswordTimes,
} from './policy.js';
import type { Change, StoredUser } from './state.js';
import { EmbeddedStore } from './store.js';
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

/** Input of {@link EmbeddedDirectory.createUser}. */
export interface CreateUserInput {
  login: string;
  displayName?: string;
  mail?: string;
  upn?: string;
  mobile?: string;
  /** Group names (sync scope). */
  groups?: string[];
  /** Checked against the policy's length and complexity rules; absent: no password yet. */
  password?: string;
  enabled?: boolean;
  protected?: boolean;
  mustChange?: boolean;
  policyName?: string;
}

/** Patch of {@link EmbeddedDirectory.updateUser}; null clears an optional attribute. */
export interface UpdateUserPatch {
  login?: string;
  displayName?: string | null;
  mail?: string | null;
  upn?: string | null;
  mobile?: string | null;
  groups?: string[];
  enabled?: boolean;
  protected?: boolean;
  mustChange?: boolean;
  policyName?: string | null;
}

/** One entry of {@link EmbeddedDirectory.changesSince}. */
export type DirectoryChange =
  | { seq: number; type: 'user'; user: EmbeddedUser }
  | { seq: number; type: 'user_deleted'; anchor: string; at: string };

/** A page of changes: continue from `cursor` while `more`. */
export interface ChangesPage {
  changes: DirectoryChange[];
  cursor: number;
  more: boolean;
}

const FORBIDDEN_IN_LOGIN = /[\p{Cc}"/\\[\]:;|=,+*?<>@()]/u;
const LoginSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((v) => !FORBIDDEN_IN_LOGIN.test(v) && v.trim() === v, 'login contains a character logins may not contain');
const UpnSchema = z
  .string()
  .max(256)
  .regex(/^[^\s@\p{Cc}*()\\]+@[^\s@\p{Cc}*()\\]+$/u, 'upn must look like name@domain');
const MailSchema = z
  .string()
  .max(256)
  .regex(/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u, 'mail must look like name@domain');
const DisplayNameSchema = z
  .string()
  .min(1)
  .max(256)
  .refine((v) => !/[\p{Cc}]/u.test(v), 'displayName contains a control character');
const MobileSchema = z.string().regex(/^\+?[0-9][0-9 ()-]{2,40}$/, 'mobile must be a phone number');
const GroupsSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(256)
      .refine((v) => !/[\p{Cc}]/u.test(v), 'group names may not contain control characters'),
  )
  .max(1000);
const PolicyNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/u, 'policy names use letters, digits, space, _ . -');

const CreateUserSchema = z
  .object({
    login: LoginSchema,
    displayName: DisplayNameSchema.optional(),
    mail: MailSchema.optional(),
    upn: UpnSchema.optional(),
    mobile: MobileSchema.optional(),
    groups: GroupsSchema.optional(),
    password: z.string().max(MAX_PASSWORD_LENGTH).optional(),
    enabled: z.boolean().default(true),
    protected: z.boolean().default(false),
    mustChange: z.boolean().default(false),
    policyName: PolicyNameSchema.optional(),
  })
  .strict();

const UpdateUserSchema = z
  .object({
    login: LoginSchema,
    displayName: DisplayNameSchema.nullable(),
    mail: MailSchema.nullable(),
    upn: UpnSchema.nullable(),
    mobile: MobileSchema.nullable(),
    groups: GroupsSchema,
    enabled: z.boolean(),
    protected: z.boolean(),
    mustChange: z.boolean(),
    policyName: PolicyNameSchema.nullable(),
  })
  .partial()
  .strict();

function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  // zod messages name the rule, never the rejected value, so no password can leak through here.
  throw new DirectoryError(
    'invalid_input',
    `${what}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`,
  );
}

/** A user change for the journal (the record's own seq replaces the user's). */
function userChange(user: StoredUser): Change {
  const { seq, ...rest } = user;
  void seq;
  return { type: 'user', user: rest };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const DIRECTORY_UNAVAILABLE: OperationResult = Object.freeze({
  outcome: 'directory_unavailable',
  detail: 'the embedded directory store stopped accepting writes after a write failed; reopen it',
});

/** A user's resolved policy: the settings and, for a fine-grained one, its name. */
interface ResolvedPolicy {
  policy: PasswordPolicy;
  name: string | undefined;
}

export class EmbeddedDirectory implements Directory {
  readonly kind = 'embedded' as const;
  readonly capabilities: DirectoryCapabilities = Object.freeze({
    enforcesHistoryOnReset: true,
    exactPolicyReasons: true,
    forceChangeOnReset: true,
    unlock: true,
    fineGrainedPolicies: true,
    verifyCredentials: true,
  });

  /** Sync source over the journal (see ./sync.ts). */
  readonly sync: EmbeddedSyncSource;
  /** The same object, for the scope checks (a wrapper may replace `sync`, never the scope). */
  private readonly syncSource: EmbeddedSyncSource;

  private readonly queue = new KeyedQueue();
  private readonly inflight = new Set<Promise<unknown>>();
  private closing = false;

  /** Use {@link openEmbeddedDirectory}. */
  constructor(
    readonly config: ResolvedEmbeddedConfig,
    private readonly store: EmbeddedStore,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {
    this.syncSource = new EmbeddedSyncSource({
      state: () => this.store.state,
      toSynced: (u) => this.toSynced(u, this.now()),
      scopeGroups: config.syncScope?.groups ?? null,
      assertOpen: () => this.assertOpen(),
    });
    this.sync = this.syncSource;
  }

  private get state() {
    return this.store.state;
  }

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

  // ---------------------------------------------------------------- administration

  /** Number of users. */
  get userCount(): number {
    return this.state.users.size;
  }

  /** Sequence number of the latest change. */
  get seq(): number {
    return this.state.seq;
  }

  /**
   * Create a user with a random, immutable anchor. A password given is checked against the length
   * and complexity rules of the user's policy. Throws DirectoryError `invalid_input`,
   * `user_exists` (login or UPN taken) or `not_found` (unknown policyName).
   */
  async createUser(input: CreateUserInput): Promise<EmbeddedUser> {
    return this.track(
      (async () => {
        const data = parseInput(CreateUserSchema, input, 'createUser');
        if (data.policyName !== undefined && !this.state.policies.has(data.policyName)) {
          throw new DirectoryError(
            'not_found',
            `createUser.policyName: no policy named ${JSON.stringify(data.policyName)}`,
          );
        }
        this.assertNamesFree(data.login, data.upn, undefined);
        const now = this.now();
        const base: StoredUser = {
          anchor: randomUUID(),
          login: data.login,
          ...(data.upn === undefined ? {} : { upn: data.upn }),
          ...(data.mail === undefined ? {} : { mail: data.mail }),
          ...(data.displayName === undefined ? {} : { displayName: data.displayName }),
          ...(data.mobile === undefined ? {} : { mobile: data.mobile }),
          ...(data.groups === undefined ? {} : { groups: [...new Set(data.groups)] }),
          ...(data.policyName === undefined ? {} : { policyName: data.policyName }),
          enabled: data.enabled,
          protected: data.protected,
          mustChange: data.mustChange,
          passwordHash: null,
          passwordSetAt: null,
          historySalt: newSalt().toString('base64'),
          history: [],
          ...NO_LOCKOUT,
          createdAt: now,
          seq: 0,
        };
        let user = base;
        if (data.password !== undefined) {
          const { policy } = this.resolvePolicy(base);
          const reasons = this.qualityReasons(data.password, policy, base);
          if (reasons.length > 0)
            throw new DirectoryError(
              'invalid_input',
              `createUser.password: rejected by the policy (${reasons.join(', ')})`,
            );
          const hashed = await this.hashNew(data.password, policy, base, true);
          user = { ...base, passwordHash: hashed.credential, passwordSetAt: now, history: hashed.history };
        }
        // Hashing yielded: the names may have been taken meanwhile.
        this.assertNamesFree(user.login, user.upn, undefined);
        await this.adminWrite(userChange(user));
        return this.toPublic(this.mustGet(user.anchor), this.now());
      })(),
    );
  }

  /**
   * Change a user's attributes (by anchor, or by login/UPN). Throws `not_found`, `user_exists`
   * or `invalid_input`.
   */
  async updateUser(anchorOrLogin: string, patch: UpdateUserPatch): Promise<EmbeddedUser> {
    const data = parseInput(UpdateUserSchema, patch, 'updateUser');
    return this.track(
      this.withAdminUser(anchorOrLogin, async (user) => {
        if (data.policyName != null && !this.state.policies.has(data.policyName)) {
          throw new DirectoryError(
            'not_found',
            `updateUser.policyName: no policy named ${JSON.stringify(data.policyName)}`,
          );
        }
        const next: StoredUser = { ...user };
        if (data.login !== undefined) next.login = data.login;
        if (data.enabled !== undefined) next.enabled = data.enabled;
        if (data.protected !== undefined) next.protected = data.protected;
        if (data.mustChange !== undefined) next.mustChange = data.mustChange;
        if (data.groups !== undefined) next.groups = [...new Set(data.groups)];
        for (const key of ['displayName', 'mail', 'upn', 'mobile', 'policyName'] as const) {
          const v = data[key];
          if (v === null) delete next[key];
          else if (v !== undefined) next[key] = v;
        }
        this.assertNamesFree(next.login, next.upn, user.anchor);
        await this.adminWrite(userChange(next));
        return this.toPublic(this.mustGet(user.anchor), this.now());
      }),
    );
  }

  /** Delete a user (leaves a tombstone for changesSince). Throws `not_found`. */
  async deleteUser(anchorOrLogin: string): Promise<void> {
    return this.track(
      this.withAdminUser(anchorOrLogin, async (user) => {
        await this.adminWrite({ type: 'user_deleted', anchor: user.anchor });
      }),
    );
  }

  /** A user by anchor or login/UPN, null when absent. */
  getUser(anchorOrLogin: string): EmbeddedUser | null {
    this.assertOpen();
    const user = this.lookupAdmin(anchorOrLogin);
    return user ? this.toPublic(user, this.now()) : null;
  }

  /** Every user, by login. */
  listUsers(): EmbeddedUser[] {
    this.assertOpen();
    const now = this.now();
    return [...this.state.users.values()]
      .map((u) => this.toPublic(u, now))
      .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
  }

  /** The default policy (complete) and the fine-grained policies (their overrides). */
  listPolicies(): { default: PasswordPolicy; policies: Record<string, PolicySettings> } {
    this.assertOpen();
    return {
      default: { ...this.defaultPolicy() },
      policies: Object.fromEntries([...this.state.policies].map(([k, v]) => [k, { ...v }])),
    };
  }

  /** Change fields of the default policy; returns the complete new default. Throws `invalid_input`. */
  async setDefaultPolicy(settings: PolicySettings): Promise<PasswordPolicy> {
    return this.track(
      (async () => {
        const parsed = parseInput(PolicySettingsSchema, settings, 'setDefaultPolicy');
        const policy = mergePolicy(this.defaultPolicy(), parsed);
        if (policy.minLength > policy.maxLength)
          throw new DirectoryError('invalid_input', 'setDefaultPolicy.minLength: greater than maxLength');
        await this.adminWrite({ type: 'default_policy', policy });
        return { ...policy };
      })(),
    );
  }

  /**
   * Define (or redefine) a fine-grained policy: overrides over the default policy, field by field.
   * Returns the policy as it resolves now. Throws `invalid_input`.
   */
  async definePolicy(name: string, settings: PolicySettings): Promise<PasswordPolicy> {
    return this.track(
      (async () => {
        const policyName = parseInput(PolicyNameSchema, name, 'definePolicy.name');
        const parsed = parseInput(PolicySettingsSchema, settings, 'definePolicy');
        const resolved = mergePolicy(this.defaultPolicy(), parsed);
        if (resolved.minLength > resolved.maxLength)
          throw new DirectoryError('invalid_input', 'definePolicy.minLength: greater than maxLength');
        await this.adminWrite({ type: 'policy', name: policyName, settings: parsed });
        return resolved;
      })(),
    );
  }

  /** Remove a fine-grained policy; its users fall back to the default. Throws `not_found`. */
  async removePolicy(name: string): Promise<void> {
    return this.track(
      (async () => {
        if (!this.state.policies.has(name))
          throw new DirectoryError('not_found', `removePolicy: no policy named ${JSON.stringify(name)}`);
        await this.adminWrite({ type: 'policy_removed', name });
        const assigned = [...this.state.users.values()].filter((u) => u.policyName === name);
        await Promise.all(
          assigned.map((u) =>
            this.queue.run(u.anchor, async () => {
              const cur = this.state.users.get(u.anchor);
              if (!cur || cur.policyName !== name || this.state.policies.has(name)) return;
              const next = { ...cur };
              delete next.policyName;
              await this.adminWrite(userChange(next));
            }),
          ),
        );
      })(),
    );
  }

  /**
   * Users changed (created, updated, password set, locked...) or deleted after `seq`, oldest first,
   * at most `limit`. Survives compaction: each user keeps its last change's seq, deletions leave a
   * tombstone. A user changed twice appears once, with its latest state.
   */
  changesSince(seq: number, limit = 1000): ChangesPage {
    this.assertOpen();
    if (!Number.isInteger(seq) || seq < 0)
      throw new DirectoryError('invalid_input', 'changesSince.seq: a non-negative integer');
    if (!Number.isInteger(limit) || limit < 1)
      throw new DirectoryError('invalid_input', 'changesSince.limit: a positive integer');
    const now = this.now();
    const found: ({ seq: number; user: StoredUser } | { seq: number; anchor: string; at: number })[] = [];
    for (const u of this.state.users.values()) if (u.seq > seq) found.push({ seq: u.seq, user: u });
    for (const t of this.state.tombstones.values()) if (t.seq > seq) found.push(t);
    found.sort((a, b) => a.seq - b.seq);
    const page = found.slice(0, limit);
    const changes: DirectoryChange[] = page.map((c) =>
      'user' in c
        ? { seq: c.seq, type: 'user', user: this.toPublic(c.user, now) }
        : { seq: c.seq, type: 'user_deleted', anchor: c.anchor, at: new Date(c.at).toISOString() },
    );
    const more = found.length > limit;
    const last = page[page.length - 1];
    return { changes, cursor: more && last ? last.seq : Math.max(seq, this.state.seq), more };
  }

  /** Fold the journal into the snapshot now (it also happens on open and as the journal grows). */
  compact(): Promise<void> {
    this.assertOpen();
    return this.store.compact();
  }

  // ---------------------------------------------------------------- internals

  private assertOpen(): void {
    if (this.closing) throw new DirectoryError('closed', 'embedded directory is closed');
  }

  /** Keep `close()` waiting for this operation. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private lookup(ref: UserRef): StoredUser | undefined {
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

  private lookupAdmin(anchorOrLogin: string): StoredUser | undefined {
    if (typeof anchorOrLogin !== 'string' || anchorOrLogin.length === 0 || anchorOrLogin.length > MAX_USER_REF_LENGTH)
      return undefined;
    return this.state.users.get(anchorOrLogin) ?? this.state.findByLogin(anchorOrLogin);
  }

  private mustGet(anchor: string): StoredUser {
    const u = this.state.users.get(anchor);
    if (!u) throw new DirectoryError('not_found', 'user vanished');
    return u;
  }

  /**
   * Find the user, then run `op` in the user's queue against the user's latest record. An unknown
   * user whose password we were given costs one hash anyway, so timing does not tell them apart.
   */
  private async withUser(
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

  private async withAdminUser<T>(anchorOrLogin: string, op: (user: StoredUser) => Promise<T>): Promise<T> {
    this.assertOpen();
    const found = this.lookupAdmin(anchorOrLogin);
    if (!found) throw new DirectoryError('not_found', 'no such user');
    return this.queue.run(found.anchor, async () => {
      const user = this.state.users.get(found.anchor);
      if (!user) throw new DirectoryError('not_found', 'no such user');
      return op(user);
    });
  }

  private assertNamesFree(login: string, upn: string | undefined, self: string | undefined): void {
    if (this.state.nameTaken(login, self)) throw new DirectoryError('user_exists', 'login already in use');
    if (upn !== undefined && this.state.nameTaken(upn, self))
      throw new DirectoryError('user_exists', 'upn already in use');
  }

  /** Journal a change for a directory operation: null when written, else the outcome to answer. */
  private async write(change: Change): Promise<OperationResult | null> {
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
  private async adminWrite(change: Change): Promise<void> {
    try {
      await this.store.commit(change);
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      throw new DirectoryError('store_failed', 'embedded directory could not write the change', { cause: err });
    }
  }

  private defaultPolicy(): PasswordPolicy {
    return this.state.defaultPolicy ?? { ...DEFAULT_POLICY };
  }

  private resolvePolicy(user: StoredUser): ResolvedPolicy {
    const base = this.defaultPolicy();
    const settings = user.policyName === undefined ? undefined : this.state.policies.get(user.policyName);
    return settings
      ? { policy: mergePolicy(base, settings), name: user.policyName }
      : { policy: base, name: undefined };
  }

  private times(user: StoredUser): PasswordTimes {
    return { passwordLastSetAt: user.mustChange ? null : user.passwordSetAt };
  }

  /** The user's policy with the time a lockout in force ends (null: until an administrator unlocks it). */
  private lockedPolicy(user: StoredUser, now: number): EffectivePolicy {
    const { policy } = this.resolvePolicy(user);
    const ends =
      user.lockedAt !== null && policy.lockoutDurationSeconds > 0
        ? new Date(user.lockedAt + policy.lockoutDurationSeconds * 1000).toISOString()
        : null;
    return { ...this.effectivePolicy(user, now), lockedUntil: ends };
  }

  private effectivePolicy(user: StoredUser, now: number): EffectivePolicy {
    const { policy, name } = this.resolvePolicy(user);
    return toEffectivePolicy(policy, { name, times: this.times(user), now });
  }

  private qualityReasons(password: string, policy: PasswordPolicy, user: StoredUser): PolicyReason[] {
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
  private async hashNew(
    password: string,
    policy: PasswordPolicy,
    user: StoredUser,
    withCredential: true,
  ): Promise<{ reused: boolean; history: string[]; credential: string }>;
  private async hashNew(
    password: string,
    policy: PasswordPolicy,
    user: StoredUser,
    withCredential: boolean,
  ): Promise<{ reused: boolean; history: string[]; credential: string | null }>;
  private async hashNew(
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

  private async checkPassword(user: StoredUser, password: string): Promise<boolean> {
    if (user.passwordHash === null || password.length > MAX_PASSWORD_LENGTH) {
      await spendVerifyTime(password.slice(0, MAX_PASSWORD_LENGTH), this.config.hash);
      return false;
    }
    return verifyPassword(password, user.passwordHash);
  }

  private async badAttempt(user: StoredUser, policy: PasswordPolicy, now: number): Promise<OperationResult> {
    const lockout = recordBadAttempt(user, policy, now);
    if (lockout !== user && this.store.failed === null) {
      // The answer stays wrong_current_password even if the counter could not be written.
      await this.write(userChange({ ...user, ...lockout }));
    }
    return { outcome: 'wrong_current_password', data: { locked: isLocked(lockout, policy, now) } };
  }

  private violation(
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

  private toPublic(user: StoredUser, now: number): EmbeddedUser {
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
  private toSynced(user: StoredUser, now: number): SyncedUser {
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
