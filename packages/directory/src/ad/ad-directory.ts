/**
 * The Active Directory adapter (Windows AD and Samba AD): finds users by objectGUID or login, writes
 * passwords the way AD requires (`unicodePwd` over TLS: REPLACE for a reset, DELETE old + ADD new
 * in one modify for a change), and turns what the DC answers into exact outcomes.
 *
 * Each operation takes one pooled service-account connection and runs in steps: find the user,
 * refuse what must not be written (protected, disabled), pre-check the password against the
 * effective policy (domain or fine-grained), write once, classify the answer. The writes run the
 * shared pipeline (../ldap/operation.ts) with this file's driver. Until the write has
 * been sent, a lost connection means `directory_unavailable` (nothing written; retried once on a
 * fresh connection); after it, `outcome_unknown`, never `succeeded`.
 *
 * One file (over 400 lines) on purpose: it maps the protocol's operations onto one server's quirks
 * (unicodePwd, policy hints, PSOs, lockout arithmetic), kept together so each operation reads top
 * to bottom; the reusable parts are already beside it (pool, password-rules, controls) or shared
 * with the OpenLDAP adapter in ../ldap (server list, pool, TLS, root DSE, entry, the pipeline).
 */
import {
  createLogger,
  type EffectivePolicy,
  type Logger,
  type OperationResult,
  type PolicyReason,
  type UserRef,
} from '@writeback/protocol';
import { AndFilter, Attribute, Change, EqualityFilter, OrFilter, type Control, type Entry, type Filter } from 'ldapts';
import type { Directory, DirectoryCapabilities, DirectoryHealth, DirectoryUser, ResetOptions } from '../directory.js';
import { hostOf, type DirectoryDeps } from '../directory.js';
import { changeThrough, resetThrough, unlockThrough, verifyThrough, type WriteDriver } from '../ldap/operation.js';
import { TtlCache } from '../ttl-cache.js';
import { DirectoryError } from '../errors.js';
import { filetimeToMs, intervalToSeconds } from './ad-time.js';
import { resolveAdConfig, type ResolvedAdConfig } from './config.js';
import { PolicyHintsControl, resetHintsFor } from './controls.js';
import { buffers, bytes, int, str, strings } from '../ldap/entry.js';
import { guidFromString, guidToString } from './guid.js';
import { classifyLdapError, type LdapFailure } from './ldap-errors.js';
import type { RootDse } from '../ldap/root-dse.js';
import { AdPool, NotSentError, type AdConnection } from './pool.js';
import { AdSyncSource } from './sync.js';
import { isDnWithin, normalizeDn } from '../sync-window.js';
import { classifyRejection, precheckPassword } from './password-rules.js';
import { protectionReason, sidStrings, sidToString, type ProtectionReason } from './protection.js';

/** Injected dependencies (tests freeze the clock and capture the log). */
export type AdDirectoryDeps = DirectoryDeps;

/** userAccountControl / msDS-User-Account-Control-Computed bits. */
const UF_ACCOUNTDISABLE = 0x2;
const UF_LOCKOUT = 0x10;
const UF_DONT_EXPIRE_PASSWD = 0x10000;
const UF_PASSWORD_EXPIRED = 0x800000;
/** sAMAccountType of normal user accounts (excludes computers, trusts, groups). */
const SAM_USER_OBJECT = '805306368';
/** How long domain and PSO policy reads are reused. */
const POLICY_TTL_MS = 60_000;

const USER_ATTRS = [
  'objectGUID',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'displayName',
  'userAccountControl',
  'adminCount',
  'pwdLastSet',
  'lockoutTime',
  'objectSid',
];
/** Constructed attributes: read with a base search (Windows does not compute all of them in subtree searches). */
const CONSTRUCTED_ATTRS = ['msDS-User-Account-Control-Computed', 'msDS-ResultantPSO'];
/** Read (constructed, base scope only) before a write and for findUser: the account's security groups, transitively. */
const TOKEN_GROUPS = 'tokenGroups';
const DOMAIN_POLICY_ATTRS = [
  'minPwdLength',
  'pwdHistoryLength',
  'pwdProperties',
  'minPwdAge',
  'maxPwdAge',
  'lockoutThreshold',
  'lockoutDuration',
];
const PSO_ATTRS = [
  'cn',
  'msDS-MinimumPasswordLength',
  'msDS-PasswordHistoryLength',
  'msDS-PasswordComplexityEnabled',
  'msDS-MinimumPasswordAge',
  'msDS-MaximumPasswordAge',
  'msDS-LockoutThreshold',
  'msDS-LockoutDuration',
];

/** A user as read from the DC. */
interface AdUser {
  dn: string;
  anchor: string;
  login: string;
  upn: string | undefined;
  mail: string | undefined;
  displayName: string | undefined;
  uac: number;
  computedUac: number | undefined;
  adminCount: number;
  /** objectSid, string form. */
  sid: string | undefined;
  /** tokenGroups as SID strings; undefined when not asked for ([] when asked but not readable). */
  tokenGroups: string[] | undefined;
  /** Raw pwdLastSet ("0" = must change). */
  pwdLastSet: string | undefined;
  pwdLastSetMs: number | null;
  lockoutTimeMs: number | null;
  resultantPso: string | undefined;
}

type Lookup = { kind: 'found'; user: AdUser } | { kind: 'not_found' } | { kind: 'ambiguous' };

/** Whether an account may be written (protection.ts decides from what the adapter read). */
type Protection =
  | { kind: 'writable' }
  | { kind: 'protected'; reason: ProtectionReason | { kind: 'extra_group_unresolved'; dn: string } }
  /** The service account cannot read tokenGroups: membership unknown, so nothing is written. */
  | { kind: 'unknown' };

/** The effective policy and whether its numbers are known (an unreadable PSO leaves them unknown). */
interface PolicyView {
  policy: EffectivePolicy;
  exact: boolean;
}

type WriteAnswer =
  | { kind: 'ok' }
  | { kind: 'refused'; failure: Extract<LdapFailure, { kind: 'result' }> }
  | { kind: 'unknown'; failure: LdapFailure };

/** A read the DC refused with an LDAP result (not a transport failure). */
class ReadRefusedError extends Error {
  override readonly name = 'ReadRefusedError';
  constructor(readonly failure: Extract<LdapFailure, { kind: 'result' }>) {
    super(failure.diagnostic);
  }
}

/** One operation's hold on a connection. */
interface OpContext {
  conn: AdConnection;
  /** The connection's state is unknown (transport failure): discard instead of reuse. */
  broken: boolean;
}

const result = (
  outcome: OperationResult['outcome'],
  extra: Omit<OperationResult, 'outcome'> = {},
): OperationResult => ({ outcome, ...extra });

/** AD string form of a password for unicodePwd: the quoted string in UTF-16LE. */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

export class AdDirectory implements Directory {
  readonly kind = 'ad' as const;
  private readonly pool: AdPool;
  private readonly log: Logger;
  private readonly now: () => number;
  private lastRootDse: RootDse | undefined;
  private domainCache: { at: number; key: string; view: PolicyView } | undefined;
  private readonly psoCache = new Map<string, { at: number; view: PolicyView | null }>();
  /** protectedGroups given by DN → their objectSid (null: not found or not readable). */
  private readonly groupSidCache = new TtlCache<string, string | null>(POLICY_TTL_MS, () => this.now());
  private readonly scopeBases: readonly string[];
  /** Users in scope and their changes, for the cloud's pulls (packages/protocol/src/sync.ts). */
  readonly sync: AdSyncSource;

  /** Use openAdDirectory(); the constructor does no I/O. */
  constructor(
    private readonly cfg: ResolvedAdConfig,
    deps: AdDirectoryDeps = {},
  ) {
    ({ log: this.log, now: this.now } = hostOf(deps, 'directory.ad'));
    this.pool = new AdPool(cfg, this.log, this.now);
    this.pool.onConnect = (c) => {
      this.lastRootDse = c.rootDse;
    };
    this.scopeBases = cfg.scope.baseDns.map(normalizeDn);
    this.sync = new AdSyncSource(cfg, this.pool, { log: this.log, isClosed: () => this.pool.isClosed, now: this.now });
  }

  /** What the DC last connected to supports (policy hints decide history and minimum age on resets). */
  get capabilities(): DirectoryCapabilities {
    const hints = resetHintsFor(this.lastRootDse, this.cfg.policyHints);
    return {
      enforcesHistoryOnReset: hints.oid !== undefined,
      adminResetHonoursMinAge: hints.honoursMinAge,
      exactPolicyReasons: true,
      forceChangeOnReset: true,
      unlock: true,
      fineGrainedPolicies: true,
      verifyCredentials: true,
    };
  }

  /** The rootDSE of the DC last connected to (doctor and diagnostics). */
  get rootDse(): RootDse | undefined {
    return this.lastRootDse;
  }

  /** Forget cached domain/PSO policies (after an administrator changed them). */
  clearPolicyCache(): void {
    this.domainCache = undefined;
    this.psoCache.clear();
  }

  /** Connect once so capabilities are known; failures are logged, not thrown (the DC may come later). */
  async warmUp(): Promise<boolean> {
    try {
      const conn = await this.pool.acquire();
      this.pool.release(conn);
      return true;
    } catch (err) {
      this.log.warn('no DC reachable at start; operations answer directory_unavailable until one is', {
        reason: err instanceof NotSentError ? err.reason : 'error',
      });
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  resetPassword(user: UserRef, newPassword: string, options: ResetOptions): Promise<OperationResult> {
    return resetThrough(this.driver, user, newPassword, options);
  }

  changePassword(user: UserRef, currentPassword: string, newPassword: string): Promise<OperationResult> {
    return changeThrough(this.driver, user, currentPassword, newPassword);
  }

  unlock(user: UserRef): Promise<OperationResult> {
    return unlockThrough(this.driver, user);
  }

  /** The steps of a write (ldap/operation.ts) on this DC. */
  private readonly driver: WriteDriver<OpContext, AdUser> = {
    run: (op, user, steps) => this.run(op, user, steps),
    // tokenGroups (for the protection check) only for writes.
    find: async (ctx, user, op) => {
      const found = await this.lookup(ctx, user, { tokenGroups: op !== 'verify' });
      return found.kind === 'found' ? { user: found.user } : { answer: this.notFound(found) };
    },
    // A sign-in is not a write: only a disabled account ends it here (the DC says the rest).
    refuse: async (ctx, u, op) =>
      op === 'verify'
        ? (u.uac & UF_ACCOUNTDISABLE) !== 0
          ? result('account_disabled')
          : null
        : this.refuseWrite(ctx, u),
    precheck: (ctx, u, newPassword) => this.precheck(ctx, u, newPassword),
    reset: (ctx, u, newPassword, options) => this.writeReset(ctx, u, newPassword, options),
    change: (ctx, u, currentPassword, newPassword) => this.writeChange(ctx, u, currentPassword, newPassword),
    unlock: (ctx, u) => this.writeUnlock(ctx, u),
    verify: (ctx, u, password) => this.bindAsUser(ctx, u, password),
  };

  /** unicodePwd REPLACE, with pwdLastSet=0 and lockoutTime=0 in the same modify when asked. */
  private async writeReset(
    ctx: OpContext,
    u: AdUser,
    newPassword: string,
    options: ResetOptions,
  ): Promise<OperationResult> {
    const hintsOid = resetHintsFor(ctx.conn.rootDse, this.cfg.policyHints).oid;
    const useHints = options.enforceHistory && hintsOid !== undefined;
    const changes = [
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }),
      }),
    ];
    // "Password never expires" wins over pwdLastSet=0: the DC would take the flag and never ask
    // the user to change (issue 12). Not written, and the answer says so instead of mustChange.
    const neverExpires = (u.uac & UF_DONT_EXPIRE_PASSWD) !== 0;
    const forceChange = options.forceChange && !neverExpires;
    // One modify, so the must-change flag and the unlock are applied with the password or not at all.
    if (forceChange)
      changes.push(
        new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdLastSet', values: ['0'] }) }),
      );
    if (options.unlock)
      changes.push(
        new Change({ operation: 'replace', modification: new Attribute({ type: 'lockoutTime', values: ['0'] }) }),
      );
    const controls = useHints && hintsOid ? [new PolicyHintsControl(hintsOid)] : [];

    const answer = await this.write(ctx, u.dn, changes, controls);
    if (answer.kind === 'ok') {
      return result('succeeded', {
        historyEnforced: useHints,
        data: {
          mustChange: forceChange,
          unlocked: options.unlock,
          ...(options.forceChange && neverExpires ? { forceChangeIgnored: 'password_never_expires' as const } : {}),
        },
      });
    }
    if (answer.kind === 'unknown') return this.unknown(answer.failure);
    const f = answer.failure;
    if (f.code === 50) {
      const missing = await this.missingResetRight(ctx, u, options);
      return result('access_denied', {
        missingRight: missing,
        detail: 'The service account lacks a right needed for this reset.',
      });
    }
    return this.classifyWriteRefusal(ctx, 'reset', f, u, newPassword, useHints);
  }

  private async writeChange(
    ctx: OpContext,
    u: AdUser,
    currentPassword: string,
    newPassword: string,
  ): Promise<OperationResult> {
    // DELETE old + ADD new in one modify: the DC verifies the current password, history and
    // minimum age, exactly as for the user's own change.
    const answer = await this.write(ctx, u.dn, [
      new Change({
        operation: 'delete',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(currentPassword)] }),
      }),
      new Change({
        operation: 'add',
        modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }),
      }),
    ]);
    if (answer.kind === 'ok') return result('succeeded');
    if (answer.kind === 'unknown') return this.unknown(answer.failure);
    const f = answer.failure;
    if (f.code === 50) return result('access_denied', { missingRight: 'Change Password on the user object' });
    return this.classifyWriteRefusal(ctx, 'change', f, u, newPassword, false);
  }

  /** lockoutTime=0. */
  private async writeUnlock(ctx: OpContext, u: AdUser): Promise<OperationResult> {
    const wasLocked = u.computedUac !== undefined ? (u.computedUac & UF_LOCKOUT) !== 0 : (u.lockoutTimeMs ?? 0) > 0;
    // lockoutTime=0 unlocks and resets badPwdCount; an admin password reset alone does not unlock.
    const answer = await this.write(ctx, u.dn, [
      new Change({ operation: 'replace', modification: new Attribute({ type: 'lockoutTime', values: ['0'] }) }),
    ]);
    if (answer.kind === 'ok') return result('succeeded', { data: { wasLocked } });
    if (answer.kind === 'unknown') return this.unknown(answer.failure);
    if (answer.failure.code === 50)
      return result('access_denied', { missingRight: 'Write lockoutTime on the user object' });
    return this.otherRefusal(answer.failure);
  }

  async getPolicy(user?: UserRef): Promise<OperationResult> {
    return this.run('policy.get', user, async (ctx) => {
      // Whether a reset (one that enforces history, as the cloud's do) is also held back by the
      // minimum age here: it depends on the control this DC lets a reset carry (issue 12).
      const data = { resetHonoursMinAge: resetHintsFor(ctx.conn.rootDse, this.cfg.policyHints).honoursMinAge };
      if (!user) {
        const view = await this.domainPolicy(ctx, false);
        return result('succeeded', { policy: view.policy, data });
      }
      const found = await this.lookup(ctx, user);
      if (found.kind !== 'found') return this.notFound(found);
      const view = await this.effectivePolicy(ctx, found.user, false);
      if (!view.exact) {
        // Showing the domain rules for a user a PSO governs would tell them the wrong rule.
        return result('access_denied', {
          missingRight: 'Read fine-grained password policies (Password Settings Container)',
          detail: 'The password policy that applies to this user could not be read.',
        });
      }
      return result('succeeded', { policy: view.policy, data });
    });
  }

  verifyCredentials(user: UserRef, password: string): Promise<OperationResult> {
    // An empty password makes an LDAP simple bind anonymous, which "succeeds".
    return verifyThrough(this.driver, user, password, () =>
      password.length === 0 ? result('wrong_current_password') : null,
    );
  }

  /** A bind as the user on the DC in use; AD's bind sub-codes say what the password was. */
  private async bindAsUser(ctx: OpContext, u: AdUser, password: string): Promise<OperationResult> {
    const refusal = await this.pool.bindAs(ctx.conn.url, u.dn, password);
    if (refusal === null) return result('succeeded', { data: { mustChange: false, expired: false } });
    if (refusal.code !== 49) {
      this.log.warn('user bind refused with an unexpected result', {
        ldapCode: refusal.code,
        diagnostic: refusal.diagnostic,
      });
      return refusal.code === 50
        ? result('access_denied', { missingRight: 'Bind as the user' })
        : result('directory_unavailable');
    }
    // AD's bind sub-codes (the `data` field): which ones imply the password itself was right.
    switch (refusal.data) {
      case '773':
        return result('succeeded', { data: { mustChange: true, expired: false } });
      case '532':
        return result('succeeded', { data: { mustChange: true, expired: true } });
      case '775':
        return result('account_locked');
      case '533':
        return result('account_disabled');
      case '701':
        return result('account_disabled', { data: { accountExpired: true } });
      case '530':
      case '531':
        return result('account_disabled', { data: { logonRestricted: true } });
      case '525':
        return result('user_not_found');
      default:
        return result('wrong_current_password');
    }
  }

  async findUser(user: UserRef): Promise<DirectoryUser | null | 'ambiguous'> {
    let found: Lookup | undefined;
    let isProtected = true;
    const r = await this.run('user.find', user, async (ctx) => {
      const l = await this.lookup(ctx, user, { tokenGroups: true });
      found = l;
      // Unknown membership (tokenGroups not readable) shows as protected: writes are refused then too.
      if (l.kind === 'found') isProtected = (await this.protection(ctx, l.user)).kind !== 'writable';
      return l.kind === 'found' ? result('succeeded') : this.notFound(l);
    });
    if (!found) throw new DirectoryError('unavailable', `directory lookup failed: ${r.outcome}`);
    const f: Lookup = found;
    if (f.kind === 'not_found') return null;
    if (f.kind === 'ambiguous') return 'ambiguous';
    const u = f.user;
    return {
      anchor: u.anchor,
      login: u.login,
      dn: u.dn,
      ...(u.upn ? { userPrincipalName: u.upn } : {}),
      ...(u.mail ? { mail: u.mail } : {}),
      ...(u.displayName ? { displayName: u.displayName } : {}),
      enabled: (u.uac & UF_ACCOUNTDISABLE) === 0,
      locked: u.computedUac !== undefined ? (u.computedUac & UF_LOCKOUT) !== 0 : (u.lockoutTimeMs ?? 0) > 0,
      mustChange: u.pwdLastSet === '0',
      protected: isProtected,
      passwordLastSetAt: u.pwdLastSetMs === null ? null : new Date(u.pwdLastSetMs).toISOString(),
    };
  }

  async health(): Promise<DirectoryHealth> {
    if (this.pool.isClosed) return { ok: false, kind: 'ad', latencyMs: 0, detail: 'closed' };
    const t0 = performance.now();
    let conn: AdConnection;
    try {
      conn = await this.pool.acquire();
    } catch (err) {
      return {
        ok: false,
        kind: 'ad',
        latencyMs: Math.round(performance.now() - t0),
        detail: `no DC reachable (${err instanceof NotSentError ? err.reason : 'error'})`,
      };
    }
    const t1 = performance.now();
    try {
      if (!conn.client.isBound) throw new NotSentError('lost', 'connection lost');
      await conn.client.search('', { scope: 'base', attributes: ['currentTime'] });
      this.pool.release(conn);
      return { ok: true, kind: 'ad', latencyMs: Math.round((performance.now() - t1) * 10) / 10, detail: conn.url.url };
    } catch (err) {
      this.pool.discard(conn);
      const f = classifyLdapError(err);
      if (f.kind === 'transport') this.pool.markDown(conn.url, f);
      return {
        ok: false,
        kind: 'ad',
        latencyMs: Math.round(performance.now() - t0),
        detail: `rootDSE read failed on ${conn.url.url}`,
      };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  // -------------------------------------------------------------------------------------------
  // Steps

  /**
   * Run one operation on a pooled connection. A failure before any write (NotSentError) is retried
   * once on a fresh connection (possibly another DC), then answered `directory_unavailable`.
   */
  private async run(
    op: string,
    user: UserRef | undefined,
    fn: (ctx: OpContext) => Promise<OperationResult>,
  ): Promise<OperationResult> {
    if (this.pool.isClosed) throw new DirectoryError('closed', 'AD directory is closed');
    const t0 = performance.now();
    let lastReason = 'no_dc';
    for (let attempt = 0; attempt < 2; attempt++) {
      let conn: AdConnection;
      try {
        // The retry takes a new connection: the one that failed may not be the only stale one.
        conn = await this.pool.acquire({ fresh: attempt > 0 });
      } catch (err) {
        if (!(err instanceof NotSentError)) throw err;
        lastReason = err.reason;
        // acquire() already tried every DC; a refused bind or bad TLS will not fix itself.
        break;
      }
      const ctx: OpContext = { conn, broken: false };
      try {
        const r = await fn(ctx);
        if (ctx.broken) this.pool.discard(conn);
        else this.pool.release(conn);
        this.logOutcome(op, user, r, conn, t0);
        return r;
      } catch (err) {
        this.pool.discard(conn);
        if (err instanceof ReadRefusedError) {
          const r = this.readRefusal(err.failure);
          this.logOutcome(op, user, r, conn, t0, err.failure.diagnostic);
          return r;
        }
        if (!(err instanceof NotSentError)) throw err;
        if (err.failure) this.pool.markDown(conn.url, err.failure);
        lastReason = err.reason;
      }
    }
    const r = result('directory_unavailable', {
      detail:
        lastReason === 'bind_rejected'
          ? 'The directory refused the service account sign-in.'
          : 'No domain controller could be reached.',
    });
    this.log.warn('directory operation failed before anything was written', {
      op,
      by: user?.by,
      reason: lastReason,
      ms: Math.round(performance.now() - t0),
    });
    return r;
  }

  private logOutcome(
    op: string,
    user: UserRef | undefined,
    r: OperationResult,
    conn: AdConnection,
    t0: number,
    diagnostic?: string,
  ): void {
    this.log.info('directory operation', {
      op,
      by: user?.by,
      user: user?.value,
      outcome: r.outcome,
      reasons: r.reasons,
      dc: conn.url.url,
      ms: Math.round((performance.now() - t0) * 10) / 10,
      ...(diagnostic ? { diagnostic } : {}),
    });
  }

  /** A search, with transport failures turned into NotSentError and refusals into ReadRefusedError. */
  private async search(
    ctx: OpContext,
    base: string,
    options: Parameters<AdConnection['client']['search']>[1],
  ): Promise<Entry[]> {
    if (!ctx.conn.client.isBound) throw new NotSentError('lost', 'connection lost before the read');
    try {
      const res = await ctx.conn.client.search(base, options);
      return res.searchEntries;
    } catch (err) {
      const f = classifyLdapError(err);
      if (f.kind === 'transport') {
        ctx.broken = true;
        throw new NotSentError('lost', 'connection lost during a read', f);
      }
      throw new ReadRefusedError(f);
    }
  }

  /** The one write of an operation. After the request left, a transport failure means "unknown". */
  private async write(ctx: OpContext, dn: string, changes: Change[], controls: Control[] = []): Promise<WriteAnswer> {
    // Checked synchronously right before modify(): ldapts would otherwise reconnect unbound.
    if (!ctx.conn.client.isBound) throw new NotSentError('lost', 'connection lost before the write');
    try {
      await ctx.conn.client.modify(dn, changes, controls.length > 0 ? controls : undefined);
      return { kind: 'ok' };
    } catch (err) {
      const f = classifyLdapError(err);
      if (f.kind === 'result') return { kind: 'refused', failure: f };
      ctx.broken = true;
      this.pool.markDown(ctx.conn.url, f);
      return { kind: 'unknown', failure: f };
    }
  }

  private unknown(f: LdapFailure): OperationResult {
    this.log.error('connection lost after the write was sent: the directory may or may not have applied it', {
      errorCode: f.kind === 'transport' ? f.errorCode : f.code,
      diagnostic: f.diagnostic,
    });
    return result('outcome_unknown', {
      detail:
        'The connection to the domain controller was lost after the change was sent; it may or may not have been applied.',
    });
  }

  private notFound(l: Exclude<Lookup, { kind: 'found' }>): OperationResult {
    return l.kind === 'ambiguous'
      ? result('ambiguous_user', { detail: 'More than one user matches this login.' })
      : result('user_not_found');
  }

  /** The new password against the effective policy, when its numbers are known exactly. */
  private async precheck(ctx: OpContext, u: AdUser, newPassword: string): Promise<OperationResult | null> {
    const view = await this.effectivePolicy(ctx, u, false);
    if (!view.exact) return null;
    const reasons = precheckPassword(newPassword, view.policy, { login: u.login, displayName: u.displayName });
    return reasons.length > 0 ? result('policy_violation', { reasons, policy: view.policy }) : null;
  }

  /**
   * Protected and disabled accounts are never written. Protection is decided here, at write time,
   * from what the DC says now (tokenGroups), never from the cloud's synced copy: a user added to
   * Domain Admins a second ago is already refused.
   */
  private async refuseWrite(ctx: OpContext, u: AdUser): Promise<OperationResult | null> {
    if (!this.cfg.allowProtected) {
      const p = await this.protection(ctx, u);
      if (p.kind === 'unknown') {
        this.log.error(
          'tokenGroups of the user are not readable by the service account; privileged group membership cannot be checked, so nothing is written',
          { dn: u.dn },
        );
        return result('access_denied', {
          missingRight:
            'Read tokenGroups on user objects (on Windows: add the service account to "Windows Authorization Access Group")',
          detail: 'Whether this account is privileged could not be checked.',
        });
      }
      if (p.kind === 'protected') {
        this.log.info('write refused: protected account', { dn: u.dn, reason: p.reason });
        return result('protected_account', {
          detail: 'Privileged accounts (administrators and their groups) are not managed through writeback.',
        });
      }
    }
    if (u.uac & UF_ACCOUNTDISABLE) return result('account_disabled');
    return null;
  }

  /** Decide protection (protection.ts) from the user's adminCount, SID and tokenGroups and the extra groups. */
  private async protection(ctx: OpContext, u: AdUser): Promise<Protection> {
    const extraGroupSids = new Set<string>();
    for (const g of this.cfg.protectedGroups) {
      if (g.by === 'sid') {
        extraGroupSids.add(g.sid);
        continue;
      }
      const sid = await this.groupSid(ctx, g.dn);
      // A configured group that cannot be resolved must not silently unprotect its members.
      if (sid === null) return { kind: 'protected', reason: { kind: 'extra_group_unresolved', dn: g.dn } };
      extraGroupSids.add(sid);
    }
    const tokenGroups = u.tokenGroups ?? [];
    const reason = protectionReason({ adminCount: u.adminCount, sid: u.sid, tokenGroups, extraGroupSids });
    if (reason) return { kind: 'protected', reason };
    // Every account's tokenGroups holds at least its primary group: none means not readable.
    return tokenGroups.length === 0 ? { kind: 'unknown' } : { kind: 'writable' };
  }

  /** objectSid of a protectedGroups DN, cached like the policies; null when not found or not readable. */
  private async groupSid(ctx: OpContext, dn: string): Promise<string | null> {
    return this.groupSidCache.through(dn, () => this.readGroupSid(ctx, dn));
  }

  private async readGroupSid(ctx: OpContext, dn: string): Promise<string | null> {
    let sid: string | null = null;
    try {
      const e = (
        await this.search(ctx, dn, {
          scope: 'base',
          attributes: ['objectSid'],
          explicitBufferAttributes: ['objectSid'],
        })
      )[0];
      const b = e ? bytes(e, 'objectSid') : undefined;
      sid = b ? sidToString(b) : null;
    } catch (err) {
      if (!(err instanceof ReadRefusedError)) throw err;
    }
    if (sid === null)
      this.log.warn(
        'a protectedGroups DN does not exist or its objectSid is not readable; every user is treated as protected',
        {
          group: dn,
        },
      );
    return sid;
  }

  /** Find exactly one user in scope. Hostile input can only fail to match. */
  private async lookup(ctx: OpContext, ref: UserRef, opts: { tokenGroups?: boolean } = {}): Promise<Lookup> {
    let identity: Filter;
    let matches: (e: Entry) => boolean;
    if (ref.by === 'anchor') {
      const guid = guidFromString(ref.value);
      if (!guid) return { kind: 'not_found' };
      identity = new EqualityFilter({ attribute: 'objectGUID', value: guid });
      matches = (e) => bytes(e, 'objectGUID')?.equals(guid) === true;
    } else {
      // Samba cuts filter values at NUL, so "alice\0x" would match alice; no real login has
      // control characters.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to reject them
      if (/[\u0000-\u001f\u007f]/.test(ref.value)) return { kind: 'not_found' };
      const wanted = ref.value.toLocaleLowerCase('en-US');
      identity = new OrFilter({
        filters: [
          new EqualityFilter({ attribute: 'sAMAccountName', value: ref.value }),
          new EqualityFilter({ attribute: 'userPrincipalName', value: ref.value }),
        ],
      });
      matches = (e) =>
        [str(e, 'sAMAccountName'), str(e, 'userPrincipalName')].some(
          (v) => v !== undefined && v.toLocaleLowerCase('en-US') === wanted,
        );
    }
    // Scope: userFilter, scope.filter and scope.group are conditions of this same search; the
    // subtrees (scope.baseDns, all below baseDn) are checked on the DNs it returns.
    const filters: Filter[] = [
      new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT }),
      identity,
      ...this.cfg.scope.extraFilters,
    ];
    const entries = (
      await this.search(ctx, this.cfg.baseDn, {
        scope: 'sub',
        filter: new AndFilter({ filters }),
        attributes: USER_ATTRS,
        explicitBufferAttributes: ['objectGUID', 'objectSid'],
      })
    ).filter((e) => matches(e) && this.inScopeSubtree(e.dn));
    if (entries.length === 0) return { kind: 'not_found' };
    if (entries.length > 1) return { kind: 'ambiguous' };
    const e = entries[0];
    const guid = e ? bytes(e, 'objectGUID') : undefined;
    const login = e ? str(e, 'sAMAccountName') : undefined;
    if (!e || !guid || guid.length !== 16 || !login) return { kind: 'not_found' };

    const constructed = (
      await this.search(ctx, e.dn, {
        scope: 'base',
        attributes: opts.tokenGroups ? [...CONSTRUCTED_ATTRS, TOKEN_GROUPS] : CONSTRUCTED_ATTRS,
        explicitBufferAttributes: [TOKEN_GROUPS],
      })
    )[0];
    const pwdLastSet = str(e, 'pwdLastSet');
    const sidBytes = bytes(e, 'objectSid');
    return {
      kind: 'found',
      user: {
        dn: e.dn,
        anchor: guidToString(guid),
        login,
        upn: str(e, 'userPrincipalName'),
        mail: str(e, 'mail'),
        displayName: str(e, 'displayName'),
        uac: int(e, 'userAccountControl') ?? 0,
        computedUac: constructed ? int(constructed, 'msDS-User-Account-Control-Computed') : undefined,
        adminCount: int(e, 'adminCount') ?? 0,
        sid: sidBytes ? (sidToString(sidBytes) ?? undefined) : undefined,
        tokenGroups: opts.tokenGroups ? (constructed ? sidStrings(buffers(constructed, TOKEN_GROUPS)) : []) : undefined,
        pwdLastSet,
        pwdLastSetMs: filetimeToMs(pwdLastSet),
        lockoutTimeMs: filetimeToMs(str(e, 'lockoutTime')),
        resultantPso: constructed ? str(constructed, 'msDS-ResultantPSO') : undefined,
      },
    };
  }

  /** The DN is below one of the scope's subtrees. */
  private inScopeSubtree(dn: string): boolean {
    const n = normalizeDn(dn);
    return this.scopeBases.some((b) => isDnWithin(n, b));
  }

  /** The domain's default policy (rootDSE defaultNamingContext), cached briefly. */
  private async domainPolicy(ctx: OpContext, fresh: boolean): Promise<PolicyView> {
    const root = ctx.conn.rootDse.defaultNamingContext ?? this.cfg.baseDn;
    const t = this.now();
    if (!fresh && this.domainCache && this.domainCache.key === root && t - this.domainCache.at < POLICY_TTL_MS)
      return this.domainCache.view;
    let e: Entry | undefined;
    try {
      e = (await this.search(ctx, root, { scope: 'base', attributes: DOMAIN_POLICY_ATTRS }))[0];
    } catch (err) {
      if (!(err instanceof ReadRefusedError)) throw err;
    }
    const minLength = e ? int(e, 'minPwdLength') : undefined;
    const view: PolicyView = {
      exact: e !== undefined && minLength !== undefined,
      policy: {
        source: 'domain',
        minLength: Math.max(0, minLength ?? 0),
        complexity: ((e ? int(e, 'pwdProperties') : 0) ?? 0) % 2 === 1,
        historyLength: Math.max(0, (e ? int(e, 'pwdHistoryLength') : 0) ?? 0),
        minAgeSeconds: intervalToSeconds(e ? str(e, 'minPwdAge') : undefined),
        maxAgeSeconds: intervalToSeconds(e ? str(e, 'maxPwdAge') : undefined),
        lockoutThreshold: Math.max(0, (e ? int(e, 'lockoutThreshold') : 0) ?? 0),
        lockoutDurationSeconds: intervalToSeconds(e ? str(e, 'lockoutDuration') : undefined),
      },
    };
    if (!view.exact) this.log.warn('domain password policy not readable; pre-checks disabled', { dn: root });
    this.domainCache = { at: t, key: root, view };
    return view;
  }

  /** A PSO's settings, or null when the service account cannot read it. */
  private async psoPolicy(ctx: OpContext, dn: string, fresh: boolean): Promise<PolicyView | null> {
    const t = this.now();
    const cached = this.psoCache.get(dn);
    if (!fresh && cached && t - cached.at < POLICY_TTL_MS) return cached.view;
    let e: Entry | undefined;
    try {
      e = (await this.search(ctx, dn, { scope: 'base', attributes: PSO_ATTRS }))[0];
    } catch (err) {
      if (!(err instanceof ReadRefusedError)) throw err;
      e = undefined;
    }
    const minLength = e ? int(e, 'msDS-MinimumPasswordLength') : undefined;
    let view: PolicyView | null = null;
    if (e && minLength !== undefined) {
      view = {
        exact: true,
        policy: {
          source: 'fine_grained',
          name: str(e, 'cn') ?? dn,
          minLength,
          complexity: str(e, 'msDS-PasswordComplexityEnabled')?.toUpperCase() === 'TRUE',
          historyLength: Math.max(0, int(e, 'msDS-PasswordHistoryLength') ?? 0),
          minAgeSeconds: intervalToSeconds(str(e, 'msDS-MinimumPasswordAge')),
          maxAgeSeconds: intervalToSeconds(str(e, 'msDS-MaximumPasswordAge')),
          lockoutThreshold: Math.max(0, int(e, 'msDS-LockoutThreshold') ?? 0),
          lockoutDurationSeconds: intervalToSeconds(str(e, 'msDS-LockoutDuration')),
        },
      };
    } else {
      this.log.warn(
        'fine-grained password policy not readable by the service account; grant it read access to the Password Settings Container',
        { pso: dn },
      );
    }
    this.psoCache.set(dn, { at: t, view });
    return view;
  }

  /** The policy that applies to this user, with the user's own password dates. */
  private async effectivePolicy(ctx: OpContext, u: AdUser, fresh: boolean): Promise<PolicyView> {
    let view = await this.domainPolicy(ctx, fresh);
    if (u.resultantPso) {
      const pso = await this.psoPolicy(ctx, u.resultantPso, fresh);
      if (pso) view = pso;
      else {
        const cn = /^CN=((?:[^,\\]|\\.)+)/i.exec(u.resultantPso)?.[1] ?? u.resultantPso;
        view = { exact: false, policy: { ...view.policy, source: 'fine_grained', name: cn } };
      }
    }
    const p: EffectivePolicy = {
      ...view.policy,
      passwordLastSetAt: u.pwdLastSetMs === null ? null : new Date(u.pwdLastSetMs).toISOString(),
    };
    if (u.pwdLastSetMs !== null) {
      if (p.minAgeSeconds > 0) p.nextChangeAllowedAt = new Date(u.pwdLastSetMs + p.minAgeSeconds * 1000).toISOString();
      const neverExpires = (u.uac & UF_DONT_EXPIRE_PASSWD) !== 0 || p.maxAgeSeconds === 0;
      p.expiresAt = neverExpires ? null : new Date(u.pwdLastSetMs + p.maxAgeSeconds * 1000).toISOString();
    } else if (u.computedUac !== undefined && u.computedUac & UF_PASSWORD_EXPIRED) {
      p.expiresAt = null;
    }
    return { exact: view.exact, policy: p };
  }

  /** Map a DC refusal of a password write (anything but 50) to an outcome. */
  private async classifyWriteRefusal(
    ctx: OpContext,
    op: 'reset' | 'change',
    f: Extract<LdapFailure, { kind: 'result' }>,
    u: AdUser,
    newPassword: string,
    hintsUsed: boolean,
  ): Promise<OperationResult> {
    if (f.code === 19) {
      if (f.ext === '00000056') return this.logged(f, result('wrong_current_password'));
      if (f.ext === '00000775') return this.logged(f, result('account_locked'));
      if (f.ext === '0000052D') {
        // Read the policy again: the cached one may be why the pre-check let this through.
        let view: PolicyView | null = null;
        try {
          view = await this.effectivePolicy(ctx, u, true);
        } catch (err) {
          if (!(err instanceof NotSentError || err instanceof ReadRefusedError)) throw err;
          if (err instanceof NotSentError) ctx.broken = true;
        }
        const localReasons = view?.exact
          ? precheckPassword(newPassword, view.policy, { login: u.login, displayName: u.displayName })
          : [];
        const reasons: PolicyReason[] = classifyRejection({
          op,
          diagnostic: f.diagnostic,
          policy: view?.exact ? view.policy : null,
          localReasons,
          hintsUsed,
          now: this.now(),
          passwordLastSetMs: u.pwdLastSetMs,
        });
        return this.logged(f, result('policy_violation', { reasons, ...(view?.exact ? { policy: view.policy } : {}) }));
      }
    }
    return this.otherRefusal(f);
  }

  /** Refusals that are neither policy nor rights: the DC answered, so nothing was written. */
  private otherRefusal(f: Extract<LdapFailure, { kind: 'result' }>): OperationResult {
    switch (f.code) {
      case 32:
        return this.logged(f, result('user_not_found'));
      case 19:
      case 53:
        return this.logged(
          f,
          result('policy_violation', { reasons: ['unspecified'], detail: 'The directory refused the password.' }),
        );
      default:
        this.log.error('directory refused the write', { ldapCode: f.code, ext: f.ext, diagnostic: f.diagnostic });
        return result('directory_unavailable', { detail: 'The domain controller refused the request.' });
    }
  }

  /** Searches the DC refused (bad base DN, no read right...). */
  private readRefusal(f: Extract<LdapFailure, { kind: 'result' }>): OperationResult {
    this.log.error('directory refused a read; check baseDn, userFilter and the service account read rights', {
      ldapCode: f.code,
      diagnostic: f.diagnostic,
      baseDn: this.cfg.baseDn,
    });
    if (f.code === 50) return result('access_denied', { missingRight: 'Read users under the configured baseDn' });
    return result('directory_unavailable', { detail: 'The domain controller refused to search for the user.' });
  }

  private logged(f: Extract<LdapFailure, { kind: 'result' }>, r: OperationResult): OperationResult {
    this.log.info('directory refused the password write', {
      ldapCode: f.code,
      ext: f.ext,
      diagnostic: f.diagnostic,
      outcome: r.outcome,
      reasons: r.reasons,
    });
    return r;
  }

  /** Which right a refused reset lacked: the attribute writes are visible in allowedAttributesEffective. */
  private async missingResetRight(ctx: OpContext, u: AdUser, options: ResetOptions): Promise<string> {
    if (options.forceChange || options.unlock) {
      try {
        const e = (await this.search(ctx, u.dn, { scope: 'base', attributes: ['allowedAttributesEffective'] }))[0];
        const allowed = new Set((e ? strings(e, 'allowedAttributesEffective') : []).map((a) => a.toLowerCase()));
        if (options.forceChange && !allowed.has('pwdlastset')) return 'Write pwdLastSet on the user object';
        if (options.unlock && !allowed.has('lockouttime')) return 'Write lockoutTime on the user object';
      } catch (err) {
        if (!(err instanceof NotSentError || err instanceof ReadRefusedError)) throw err;
        if (err instanceof NotSentError) ctx.broken = true;
      }
    }
    return 'Reset Password on the user object';
  }
}

/**
 * Open an AD directory: parse the config (throws TypeError naming the option, or DirectoryError
 * 'insecure_transport'), then connect once to learn the DC's capabilities. An unreachable DC is
 * logged, not thrown: operations answer `directory_unavailable` until one answers.
 */
export async function openAdDirectory(config: unknown, deps: AdDirectoryDeps = {}): Promise<AdDirectory> {
  const cfg = resolveAdConfig(config);
  const log = deps.log ?? createLogger({ name: 'directory.ad' });
  if (cfg.skipTlsVerification) {
    log.warn(
      '!!! dangerouslySkipTlsVerification is ON: the DC certificate is NOT verified. Anyone on the network path can impersonate the DC and read every password written. Lab use only. !!!',
      { urls: cfg.urls.map((u) => u.url) },
    );
  }
  const dir = new AdDirectory(cfg, { ...deps, log });
  await dir.warmUp();
  return dir;
}
