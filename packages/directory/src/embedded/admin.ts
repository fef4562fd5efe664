/**
 * The embedded directory's administration (the demo's and the tests' way to make users and
 * policies): create, update and delete users, the default and fine-grained policies, the change
 * feed and compaction. Failures throw DirectoryError (invalid_input, user_exists, not_found,
 * closed, store_failed); directory operations answer outcomes instead (embedded-directory.ts).
 */
import { randomUUID } from 'node:crypto';
import { DirectoryError } from '../errors.js';
import { PolicySettingsSchema, type PolicySettings } from './config.js';
import { EmbeddedCore, userChange, type EmbeddedUser } from './core.js';
import { newSalt } from './hash.js';
import { mergePolicy, NO_LOCKOUT, type PasswordPolicy } from './policy.js';
import {
  CreateUserSchema,
  parseInput,
  PolicyNameSchema,
  UpdateUserSchema,
  type CreateUserInput,
  type UpdateUserPatch,
} from './schemas.js';
import type { StoredUser } from './state.js';

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

/** The administration of users and policies (EmbeddedDirectory adds the directory operations). */
export abstract class EmbeddedAdmin extends EmbeddedCore {
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
}
