/**
 * The OpenLDAP adapter: password writes through the RFC 3062 Password Modify extended operation
 * with the ppolicy request control, so slapd's own policy decides and its response control says
 * why (too short, too young, in history...).
 *
 * Semantics:
 * - Users are found by `{by:'anchor'}` (entryUUID; a value that is not a UUID matches nobody) or
 *   `{by:'login'}` (the login attribute, `uid` by default), under baseDn and userFilter, with filter
 *   OBJECTS, never string concatenation: `*`, `(`, `\`, NUL, `,`, `=` are plain characters that
 *   match nobody else. Two matches: ambiguous_user.
 * - Checks run in this order; the first that applies is the answer:
 *   reset:  user_not_found / ambiguous_user, protected_account (member of a protectedGroup, unless
 *           allowProtected), account_disabled (pwdAccountLockedTime 000001010000Z), then slapd.
 *   change: the same, then account_locked (pwdAccountLockedTime in force), then the user's bind
 *           (wrong_current_password, counted by slapd toward lockout; account_locked), then slapd.
 *   unlock: user_not_found, protected_account, account_disabled; succeeded with data.wasLocked.
 *   verify: user_not_found, account_disabled, account_locked, then the user's bind; succeeded with
 *           data { mustChange, expired }.
 * - WHY a change binds as the user (and not as the service account with oldPasswd): slapd decides
 *   "user or administrator" from the BOUND identity. A service account with `manage` bypasses every
 *   check even when it sends oldPasswd; one with `write` gets the user's checks, but only because
 *   of how its ACL happens to be written. Bound as the user, slapd applies the user's rules
 *   whatever the service account's right. The bind also makes a wrong current password count toward lockout (an exop oldPasswd
 *   mismatch does not), and a locked account fails the bind. Cost: one short-lived connection.
 *   The one exception: an EXPIRED password cannot bind, so that change goes through the service
 *   account with oldPasswd, and only when serviceAccountEnforcesPolicy says slapd will enforce the
 *   policy on it (otherwise access_denied rather than a change that skips the rules).
 * - A reset is the exop as the service account without oldPasswd. Whether slapd enforces the
 *   policy depends on the service account's right (`write`: like the user, history and minimum
 *   age included; `manage`: bypass); the adapter cannot read ACLs, so `serviceAccountEnforcesPolicy`
 *   says which, `historyEnforced` reports it, and the doctor checks it on a canary. slapd itself
 *   clears a lockout when a password is set; `forceChange` sets pwdReset TRUE (a manage account's
 *   reset sets it on its own when pwdMustChange is on, so without forceChange it is removed).
 * - An empty new password is refused before anything is sent (slapd would generate one when the
 *   field is missing); an empty current password too (an empty simple bind is anonymous).
 * - Connection lost or timed out after the request went out: outcome_unknown; before it:
 *   directory_unavailable. An LDAP error result means slapd did not apply the operation.
 * - Raw diagnostics go to the log only; results carry codes, reasons and the effective policy.
 * - Policy entries are cached for a minute per adapter: a policy edited in the directory shows in
 *   policy.get and in lockout arithmetic up to a minute later (slapd itself enforces at once).
 *
 * One file (over 400 lines) on purpose: it maps the protocol's operations onto slapd's quirks
 * (Password Modify, ppolicy control, binding as the user), kept together so each operation reads top
 * to bottom; the reusable parts are already beside it (connection, policy, write-outcome, ber) or
 * shared with the AD adapter in ../ldap (server list, pool, TLS, the write pipeline: reset, change
 * and unlock run ../ldap/operation.ts with this file's driver).
 */
import {
  createLogger,
  MAX_PASSWORD_LENGTH,
  MAX_USER_REF_LENGTH,
  type Logger,
  type OperationResult,
  type UserRef,
} from '@writeback/protocol';
import { AndFilter, Attribute, Change, EqualityFilter, OrFilter, type Filter } from 'ldapts';
import type { Directory, DirectoryCapabilities, DirectoryHealth, DirectoryUser, ResetOptions } from '../directory.js';
import { hostOf, type DirectoryDeps } from '../directory.js';
import { changeThrough, resetThrough, unlockThrough, verifyThrough, type WriteDriver } from '../ldap/operation.js';
import { TtlCache } from '../ttl-cache.js';
import { DirectoryError } from '../errors.js';
import { resolveOpenLdapConfig, type OpenLdapConfig, type ResolvedOpenLdapConfig } from './config.js';
import {
  BindRejectedError,
  connectAndBind,
  isResultCodeError,
  serverList,
  ServicePool,
  UnreachableError,
  type OpenedClient,
  type PooledConnection,
} from './connection.js';
import type { ServerList } from '../ldap/server-list.js';
import { encodePasswordModifyRequest, PASSWORD_MODIFY_OID, wipe } from './password-modify.js';
import {
  first,
  isDisabled,
  isLocked,
  settingsFromEntry,
  lockedPolicy,
  toEffectivePolicy,
  userStateFromEntry,
  values,
  type PpolicySettings,
  type RawEntry,
  type UserPasswordState,
} from './policy.js';
import { PasswordPolicyControl, type PasswordPolicyResponse } from './ppolicy-control.js';
import { outcomeForWriteResult } from './write-outcome.js';
import { OpenLdapSyncSource } from './sync.js';
import { isDnWithin, normalizeDn } from '../sync-window.js';

/** What the adapter needs from its host. */
export type OpenLdapDeps = DirectoryDeps;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POLICY_ATTRS = [
  'pwdMinLength',
  'pwdMaxLength',
  'pwdCheckQuality',
  'pwdInHistory',
  'pwdMinAge',
  'pwdMaxAge',
  'pwdMaxFailure',
  'pwdLockout',
  'pwdLockoutDuration',
  'pwdMustChange',
  'pwdSafeModify',
];
const POLICY_CACHE_MS = 60_000;

/** A user as looked up for one operation. */
interface Found {
  entry: RawEntry;
  dn: string;
  login: string;
  state: UserPasswordState;
}

type Lookup = { kind: 'found'; user: Found } | { kind: 'none' } | { kind: 'ambiguous' };

/** The user of a write, with its policy once read (undefined: not read yet). */
interface Target extends Found {
  policy?: PpolicySettings | null;
}

const result = (
  outcome: OperationResult['outcome'],
  extra: Omit<OperationResult, 'outcome'> = {},
): OperationResult => ({
  outcome,
  ...extra,
});

/** Thrown inside an operation to answer at once with this result. */
class Answer extends Error {
  constructor(readonly result: OperationResult) {
    super(result.outcome);
  }
}

/**
 * A failure of a step that sends nothing the directory could apply (a search, a guard finding the
 * connection gone, a write refused before its request left): the connection broke under it. Not a
 * result from the server, not an answer, not a refused bind, not a timeout.
 */
function lostBeforeWrite(err: unknown): boolean {
  if (err instanceof Answer || err instanceof DirectoryError || err instanceof BindRejectedError) return false;
  if (isResultCodeError(err)) return false;
  if (err instanceof UnreachableError) return err.reason === 'lost' || err.reason === 'network';
  return err instanceof Error && !/timed? ?out/i.test(err.message);
}

export class OpenLdapDirectory implements Directory {
  readonly kind = 'openldap' as const;
  readonly capabilities: DirectoryCapabilities;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly servers: ServerList;
  private readonly pool: ServicePool;
  private readonly policyCache = new TtlCache<string, PpolicySettings | null>(POLICY_CACHE_MS, () => this.now());
  /** Normalised scope.baseDns when they differ from [baseDn] (lookups then check the DN found). */
  private readonly scopeBases: readonly string[] | undefined;
  /** Users in scope and their changes, for the cloud's pulls (packages/protocol/src/sync.ts). */
  readonly sync: OpenLdapSyncSource;

  /** Use openOpenLdapDirectory(); this takes an already parsed configuration. */
  constructor(
    private readonly config: ResolvedOpenLdapConfig,
    deps: OpenLdapDeps = {},
  ) {
    ({ log: this.log, now: this.now } = hostOf(deps, 'directory.openldap'));
    this.servers = serverList(config.urls, config.serverRetryMs, () => Date.now());
    this.pool = new ServicePool(config, this.servers, this.log);
    const bases = config.resolvedScope.baseDns.map(normalizeDn);
    this.scopeBases = bases.length === 1 && bases[0] === normalizeDn(config.baseDn) ? undefined : bases;
    this.sync = new OpenLdapSyncSource(config, this.pool, {
      log: this.log,
      isClosed: () => this.pool.isClosed,
      now: this.now,
    });
    this.capabilities = Object.freeze({
      enforcesHistoryOnReset: config.serviceAccountEnforcesPolicy,
      exactPolicyReasons: true,
      forceChangeOnReset: true,
      unlock: true,
      fineGrainedPolicies: true,
      verifyCredentials: true,
    });
  }

  // ---------------------------------------------------------------- operations

  resetPassword(ref: UserRef, newPassword: string, options: ResetOptions): Promise<OperationResult> {
    return resetThrough(this.driver, ref, newPassword, options);
  }

  changePassword(ref: UserRef, currentPassword: string, newPassword: string): Promise<OperationResult> {
    // An empty current password would bind anonymously; an oversized one cannot be right.
    return changeThrough(this.driver, ref, currentPassword, newPassword, () =>
      currentPassword === '' || currentPassword.length > MAX_PASSWORD_LENGTH ? result('wrong_current_password') : null,
    );
  }

  unlock(ref: UserRef): Promise<OperationResult> {
    return unlockThrough(this.driver, ref);
  }

  /** The steps of a write (ldap/operation.ts) on slapd. */
  private readonly driver: WriteDriver<PooledConnection, Target> = {
    run: (op, _ref, steps) => this.operation(op, steps),
    find: async (conn, ref) => {
      const lookup = await this.lookup(conn, ref);
      if (lookup.kind === 'none') return { answer: result('user_not_found') };
      if (lookup.kind === 'ambiguous') return { answer: result('ambiguous_user') };
      return { user: { ...lookup.user } };
    },
    refuse: async (conn, user, op) => {
      // A sign-in is not a write: protection does not apply to it.
      if (op !== 'verify' && (await this.refusesProtected(conn, user))) return result('protected_account');
      if (isDisabled(user.state)) return result('account_disabled');
      if (op !== 'change' && op !== 'verify') return null;
      const policy = await this.policyOf(conn, user);
      if (!isLocked(user.state, policy, this.now())) return null;
      if (op === 'verify') return result('account_locked');
      // Says when the lockout ends (issue 12: the message could only say "ask an administrator").
      const locked = lockedPolicy(policy, user.state);
      return result('account_locked', locked ? { policy: locked } : {});
    },
    precheck: async (conn, user, newPassword, op) => {
      const early = this.refuseUnsendable(newPassword, await this.policyOf(conn, user), user.state);
      if (!early) return null;
      return op === 'reset' ? { ...early, historyEnforced: this.config.serviceAccountEnforcesPolicy } : early;
    },
    reset: (conn, user, newPassword, options) => this.writeReset(conn, user, newPassword, options),
    change: (conn, user, currentPassword, newPassword) => this.writeChange(conn, user, currentPassword, newPassword),
    unlock: (conn, user) => this.writeUnlock(conn, user),
    verify: (_conn, user, password) => this.bindAsUser(user, password),
  };

  /** The Password Modify exop as the service account, then the must-change and lockout flags. */
  private async writeReset(
    conn: PooledConnection,
    user: Target,
    newPassword: string,
    options: ResetOptions,
  ): Promise<OperationResult> {
    const policy = await this.policyOf(conn, user);
    const historyEnforced = this.config.serviceAccountEnforcesPolicy;
    await this.writePassword(conn.client, user, { newPassword }, policy, conn);

    // The password is set from here on: whatever fails below, the answer stays `succeeded`.
    const data: Record<string, unknown> = {};
    const extra: Omit<OperationResult, 'outcome'> = { historyEnforced };
    try {
      const after = (await this.readEntry(conn, user.dn)) ?? user.entry;
      let state = userStateFromEntry(after);
      if (options.unlock && state.lockedTime !== undefined && !isDisabled(state)) {
        await this.deleteIfPresent(conn, user.dn, 'pwdAccountLockedTime');
        state = { ...state, lockedTime: undefined };
      }
      if (options.forceChange && !state.reset) {
        await this.guard(conn, () =>
          conn.client.modify(
            user.dn,
            new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdReset', values: ['TRUE'] }) }),
          ),
        );
        state = { ...state, reset: true };
      } else if (!options.forceChange && state.reset) {
        await this.deleteIfPresent(conn, user.dn, 'pwdReset');
        state = { ...state, reset: false };
      }
      data.locked = isLocked(state, policy, this.now());
      data.mustChange = state.reset;
    } catch (err) {
      this.log.warn('openldap: password reset, but a follow-up step failed', {
        dn: user.dn,
        err: this.describe(err),
      });
      data.followUpFailed = true;
      if (isResultCodeError(err) && err.code === 50) {
        extra.missingRight = options.forceChange ? 'manage on pwdReset' : 'manage on pwdReset / pwdAccountLockedTime';
      }
      extra.detail = options.forceChange
        ? 'password set, but must-change-at-next-logon could not be set'
        : 'password set, but the account flags could not be updated';
    }
    return result('succeeded', { ...extra, data });
  }

  /** Bound as the user (see the header), the Password Modify exop with the old password. */
  private async writeChange(
    conn: PooledConnection,
    user: Target,
    currentPassword: string,
    newPassword: string,
  ): Promise<OperationResult> {
    const policy = await this.policyOf(conn, user);
    let bindCtl: PasswordPolicyControl | undefined;
    let session: OpenedClient;
    try {
      session = await connectAndBind(this.config, this.servers, user.dn, currentPassword, () => {
        bindCtl = new PasswordPolicyControl();
        return [bindCtl];
      });
    } catch (err) {
      const resp = bindCtl?.response ?? null;
      if (err instanceof BindRejectedError && err.code === 49 && resp?.error === 'passwordExpired') {
        return this.changeExpired(conn, user, currentPassword, newPassword, policy);
      }
      return this.bindFailure(err, resp, user);
    }
    try {
      await this.writePassword(session.client, user, { oldPassword: currentPassword, newPassword }, policy);
    } finally {
      await session.client.unbind().catch(() => undefined);
    }
    return result('succeeded');
  }

  /** Removes pwdAccountLockedTime. */
  private async writeUnlock(conn: PooledConnection, user: Target): Promise<OperationResult> {
    const policy = await this.policyOf(conn, user);
    const wasLocked = isLocked(user.state, policy, this.now());
    if (user.state.lockedTime !== undefined) {
      try {
        await this.deleteIfPresent(conn, user.dn, 'pwdAccountLockedTime');
      } catch (err) {
        // The guard found the connection lost before the modify went out: nothing sent.
        if (err instanceof UnreachableError && err.reason === 'lost') throw err;
        throw new Answer(this.writeFailure(err, null, 'unlock', policy, user.state));
      }
    }
    return result('succeeded', { data: { wasLocked } });
  }

  async getPolicy(ref?: UserRef): Promise<OperationResult> {
    return this.operation('policy.get', async (conn) => {
      if (ref === undefined) {
        const settings = await this.loadPolicy(conn, this.config.defaultPolicyDn);
        if (!settings) return this.policyUnreadable(this.config.defaultPolicyDn);
        return result('succeeded', { policy: toEffectivePolicy(settings) });
      }
      const user = await this.requireUser(conn, ref);
      const dn = this.policyDnOf(user.entry);
      const settings = await this.loadPolicy(conn, dn);
      if (!settings) return this.policyUnreadable(dn);
      return result('succeeded', { policy: toEffectivePolicy(settings, user.state) });
    });
  }

  verifyCredentials(ref: UserRef, password: string): Promise<OperationResult> {
    return verifyThrough(this.driver, ref, password, () =>
      password === '' || password.length > MAX_PASSWORD_LENGTH ? result('wrong_current_password') : null,
    );
  }

  /** A bind as the user with the ppolicy control: its answer says locked, expired, must change. */
  private async bindAsUser(user: Target, password: string): Promise<OperationResult> {
    let bindCtl: PasswordPolicyControl | undefined;
    try {
      const session = await connectAndBind(this.config, this.servers, user.dn, password, () => {
        bindCtl = new PasswordPolicyControl();
        return [bindCtl];
      });
      await session.client.unbind().catch(() => undefined);
    } catch (err) {
      const resp = bindCtl?.response ?? null;
      // slapd reports passwordExpired only after the password itself was verified.
      if (err instanceof BindRejectedError && err.code === 49 && resp?.error === 'passwordExpired') {
        return result('succeeded', { data: { mustChange: true, expired: true } });
      }
      return this.bindFailure(err, resp, user);
    }
    const resp = bindCtl?.response ?? null;
    const data: Record<string, unknown> = {
      mustChange: resp?.error === 'changeAfterReset' || user.state.reset,
      expired: false,
    };
    if (resp?.timeBeforeExpiration !== undefined) data.expiresInSeconds = resp.timeBeforeExpiration;
    if (resp?.graceAuthNsRemaining !== undefined) {
      data.expired = true;
      data.graceLoginsRemaining = resp.graceAuthNsRemaining;
    }
    return result('succeeded', { data });
  }

  /**
   * Looks a user up (no secrets). null when not found, 'ambiguous' for several matches. Throws
   * DirectoryError `unavailable` when the directory cannot answer, `closed` after close().
   */
  async findUser(ref: UserRef): Promise<DirectoryUser | null | 'ambiguous'> {
    let conn: PooledConnection;
    try {
      conn = await this.acquire();
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      throw new DirectoryError('unavailable', `directory lookup failed: ${this.unavailableDetail(err)}`, {
        cause: err,
      });
    }
    let broken = false;
    try {
      return await this.againIfLost('findUser', conn, () => this.describeUser(conn, ref));
    } catch (err) {
      broken = !isResultCodeError(err);
      if (err instanceof DirectoryError) throw err;
      throw new DirectoryError('unavailable', `directory lookup failed: ${this.unavailableDetail(err)}`, {
        cause: err,
      });
    } finally {
      this.pool.release(conn, broken);
    }
  }

  private async describeUser(conn: PooledConnection, ref: UserRef): Promise<DirectoryUser | null | 'ambiguous'> {
    const found = await this.lookup(conn, ref);
    if (found.kind === 'none') return null;
    if (found.kind === 'ambiguous') return 'ambiguous';
    const user = found.user;
    const policy = await this.policyFor(conn, user.entry);
    const isProtected = await this.isProtected(conn, user);
    const anchor = first(user.entry, this.config.anchorAttribute) ?? '';
    const out: DirectoryUser = {
      anchor,
      login: user.login,
      dn: user.dn,
      enabled: !isDisabled(user.state),
      locked: isLocked(user.state, policy, this.now()),
      mustChange: user.state.reset,
      protected: isProtected,
      passwordLastSetAt:
        user.state.reset || user.state.changedAt === null ? null : new Date(user.state.changedAt).toISOString(),
    };
    const mail = first(user.entry, 'mail');
    if (mail) out.mail = mail;
    const displayName = first(user.entry, 'displayName') ?? first(user.entry, 'cn');
    if (displayName) out.displayName = displayName;
    return out;
  }

  async health(): Promise<DirectoryHealth> {
    const started = performance.now();
    const ms = () => Math.round((performance.now() - started) * 100) / 100;
    if (this.pool.isClosed) return { ok: false, kind: 'openldap', latencyMs: 0, detail: 'closed' };
    let conn: PooledConnection | undefined;
    let broken = false;
    try {
      conn = await this.pool.acquire();
      const c = conn;
      await this.againIfLost('health', c, () =>
        this.guard(c, () => c.client.search('', { scope: 'base', attributes: ['supportedExtension'] })),
      );
      return { ok: true, kind: 'openldap', latencyMs: ms(), detail: conn.url };
    } catch (err) {
      broken = true;
      return { ok: false, kind: 'openldap', latencyMs: ms(), detail: this.unavailableDetail(err) };
    } finally {
      if (conn) this.pool.release(conn, broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  // ---------------------------------------------------------------- steps

  /**
   * Runs one operation on a pooled service connection: maps what escapes (Answer, unreachable
   * server, LDAP errors of the read steps) to an outcome and logs it without secrets.
   */
  private async operation(
    op: string,
    body: (conn: PooledConnection) => Promise<OperationResult>,
  ): Promise<OperationResult> {
    let conn: PooledConnection;
    try {
      conn = await this.acquire();
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      return this.logged(op, this.unavailable(err));
    }
    let broken = false;
    try {
      return this.logged(op, await this.againIfLost(op, conn, () => body(conn)));
    } catch (err) {
      if (err instanceof Answer) return this.logged(op, err.result);
      broken = !isResultCodeError(err);
      if (err instanceof DirectoryError) throw err;
      if (isResultCodeError(err) && err.code === 50) {
        this.log.warn('openldap: access denied while reading', { op, err: this.describe(err) });
        return this.logged(op, result('access_denied', { missingRight: 'read on users, groups and policies' }));
      }
      return this.logged(op, this.unavailable(err));
    } finally {
      this.pool.release(conn, broken);
    }
  }

  private async acquire(): Promise<PooledConnection> {
    if (this.pool.isClosed) throw new DirectoryError('closed', 'the OpenLDAP directory is closed');
    return this.pool.acquire();
  }

  private logged(op: string, r: OperationResult): OperationResult {
    const fields: Record<string, unknown> = { op, outcome: r.outcome };
    if (r.reasons) fields.reasons = r.reasons;
    if (r.missingRight) fields.missingRight = r.missingRight;
    this.log.debug('openldap: operation done', fields);
    return r;
  }

  /** Calls `fn` only if the connection is still bound: checked synchronously, right before. */
  private guard<T>(conn: PooledConnection, fn: () => Promise<T>): Promise<T> {
    if (!conn.usable) return Promise.reject(new UnreachableError('directory connection lost', 'lost'));
    return fn();
  }

  private userFilter(ref: UserRef): Filter | null {
    if (ref.value.length === 0 || ref.value.length > MAX_USER_REF_LENGTH) return null;
    let f: Filter;
    if (ref.by === 'anchor') {
      if (this.config.anchorAttribute.toLowerCase() === 'entryuuid' && !UUID.test(ref.value)) return null;
      f = new EqualityFilter({ attribute: this.config.anchorAttribute, value: ref.value });
    } else {
      f = new EqualityFilter({ attribute: this.config.loginAttribute, value: ref.value });
    }
    // Scope: userFilter, scope.filter (and memberOf) are conditions of the same search.
    const extra = this.config.resolvedScope.extraFilters;
    return extra.length > 0 ? new AndFilter({ filters: [...extra, f] }) : f;
  }

  private userAttributes(): string[] {
    return [
      this.config.anchorAttribute,
      this.config.loginAttribute,
      'cn',
      'displayName',
      'mail',
      'pwdAccountLockedTime',
      'pwdPolicySubentry',
      'pwdChangedTime',
      'pwdReset',
    ];
  }

  private async lookup(conn: PooledConnection, ref: UserRef): Promise<Lookup> {
    const filter = this.userFilter(ref);
    if (!filter) return { kind: 'none' };
    // With scope.baseDns the subtrees are checked on the DNs found (one search below baseDn).
    const res = await this.guard(conn, () =>
      conn.client.search(this.config.baseDn, {
        scope: 'sub',
        filter,
        sizeLimit: this.scopeBases ? 0 : 2,
        attributes: this.userAttributes(),
      }),
    );
    const bases = this.scopeBases;
    const entries = bases
      ? res.searchEntries.filter((e) => bases.some((b) => isDnWithin(normalizeDn(e.dn), b)))
      : res.searchEntries;
    const [entry, second] = entries;
    if (!entry) return { kind: 'none' };
    if (second) return { kind: 'ambiguous' };
    const user: Found = {
      entry,
      dn: entry.dn,
      login: first(entry, this.config.loginAttribute) ?? '',
      state: userStateFromEntry(entry),
    };
    const { group, groupMembership } = this.config.resolvedScope;
    if (group !== undefined && groupMembership === 'member' && !(await this.isDirectMember(conn, group, user)))
      return { kind: 'none' };
    return { kind: 'found', user };
  }

  /**
   * `user` is a direct member of `group` (member / uniqueMember by DN, memberUid by login; not
   * nested). Throws what the search throws: result 32 when the group does not exist or cannot be read.
   */
  private async hasMember(conn: PooledConnection, group: string, user: Found): Promise<boolean> {
    const filters: Filter[] = [
      new EqualityFilter({ attribute: 'member', value: user.dn }),
      new EqualityFilter({ attribute: 'uniqueMember', value: user.dn }),
    ];
    if (user.login) filters.push(new EqualityFilter({ attribute: 'memberUid', value: user.login }));
    const res = await this.guard(conn, () =>
      conn.client.search(group, { scope: 'base', filter: new OrFilter({ filters }), attributes: ['1.1'] }),
    );
    return res.searchEntries.length > 0;
  }

  /** scope.group by its member values (a group that does not exist or cannot be read has no members). */
  private async isDirectMember(conn: PooledConnection, group: string, user: Found): Promise<boolean> {
    try {
      return await this.hasMember(conn, group, user);
    } catch (err) {
      if (isResultCodeError(err) && err.code === 32) {
        this.log.warn('openldap: the scope group does not exist or cannot be read; no user is in scope', { group });
        return false;
      }
      throw err;
    }
  }

  /**
   * Runs `fn` (the steps of one operation on `conn`) once more on a freshly bound connection when
   * it failed because the connection was lost before anything was written: a pooled connection the
   * server (or a middlebox) closed while idle still looks bound until its close event arrives, so
   * the first request on it fails with a socket error, even though the directory is healthy
   * (issue 12: one reset of 9,100 under load answered directory_unavailable). What counts as
   * "before anything was written" is lostBeforeWrite(): the write steps turn every failure after
   * their request went out into an Answer (outcome_unknown), which is never run again. A timeout
   * is not retried (the server is slow, not gone: a second wait would only double it).
   */
  private async againIfLost<T>(op: string, conn: PooledConnection, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!lostBeforeWrite(err)) throw err;
      this.log.info(
        'openldap: the pooled connection was lost before anything was written; running again on a new one',
        {
          op,
          err: this.describe(err),
        },
      );
      await this.pool.renew(conn);
      return fn();
    }
  }

  private async requireUser(conn: PooledConnection, ref: UserRef): Promise<Found> {
    const lookup = await this.lookup(conn, ref);
    if (lookup.kind === 'none') throw new Answer(result('user_not_found'));
    if (lookup.kind === 'ambiguous') throw new Answer(result('ambiguous_user'));
    return lookup.user;
  }

  private async readEntry(conn: PooledConnection, dn: string): Promise<RawEntry | null> {
    const res = await this.guard(conn, () =>
      conn.client.search(dn, { scope: 'base', attributes: this.userAttributes() }),
    );
    const e = res.searchEntries[0];
    return e ?? null;
  }

  /** Membership in any protectedGroup (member / uniqueMember by DN, memberUid by login; not nested). */
  private async isProtected(conn: PooledConnection, user: Found): Promise<boolean> {
    for (const group of this.config.protectedGroups) {
      try {
        if (await this.hasMember(conn, group, user)) return true;
      } catch (err) {
        // A protected group that cannot be read must not silently unprotect its members.
        if (isResultCodeError(err) && err.code === 32) {
          this.log.warn(
            'openldap: a protected group does not exist or cannot be read; treating the user as protected',
            { group },
          );
          return true;
        }
        throw err;
      }
    }
    return false;
  }

  private async refusesProtected(conn: PooledConnection, user: Found): Promise<boolean> {
    if (this.config.allowProtected || this.config.protectedGroups.length === 0) return false;
    return this.isProtected(conn, user);
  }

  /** The user's policy, read once per operation (null when it cannot be read). */
  private async policyOf(conn: PooledConnection, user: Target): Promise<PpolicySettings | null> {
    if (user.policy === undefined) user.policy = await this.policyFor(conn, user.entry);
    return user.policy;
  }

  private policyDnOf(entry: RawEntry): string {
    return values(entry, 'pwdPolicySubentry')[0] ?? this.config.defaultPolicyDn;
  }

  /** A policy entry, cached a minute; null when it does not exist or cannot be read. */
  private async loadPolicy(conn: PooledConnection, dn: string): Promise<PpolicySettings | null> {
    return this.policyCache.through(dn, () => this.readPolicy(conn, dn));
  }

  private async readPolicy(conn: PooledConnection, dn: string): Promise<PpolicySettings | null> {
    let settings: PpolicySettings | null = null;
    try {
      const res = await this.guard(conn, () => conn.client.search(dn, { scope: 'base', attributes: POLICY_ATTRS }));
      const e = res.searchEntries[0];
      if (e) settings = settingsFromEntry(e);
    } catch (err) {
      if (!isResultCodeError(err) || (err.code !== 32 && err.code !== 50)) throw err;
      this.log.warn('openldap: password policy entry not readable', { policyDn: dn, code: err.code });
    }
    return settings;
  }

  private async policyFor(conn: PooledConnection, entry: RawEntry): Promise<PpolicySettings | null> {
    return this.loadPolicy(conn, this.policyDnOf(entry));
  }

  private policyUnreadable(dn: string): OperationResult {
    return result('access_denied', {
      missingRight: `read on ${dn}`.slice(0, 256),
      detail: 'the password policy entry does not exist or the service account cannot read it',
    });
  }

  /** Refuses what must never be sent: an empty password (slapd generates one), an oversized one. */
  private refuseUnsendable(
    newPassword: string,
    policy: PpolicySettings | null,
    state: UserPasswordState,
  ): OperationResult | null {
    const reasons =
      newPassword === ''
        ? (['too_short'] as const)
        : newPassword.length > MAX_PASSWORD_LENGTH
          ? (['too_long'] as const)
          : null;
    if (!reasons) return null;
    return result('policy_violation', {
      reasons: [...reasons],
      ...(policy ? { policy: toEffectivePolicy(policy, state) } : {}),
    });
  }

  /**
   * Sends the Password Modify exop for `user` with a fresh ppolicy control: a change when it carries
   * the old password, else a reset. Throws Answer with the outcome when slapd refuses, or when the
   * connection is lost after the request went out (outcome_unknown).
   */
  private async writePassword(
    client: OpenedClient['client'],
    user: Found,
    passwords: { oldPassword?: string; newPassword: string },
    policy: PpolicySettings | null,
    pooled?: PooledConnection,
  ): Promise<void> {
    const op = passwords.oldPassword === undefined ? 'reset' : 'change';
    const state = user.state;
    // Lost before the request: nothing sent, thrown as it is so the operation runs again (againIfLost).
    const usable = pooled ? pooled.usable : client.isBound;
    if (!usable) throw new UnreachableError('directory connection lost', 'lost');
    const ctl = new PasswordPolicyControl();
    const value = encodePasswordModifyRequest({ userIdentity: user.dn, ...passwords });
    try {
      await client.exop(PASSWORD_MODIFY_OID, value, [ctl]);
    } catch (err) {
      throw new Answer(this.writeFailure(err, ctl.response, op, policy, state));
    } finally {
      wipe(value);
    }
  }

  private writeFailure(
    err: unknown,
    resp: PasswordPolicyResponse | null,
    op: 'reset' | 'change' | 'unlock',
    policy: PpolicySettings | null,
    state: UserPasswordState,
  ): OperationResult {
    if (err instanceof Answer) return err.result;
    if (err instanceof UnreachableError) return this.unavailable(err);
    if (!isResultCodeError(err)) {
      this.log.warn('openldap: connection lost after the request was sent; the write may or may not have happened', {
        op,
        err: this.describe(err),
      });
      return result('outcome_unknown', { detail: 'the directory connection was lost after the request was sent' });
    }
    const { result: r, unexpected } = outcomeForWriteResult(err.code, resp, op);
    const fields = { op, code: err.code, diagnostic: err.message, ppolicy: resp?.error };
    if (unexpected) this.log.warn('openldap: write failed', fields);
    else this.log.debug('openldap: write refused', fields);
    return r.outcome === 'policy_violation' && policy ? { ...r, policy: toEffectivePolicy(policy, state) } : r;
  }

  /** An answer for a failed user bind (change, verify). */
  private bindFailure(err: unknown, resp: PasswordPolicyResponse | null, user: Found): OperationResult {
    if (err instanceof BindRejectedError) {
      if (err.code === 49) {
        if (resp?.error === 'accountLocked')
          return result(isDisabled(user.state) ? 'account_disabled' : 'account_locked');
        return result('wrong_current_password');
      }
      this.log.warn('openldap: user bind refused', { code: err.code });
      return result('directory_unavailable', { detail: `the directory refused the bind (LDAP result ${err.code})` });
    }
    return this.unavailable(err);
  }

  /** A change of an expired password: the user cannot bind, so the service account carries oldPasswd. */
  private async changeExpired(
    conn: PooledConnection,
    user: Found,
    currentPassword: string,
    newPassword: string,
    policy: PpolicySettings | null,
  ): Promise<OperationResult> {
    if (!this.config.serviceAccountEnforcesPolicy) {
      return result('access_denied', {
        missingRight: 'a policy-enforcing (write, not manage) right on userPassword',
        detail: 'the password has expired and the service account would bypass the password policy',
      });
    }
    await this.writePassword(conn.client, user, { oldPassword: currentPassword, newPassword }, policy, conn);
    return result('succeeded');
  }

  private async deleteIfPresent(conn: PooledConnection, dn: string, attr: string): Promise<void> {
    try {
      await this.guard(conn, () =>
        conn.client.modify(dn, new Change({ operation: 'delete', modification: new Attribute({ type: attr }) })),
      );
    } catch (err) {
      if (isResultCodeError(err) && err.code === 16) return;
      throw err;
    }
  }

  private unavailable(err: unknown): OperationResult {
    const detail = this.unavailableDetail(err);
    this.log.warn('openldap: directory unavailable', { detail, err: this.describe(err) });
    return result('directory_unavailable', { detail });
  }

  private unavailableDetail(err: unknown): string {
    if (err instanceof BindRejectedError) return 'the service account could not bind';
    if (err instanceof UnreachableError) {
      switch (err.reason) {
        case 'tls':
          return 'TLS to the directory failed (certificate not trusted or wrong name)';
        case 'timeout':
          return 'the directory did not answer in time';
        case 'pool_exhausted':
          return 'all directory connections are busy';
        default:
          return 'the directory cannot be reached';
      }
    }
    if (isResultCodeError(err)) return `the directory answered LDAP result ${err.code}`;
    return 'the directory cannot be reached';
  }

  /** An error for the log: class, code and the server's diagnostic (never a password). */
  private describe(err: unknown): Record<string, unknown> {
    if (err instanceof Error) {
      const out: Record<string, unknown> = { name: err.name, message: err.message };
      if (isResultCodeError(err)) out.code = err.code;
      if (err instanceof UnreachableError) out.reason = err.reason;
      if (err.cause instanceof Error) out.cause = err.cause.message;
      return out;
    }
    return { value: String(err) };
  }
}

/**
 * Opens the OpenLDAP adapter: parses `config` (TypeError naming the option, DirectoryError
 * `insecure_transport` for plain LDAP that is not allowed), warns loudly about insecure choices,
 * and tries one service connection (a server that is down is logged, not thrown: operations answer
 * directory_unavailable until it is back).
 */
export async function openOpenLdapDirectory(
  config: OpenLdapConfig | ResolvedOpenLdapConfig,
  deps: OpenLdapDeps = {},
): Promise<OpenLdapDirectory> {
  const log = deps.log ?? createLogger({ name: 'directory.openldap' });
  const dir = new OpenLdapDirectory(resolveOpenLdapConfig(config, log), { ...deps, log });
  const h = await dir.health();
  if (!h.ok) log.warn('openldap: directory not reachable at start; will keep trying per request', { detail: h.detail });
  return dir;
}
