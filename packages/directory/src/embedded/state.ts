/**
 * The embedded directory's in-memory state and the records that change it. The same `apply` runs
 * when a change is made and when the journal is replayed on open, so the two cannot drift apart.
 * Every record carries a sequence number; each user keeps the number of its last change and deleted
 * users leave a tombstone, so "changes since seq N" survives compaction (AD's uSNChanged, in small).
 * Records and snapshots come from disk: they are parsed with the schemas below, never cast.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PolicySettingsSchema, type PolicySettings } from './config.js';
import type { PasswordPolicy } from './policy.js';

const ms = z.number().int().min(0);

export const StoredUserSchema = z.object({
  anchor: z.string().min(1).max(256),
  login: z.string().min(1).max(256),
  upn: z.string().max(1024).optional(),
  mail: z.string().max(1024).optional(),
  displayName: z.string().max(1024).optional(),
  mobile: z.string().max(64).optional(),
  /** Group names the user is a member of (sync scope, SSPR groups). */
  groups: z.array(z.string().min(1).max(256)).max(1000).optional(),
  enabled: z.boolean(),
  protected: z.boolean(),
  mustChange: z.boolean(),
  policyName: z.string().max(256).optional(),
  /** Encoded scrypt hash of the current password (null: none set). */
  passwordHash: z.string().max(512).nullable(),
  /** When the password was last set, must-change or not. */
  passwordSetAt: ms.nullable(),
  /** Salt of this user's history digests (base64), shared so a history check is one scrypt. */
  historySalt: z.string().max(128),
  /** Digests of the remembered passwords, newest (the current one) first. */
  history: z.array(z.string().max(512)).max(1024),
  badCount: z.number().int().min(0),
  lastBadAt: ms.nullable(),
  lockedAt: ms.nullable(),
  createdAt: ms,
});
/** A user as the store keeps it (hashes included, never a password). `seq`: its last change. */
export type StoredUser = z.infer<typeof StoredUserSchema> & { seq: number };

const CompletePolicySchema = z
  .object({
    minLength: z.number(),
    maxLength: z.number(),
    complexity: z.boolean(),
    historyLength: z.number(),
    minAgeSeconds: z.number(),
    maxAgeSeconds: z.number(),
    lockoutThreshold: z.number(),
    lockoutDurationSeconds: z.number(),
    lockoutObservationSeconds: z.number(),
  })
  .strict();

const meta = { seq: z.number().int().min(1), at: ms };
const userChange = z.object({ type: z.literal('user'), user: StoredUserSchema });
const userDeleted = z.object({ type: z.literal('user_deleted'), anchor: z.string().min(1).max(256) });
const defaultPolicyChange = z.object({ type: z.literal('default_policy'), policy: CompletePolicySchema });
const policyChange = z.object({
  type: z.literal('policy'),
  name: z.string().min(1).max(256),
  settings: PolicySettingsSchema,
});
const policyRemoved = z.object({ type: z.literal('policy_removed'), name: z.string().min(1).max(256) });

/** A change, before it is numbered. */
export const ChangeSchema = z.discriminatedUnion('type', [
  userChange,
  userDeleted,
  defaultPolicyChange,
  policyChange,
  policyRemoved,
]);
export type Change = z.infer<typeof ChangeSchema>;

/** One journal line: a change with its sequence number and time. */
export const JournalRecordSchema = z.discriminatedUnion('type', [
  userChange.extend(meta),
  userDeleted.extend(meta),
  defaultPolicyChange.extend(meta),
  policyChange.extend(meta),
  policyRemoved.extend(meta),
]);
export type JournalRecord = z.infer<typeof JournalRecordSchema>;

export const TombstoneSchema = z.object({ anchor: z.string().min(1).max(256), ...meta });
export type Tombstone = z.infer<typeof TombstoneSchema>;

export const SNAPSHOT_FORMAT = 'writeback-embedded-directory';
export const SnapshotSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(1),
  seq: z.number().int().min(0),
  /** Random id of this store, made at its first open: a cursor from another (replaced, restored) store is refused. */
  storeId: z.string().min(1).max(64).optional(),
  defaultPolicy: CompletePolicySchema.nullable(),
  policies: z.record(z.string(), PolicySettingsSchema),
  users: z.array(StoredUserSchema.extend({ seq: meta.seq })),
  tombstones: z.array(TombstoneSchema),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

/**
 * Fold ASCII letters only. Unicode case folding would let look-alikes match (the Kelvin sign K
 * lowercases to "k", dotted İ to "i̇"), so a login matches only its own ASCII case variants.
 */
export function foldLogin(value: string): string {
  return value.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export class DirectoryState {
  seq = 0;
  /** See SnapshotSchema.storeId; a store without one gets one now (and keeps it from the next snapshot on). */
  storeId: string = randomUUID();
  /** The stored default policy (null: never set, the built-in default applies). */
  defaultPolicy: PasswordPolicy | null = null;
  readonly policies = new Map<string, PolicySettings>();
  readonly users = new Map<string, StoredUser>();
  readonly tombstones = new Map<string, Tombstone>();
  private readonly byLogin = new Map<string, string>();
  private readonly byUpn = new Map<string, string>();

  /** Apply a numbered change. */
  apply(record: JournalRecord): void {
    this.seq = record.seq;
    switch (record.type) {
      case 'user': {
        const prev = this.users.get(record.user.anchor);
        if (prev) this.unindex(prev);
        const user: StoredUser = { ...record.user, seq: record.seq };
        this.users.set(user.anchor, user);
        this.index(user);
        return;
      }
      case 'user_deleted': {
        const prev = this.users.get(record.anchor);
        if (prev) this.unindex(prev);
        this.users.delete(record.anchor);
        this.tombstones.set(record.anchor, { anchor: record.anchor, seq: record.seq, at: record.at });
        return;
      }
      case 'default_policy':
        this.defaultPolicy = { ...record.policy };
        return;
      case 'policy':
        this.policies.set(record.name, { ...record.settings });
        return;
      case 'policy_removed':
        this.policies.delete(record.name);
        return;
    }
  }

  /** The user whose login or UPN is `value` (ASCII case-insensitive, otherwise exact). */
  findByLogin(value: string): StoredUser | undefined {
    const key = foldLogin(value);
    const anchor = this.byLogin.get(key) ?? this.byUpn.get(key);
    return anchor === undefined ? undefined : this.users.get(anchor);
  }

  /** Whether a login or UPN is taken by a user other than `except`. */
  nameTaken(value: string, except?: string): boolean {
    const u = this.findByLogin(value);
    return u !== undefined && u.anchor !== except;
  }

  toSnapshot(): Snapshot {
    return {
      format: SNAPSHOT_FORMAT,
      version: 1,
      seq: this.seq,
      storeId: this.storeId,
      defaultPolicy: this.defaultPolicy,
      policies: Object.fromEntries(this.policies),
      users: [...this.users.values()],
      tombstones: [...this.tombstones.values()],
    };
  }

  static fromSnapshot(s: Snapshot): DirectoryState {
    const st = new DirectoryState();
    st.seq = s.seq;
    if (s.storeId !== undefined) st.storeId = s.storeId;
    st.defaultPolicy = s.defaultPolicy;
    for (const [name, settings] of Object.entries(s.policies)) st.policies.set(name, settings);
    for (const u of s.users) {
      st.users.set(u.anchor, u);
      st.index(u);
    }
    for (const t of s.tombstones) st.tombstones.set(t.anchor, t);
    return st;
  }

  private index(u: StoredUser): void {
    this.byLogin.set(foldLogin(u.login), u.anchor);
    if (u.upn !== undefined) this.byUpn.set(foldLogin(u.upn), u.anchor);
  }

  private unindex(u: StoredUser): void {
    const login = foldLogin(u.login);
    if (this.byLogin.get(login) === u.anchor) this.byLogin.delete(login);
    if (u.upn !== undefined) {
      const upn = foldLogin(u.upn);
      if (this.byUpn.get(upn) === u.anchor) this.byUpn.delete(upn);
    }
  }
}
