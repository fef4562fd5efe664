/**
 * The Directory interface: what every directory adapter (embedded, ad, openldap) offers the agent.
 *
 * Adapters never throw for things the directory decided (policy, wrong password, locked...): they
 * answer an OperationResult with an outcome code. They throw DirectoryError only for programming
 * or configuration errors. When a write may or may not have reached the directory (connection lost
 * after the request went out), the outcome is `outcome_unknown`, never `succeeded`.
 */
import {
  createLogger,
  type EffectivePolicy,
  type Logger,
  type OperationResult,
  type SyncAnchorsData,
  type SyncPullData,
  type UserRef,
} from '@writeback/protocol';

export type DirectoryKind = 'embedded' | 'ad' | 'openldap';

/** What every directory and doctor takes from its host (tests freeze the clock and capture the log). */
export interface DirectoryDeps {
  log?: Logger;
  /** Clock (ms since epoch) for lockout, minimum-age and skew arithmetic. */
  now?: () => number;
}

/** The host's logger and clock, else a logger named `name` and the system clock. */
export function hostOf(deps: DirectoryDeps, name: string): Required<DirectoryDeps> {
  return { log: deps.log ?? createLogger({ name }), now: deps.now ?? Date.now };
}

/** What a directory can and cannot do; the cloud and the UI read these instead of guessing. */
export interface DirectoryCapabilities {
  /** An admin reset can be made to honour password history (AD policy hints; embedded: yes). */
  enforcesHistoryOnReset: boolean;
  /**
   * An admin reset that enforces history is also refused inside the minimum password age (AD: the
   * DC takes LDAP_SERVER_POLICY_HINTS, which Windows Server 2016+ applies to both). Absent: not
   * known. policy.get's data says the same per request (`resetHonoursMinAge`).
   */
  adminResetHonoursMinAge?: boolean;
  /** Policy failures come back with an exact reason (not one generic code). */
  exactPolicyReasons: boolean;
  /** Must-change-at-next-logon can be set on reset. */
  forceChangeOnReset: boolean;
  /** Locked accounts can be unlocked. */
  unlock: boolean;
  /** Fine-grained (per-user / per-group) policies exist and are resolved by policy.get. */
  fineGrainedPolicies: boolean;
  /** Pass-through sign-in (credentials.verify) is supported. */
  verifyCredentials: boolean;
}

/** A user as the directory knows it (non-secret attributes only). */
export interface DirectoryUser {
  /** Immutable anchor: AD objectGUID (as a GUID string), LDAP entryUUID, embedded id. */
  anchor: string;
  /** sAMAccountName / uid / embedded login. */
  login: string;
  dn?: string;
  userPrincipalName?: string;
  mail?: string;
  displayName?: string;
  enabled: boolean;
  locked: boolean;
  mustChange: boolean;
  /** Protected/privileged account (AD adminCount=1, embedded `protected`). */
  protected: boolean;
  /** ISO time of the last password set, null when must-change is pending or never set. */
  passwordLastSetAt: string | null;
}

export interface ResetOptions {
  forceChange: boolean;
  unlock: boolean;
  enforceHistory: boolean;
}

export interface DirectoryHealth {
  ok: boolean;
  kind: DirectoryKind;
  /** Round trip to the directory, ms. */
  latencyMs: number;
  detail?: string;
}

/**
 * Sync source: what the cloud's pulls read (see packages/protocol/src/sync.ts). Only users in the
 * adapter's configured scope are ever returned, and writes to users outside scope answer
 * user_not_found.
 */
export interface SyncSource {
  /** Changes after `cursor` (null: everything in scope, from the start), bounded by `limit` and MAX_SYNC_BATCH_BYTES. */
  pullChanges(cursor: string | null, limit: number): Promise<SyncPullData>;
  /** Every anchor in scope, page by page (deletion detection). */
  listAnchors(cursor: string | null, limit: number): Promise<SyncAnchorsData>;
}

export interface Directory {
  readonly kind: DirectoryKind;
  readonly capabilities: DirectoryCapabilities;
  /** Admin reset (no current password). */
  resetPassword(user: UserRef, newPassword: string, options: ResetOptions): Promise<OperationResult>;
  /** User change: the directory checks the current password in the same write. */
  changePassword(user: UserRef, currentPassword: string, newPassword: string): Promise<OperationResult>;
  unlock(user: UserRef): Promise<OperationResult>;
  /** Effective policy for the user (or the default policy when no user is given): result.policy. */
  getPolicy(user?: UserRef): Promise<OperationResult>;
  /** Pass-through sign-in check. succeeded / wrong_current_password / account_locked / ... */
  verifyCredentials(user: UserRef, password: string): Promise<OperationResult>;
  /** Look a user up (no secrets). null when not found; throws never for "not found". */
  findUser(user: UserRef): Promise<DirectoryUser | null | 'ambiguous'>;
  health(): Promise<DirectoryHealth>;
  close(): Promise<void>;
  /** Present when the adapter can sync users up to the cloud. */
  readonly sync?: SyncSource;
}

export type { EffectivePolicy };
