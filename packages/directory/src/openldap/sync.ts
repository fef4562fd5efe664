/**
 * Sync source of the OpenLDAP adapter: the users in scope and their changes, pulled by the cloud
 * (packages/protocol/src/sync.ts), ordered by `entryCSN` (slapd keeps it on every entry, with
 * microseconds and a counter, and keeps it when replicating; its ORDERING rule makes
 * `(entryCSN>=…)` work without any overlay).
 *
 * - Full sync and incremental pulls walk CSN-time windows (sync-window.ts: bounded batches,
 *   resumable from the cursor alone) up to a day ahead of the agent's clock. A user changed during
 *   the full pass moves ahead of the position and comes later in the same pass. Windows of the
 *   last five minutes move the position only to the newest change seen in them, so a server clock
 *   behind the agent's by less than that loses nothing.
 * - Windows are narrowed to fit the server's size limit (slapd's default is 500 entries per
 *   search for everyone but the rootDN); with that default the full sync's `total` is unknown.
 * - Incremental pulls also answer `delete` for users changed but no longer in scope (moved out of
 *   the subtrees, filter or group no longer matching), checked by anchor without the window: a
 *   user written again while a bounded window was read has left the window, not the scope.
 * - Deletions: OpenLDAP keeps no tombstones (without the accesslog overlay), so a deleted entry
 *   is simply gone and no pull can see it. Deleted users are found by the cloud's `sync.anchors`
 *   pass, which it runs after every full sync and periodically.
 * - Group scoping (scope.group): group membership does not change the members' entryCSN, so the
 *   cursor remembers the group's entryCSN and a changed group answers `reset: true`.
 * - The change order is the server's clock, stamped when a write starts. The last five minutes
 *   are read in one window (sync-window.ts), so within a pull a late commit cannot fall behind a
 *   newer change; across pulls, with concurrent writers, a write that commits after a later-stamped
 *   one was already returned is missed (a race of milliseconds, as for every timestamp-based sync;
 *   the next full sync repairs it). Replicas whose clocks disagree by more than five minutes can
 *   skip changes after a fail-over.
 *
 * Cursors: `csn:f:<groupCsn>:<pos>:<tie>:<width>:<total>` during the full pass,
 * `csn:i:<groupCsn>:<pos>:<tie>:<width>` after it (groupCsn `-` without scope.group, total -1 unknown);
 * anchors: `anchors:<pos>:<tie>:<width>`. pos is microseconds of a CSN time, tie `<csn>|<anchor>`.
 *
 * One file (over 400 lines) on purpose: the cursor format, the CSN windows and the scope and
 * group rules are one algorithm over slapd's change order (the generic window walk is already in
 * sync-window.ts); kept together so a pull reads top to bottom.
 */
import type { SyncChange, SyncPullData, SyncedUser } from '@writeback/protocol';
import {
  AndFilter,
  EqualityFilter,
  GreaterThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  type Entry,
  type Filter,
} from 'ldapts';
import { DirectoryError } from '../errors.js';
import { WindowedSyncSource, type WalkBounds } from '../sync-source.js';
import { isDnWithin, normalizeDn, searchWindow, type KeyedChange, type WindowState } from '../sync-window.js';
import type { ResolvedOpenLdapConfig } from './config.js';
import { isResultCodeError, type PooledConnection, type ServicePool } from './connection.js';
import {
  first,
  isDisabled,
  isLocked,
  parseGeneralizedTime,
  settingsFromEntry,
  userStateFromEntry,
  values,
  type PpolicySettings,
} from './policy.js';

const HOUR_US = 3_600_000_000;
const MAX_WIDTH = 2 ** 50;
const MAX_WINDOWS = 48;
/**
 * Windows newer than this (agent clock) only move the position to changes seen: a server clock
 * behind the agent's by less than this loses nothing.
 */
const SETTLE_US = 5 * 60_000_000;
/** Changes stamped up to this far ahead of the agent's clock are read (a server clock ahead). */
const AHEAD_US = 24 * 3_600_000_000;
const PAGE = { pageSize: 500 };
/** Time the first pull may spend counting the users in scope (`total`). */
const COUNT_BUDGET_MS = 2500;
const POLICY_ATTRS = ['pwdLockout', 'pwdLockoutDuration', 'pwdMaxFailure', 'pwdMinLength', 'pwdCheckQuality'];
/** Anchors per "still in scope?" search (an OR of equality filters). */
const ANCHOR_CHECK_CHUNK = 50;

/** total -1: not known (size limit). */
type Cursor = { phase: 'full' | 'inc'; groupCsn: string; state: WindowState; total: number };

const NUM = '(0|[1-9][0-9]{0,15})';
const TOTAL = '(-1|0|[1-9][0-9]{0,15})';
const TIE = '([0-9A-Za-z.#|{}=,_-]{0,200})';
const GCSN = '(-|[0-9.Z#]{1,64})';
const FULL_RE = new RegExp(`^csn:f:${GCSN}:${NUM}:${TIE}:${NUM}:${TOTAL}$`);
const INC_RE = new RegExp(`^csn:i:${GCSN}:${NUM}:${TIE}:${NUM}$`);

export function parseOpenLdapCursor(text: string): Cursor | null {
  let m = FULL_RE.exec(text);
  if (m) {
    const [, groupCsn = '-', pos, tie = '', width, total] = m;
    return {
      phase: 'full',
      groupCsn,
      state: { pos: { n: Number(pos), tie }, width: Number(width) },
      total: Number(total),
    };
  }
  m = INC_RE.exec(text);
  if (m) {
    const [, groupCsn = '-', pos, tie = '', width] = m;
    return { phase: 'inc', groupCsn, state: { pos: { n: Number(pos), tie }, width: Number(width) }, total: 0 };
  }
  return null;
}

function formatCursor(c: Cursor): string {
  const s = c.state;
  const w = Math.floor(s.width);
  return c.phase === 'full'
    ? `csn:f:${c.groupCsn}:${s.pos.n}:${s.pos.tie}:${w}:${c.total}`
    : `csn:i:${c.groupCsn}:${s.pos.n}:${s.pos.tie}:${w}`;
}

/** CSN `YYYYmmddHHMMSS.ffffffZ#…` → microseconds since the epoch; null when not a CSN. */
export function csnMicros(csn: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})Z#/.exec(csn);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, us] = m.map(Number);
  return Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0) * 1000 + (us ?? 0);
}

/** The smallest CSN at microsecond `n`. */
export function csnLowerBound(n: number): string {
  const d = new Date(Math.floor(n / 1000));
  const p = (v: number, w = 2) => String(v).padStart(w, '0');
  const us = ((n % 1_000_000) + 1_000_000) % 1_000_000;
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(us, 6)}Z#000000#000#000000`;
}

const fit = (v: string | undefined, max: number): string | undefined =>
  v !== undefined && v.length > 0 && v.length <= max ? v : undefined;

/** Member values of a group entry (DNs normalised, memberUid logins as they are). */
interface Members {
  dns: Set<string>;
  uids: Set<string>;
}

/** What one pull reads once. */
interface PullContext {
  conn: PooledConnection;
  namingContext: string;
  scopeMembers: Members | undefined;
  /** null: a protected group could not be read, so everyone counts as protected (as for writes). */
  protectedMembers: Members | null;
  policies: Map<string, PpolicySettings | null>;
  now: number;
}

export class OpenLdapSyncSource extends WindowedSyncSource<ResolvedOpenLdapConfig, ServicePool, PullContext> {
  private namingContext: string | undefined;
  protected readonly walk = { initialWidth: HOUR_US, maxWidth: MAX_WIDTH, maxWindows: MAX_WINDOWS, tie: TIE };
  protected readonly names = { directory: 'the OpenLDAP directory', server: 'directory server' };

  protected async pull(ctx: PullContext, cursorText: string | null, limit: number): Promise<SyncPullData> {
    const groupCsn = await this.groupCsn(ctx);
    let cursor: Cursor;
    if (cursorText === null) {
      cursor = {
        phase: 'full',
        groupCsn,
        state: this.firstWindow(),
        total: (await this.countInScope(ctx)) ?? -1,
      };
      this.log.info('openldap sync: full sync started', { total: cursor.total });
    } else {
      const parsed = parseOpenLdapCursor(cursorText);
      if (!parsed) {
        this.log.warn('openldap sync: cursor not made by this adapter; the cloud restarts a full sync');
        return this.resetAnswer();
      }
      if (parsed.groupCsn !== groupCsn) {
        this.log.info('openldap sync: the scoping group changed; the cloud restarts a full sync', {
          group: this.cfg.resolvedScope.group,
        });
        return this.resetAnswer();
      }
      cursor = parsed;
    }
    const c = cursor;
    const full = c.phase === 'full';
    const r = await this.walkWindows(c.state, this.walkBounds(ctx), limit, (lo, hi) =>
      this.fetchChanges(ctx, lo, hi, full ? 'skip' : 'delete'),
    );
    if (full)
      return this.fullPassAnswer(
        r,
        c.total,
        (state) => formatCursor({ ...c, state }),
        () => formatCursor({ ...c, phase: 'inc', state: r.state }),
      );
    return { changes: r.changes, cursor: formatCursor({ ...c, state: r.state }), more: !r.done };
  }

  protected anchorsPrefix(): string {
    return 'anchors:';
  }

  /** Up to a day ahead of the agent's clock; the last five minutes are recent (see the header). */
  protected walkBounds(ctx: PullContext): WalkBounds {
    return { end: ctx.now * 1000 + AHEAD_US, settleFrom: ctx.now * 1000 - SETTLE_US };
  }

  protected async fetchAnchors(ctx: PullContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const out: KeyedChange[] = [];
    for (const base of this.cfg.resolvedScope.baseDns) {
      for (const e of await this.search(ctx, base, this.inScopeFilter({ lo, hi }), [
        this.cfg.anchorAttribute,
        this.cfg.loginAttribute,
        'entryCSN',
      ])) {
        if (!this.isScopeMember(ctx, e)) continue;
        const k = this.keyed(e, (anchor) => ({ kind: 'delete', anchor }));
        if (k) out.push(k);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------

  protected async withContext<T>(fn: (ctx: PullContext) => Promise<T>): Promise<T> {
    const conn = await this.connect(() => this.pool.acquire());
    let broken = false;
    try {
      const ctx: PullContext = {
        conn,
        namingContext: await this.findNamingContext(conn),
        scopeMembers: undefined,
        protectedMembers: { dns: new Set(), uids: new Set() },
        policies: new Map(),
        now: this.now(),
      };
      const { group, groupMembership } = this.cfg.resolvedScope;
      if (group !== undefined && groupMembership === 'member')
        ctx.scopeMembers = (await this.readMembers(ctx, group)) ?? { dns: new Set(), uids: new Set() };
      for (const g of this.cfg.protectedGroups) {
        const m = await this.readMembers(ctx, g);
        if (!m || !ctx.protectedMembers) {
          ctx.protectedMembers = null;
          continue;
        }
        for (const d of m.dns) ctx.protectedMembers.dns.add(d);
        for (const u of m.uids) ctx.protectedMembers.uids.add(u);
      }
      return await fn(ctx);
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      broken = !isResultCodeError(err);
      this.log.warn('openldap sync: read failed', {
        code: isResultCodeError(err) ? err.code : undefined,
        err: err instanceof Error ? err.message : String(err),
      });
      throw new DirectoryError(
        'unavailable',
        `sync read failed (${isResultCodeError(err) ? `LDAP result ${err.code}` : 'connection lost'})`,
        { cause: err },
      );
    } finally {
      this.pool.release(conn, broken);
    }
  }

  private async search(ctx: PullContext, base: string, filter: Filter, attributes: string[]): Promise<Entry[]> {
    if (!ctx.conn.usable) throw new Error('directory connection lost before a sync read');
    return searchWindow(ctx.conn.client, base, { scope: 'sub', filter, attributes });
  }

  /** The database suffix holding baseDn (rootDSE namingContexts), for "left scope" searches. */
  private async findNamingContext(conn: PooledConnection): Promise<string> {
    if (this.namingContext) return this.namingContext;
    if (!conn.usable) throw new Error('directory connection lost before a sync read');
    const root = (await conn.client.search('', { scope: 'base', attributes: ['namingContexts'] })).searchEntries[0];
    const base = normalizeDn(this.cfg.baseDn);
    const nc = (root ? values(root, 'namingContexts') : []).find((n) => isDnWithin(base, normalizeDn(n)));
    this.namingContext = nc ?? this.cfg.baseDn;
    return this.namingContext;
  }

  /** A group's member values; null when it does not exist or cannot be read. */
  private async readMembers(ctx: PullContext, group: string): Promise<Members | null> {
    if (!ctx.conn.usable) throw new Error('directory connection lost before a sync read');
    try {
      const e = (
        await ctx.conn.client.search(group, { scope: 'base', attributes: ['member', 'uniqueMember', 'memberUid'] })
      ).searchEntries[0];
      if (!e) return null;
      return {
        dns: new Set([...values(e, 'member'), ...values(e, 'uniqueMember')].map(normalizeDn)),
        uids: new Set(values(e, 'memberUid')),
      };
    } catch (err) {
      if (isResultCodeError(err) && (err.code === 32 || err.code === 50)) return null;
      throw err;
    }
  }

  /** entryCSN of scope.group ('-' without one; 'missing' when it cannot be read). */
  private async groupCsn(ctx: PullContext): Promise<string> {
    const group = this.cfg.resolvedScope.group;
    if (group === undefined) return '-';
    if (!ctx.conn.usable) throw new Error('directory connection lost before a sync read');
    try {
      const e = (await ctx.conn.client.search(group, { scope: 'base', attributes: ['entryCSN'] })).searchEntries[0];
      const csn = e ? first(e, 'entryCSN') : undefined;
      return csn && /^[0-9.Z#]{1,64}$/.test(csn) ? csn : '-';
    } catch (err) {
      if (isResultCodeError(err) && (err.code === 32 || err.code === 50)) return '-';
      throw err;
    }
  }

  private csnRange(lo: number, hi: number): Filter[] {
    const f: Filter[] = [new GreaterThanEqualsFilter({ attribute: 'entryCSN', value: csnLowerBound(lo) })];
    f.push(
      new NotFilter({ filter: new GreaterThanEqualsFilter({ attribute: 'entryCSN', value: csnLowerBound(hi + 1) }) }),
    );
    return f;
  }

  /** Users (entries with a login) matching the scope's filters, within a CSN window when given one. */
  private inScopeFilter(window?: { lo: number; hi: number }): Filter {
    return new AndFilter({
      filters: [
        new PresenceFilter({ attribute: this.cfg.loginAttribute }),
        ...this.cfg.resolvedScope.extraFilters,
        ...(window ? this.csnRange(window.lo, window.hi) : []),
      ],
    });
  }

  private isScopeMember(ctx: PullContext, e: Entry): boolean {
    const m = ctx.scopeMembers;
    if (!m) return true;
    const login = first(e, this.cfg.loginAttribute);
    return m.dns.has(normalizeDn(e.dn)) || (login !== undefined && m.uids.has(login));
  }

  /**
   * Users in scope, for progress bars; undefined when the server's size limit stops the count
   * (slapd's default limit is 500 entries per search, paged or not, for everyone but the rootDN)
   * or counting takes longer than COUNT_BUDGET_MS.
   */
  private async countInScope(ctx: PullContext): Promise<number | undefined> {
    let n = 0;
    const stopAt = performance.now() + COUNT_BUDGET_MS;
    try {
      for (const base of this.cfg.resolvedScope.baseDns) {
        if (!ctx.conn.usable) throw new Error('directory connection lost before a sync read');
        const attrs = ctx.scopeMembers ? [this.cfg.loginAttribute] : ['1.1'];
        for await (const page of ctx.conn.client.searchPaginated(base, {
          scope: 'sub',
          filter: this.inScopeFilter(),
          attributes: attrs,
          paged: PAGE,
        })) {
          n += page.searchEntries.filter((e) => this.isScopeMember(ctx, e)).length;
          // The first pull must still answer within the cloud's deadline.
          if (performance.now() > stopAt) return undefined;
        }
      }
    } catch (err) {
      if (!isResultCodeError(err) || err.code !== 4) throw err;
      this.log.warn(
        'openldap sync: the server size limit stops counting the users in scope (no progress total; windows are narrowed to fit). Raise it for the service account: olcLimits: dn.exact="<bindDn>" size=unlimited',
        { counted: n },
      );
      return undefined;
    }
    return n;
  }

  private userAttributes(): string[] {
    const a = [
      this.cfg.anchorAttribute,
      this.cfg.loginAttribute,
      'cn',
      'displayName',
      'mail',
      'mobile',
      'pwdAccountLockedTime',
      'pwdReset',
      'pwdChangedTime',
      'pwdPolicySubentry',
      'entryCSN',
    ];
    if (this.cfg.resolvedScope.groupMembership === 'memberOf') a.push('memberOf');
    return a;
  }

  private async fetchInScope(ctx: PullContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const out: KeyedChange[] = [];
    for (const base of this.cfg.resolvedScope.baseDns) {
      for (const e of await this.search(ctx, base, this.inScopeFilter({ lo, hi }), this.userAttributes())) {
        if (!this.isScopeMember(ctx, e)) continue;
        const user = await this.toUser(ctx, e);
        if (!user) continue;
        const k = this.keyed(e, () => ({ kind: 'upsert', user }));
        if (k) out.push(k);
      }
    }
    return out;
  }

  /**
   * One window: upserts for users in scope; users changed but not in scope are deletes in
   * incremental pulls (they may have left scope). In the full pass they are only places to move
   * past, and only in recent windows (older ones are passed whole), so the first incremental pull
   * does not answer `delete` for every user outside scope changed after the newest one in scope.
   */
  private async fetchChanges(
    ctx: PullContext,
    lo: number,
    hi: number,
    outOfScope: 'delete' | 'skip',
  ): Promise<KeyedChange[]> {
    if (outOfScope === 'skip' && hi < ctx.now * 1000 - SETTLE_US) return this.fetchInScope(ctx, lo, hi);
    // Every user changed in the window, wherever it is, read BEFORE the users in scope: a write
    // committed between the two reads then shows up as in scope (upsert), never as "left scope"
    // (delete) for a user who did not leave.
    const changed = await this.search(
      ctx,
      ctx.namingContext,
      new AndFilter({
        filters: [new PresenceFilter({ attribute: this.cfg.loginAttribute }), ...this.csnRange(lo, hi)],
      }),
      [this.cfg.anchorAttribute, 'entryCSN'],
    );
    const out = await this.fetchInScope(ctx, lo, hi);
    const inScope = new Set(out.flatMap((k) => (k.change?.kind === 'upsert' ? [k.change.user.anchor] : [])));
    const leaving = changed.filter((e) => {
      const anchor = first(e, this.cfg.anchorAttribute);
      return anchor !== undefined && !inScope.has(anchor);
    });
    // A user written again between the two reads has left the window, not the scope: its newer
    // change is read in a later window. Only users not in scope now (whatever their entryCSN) leave.
    const stayed =
      outOfScope === 'delete' && leaving.length > 0
        ? await this.anchorsInScope(
            ctx,
            leaving.flatMap((e) => first(e, this.cfg.anchorAttribute) ?? []),
          )
        : new Set<string>();
    for (const e of leaving) {
      const k = this.keyed(e, (anchor) =>
        outOfScope === 'delete' && !stayed.has(anchor) ? { kind: 'delete', anchor } : null,
      );
      const anchor = first(e, this.cfg.anchorAttribute);
      if (k && anchor !== undefined && !inScope.has(anchor)) {
        inScope.add(anchor);
        out.push(k);
      }
    }
    return out;
  }

  /** Of these anchors, the ones whose user is in scope now (any entryCSN). */
  private async anchorsInScope(ctx: PullContext, anchors: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < anchors.length; i += ANCHOR_CHECK_CHUNK) {
      const byAnchor = new OrFilter({
        filters: anchors
          .slice(i, i + ANCHOR_CHECK_CHUNK)
          .map((value) => new EqualityFilter({ attribute: this.cfg.anchorAttribute, value })),
      });
      for (const base of this.cfg.resolvedScope.baseDns) {
        for (const e of await this.search(ctx, base, new AndFilter({ filters: [this.inScopeFilter(), byAnchor] }), [
          this.cfg.anchorAttribute,
          this.cfg.loginAttribute,
        ])) {
          const anchor = first(e, this.cfg.anchorAttribute);
          if (anchor !== undefined && this.isScopeMember(ctx, e)) found.add(anchor);
        }
      }
    }
    return found;
  }

  private keyed(e: Entry, make: (anchor: string) => SyncChange | null): KeyedChange | null {
    const csn = first(e, 'entryCSN');
    const anchor = fit(first(e, this.cfg.anchorAttribute), 128);
    const n = csn ? csnMicros(csn) : null;
    if (!csn || !anchor || n === null) return null;
    return { n, tie: `${csn}|${anchor}`, change: make(anchor) };
  }

  private async policy(ctx: PullContext, dn: string): Promise<PpolicySettings | null> {
    if (ctx.policies.has(dn)) return ctx.policies.get(dn) ?? null;
    let settings: PpolicySettings | null = null;
    try {
      if (!ctx.conn.usable) throw new Error('directory connection lost before a sync read');
      const e = (await ctx.conn.client.search(dn, { scope: 'base', attributes: POLICY_ATTRS })).searchEntries[0];
      if (e) settings = settingsFromEntry(e);
    } catch (err) {
      if (!isResultCodeError(err) || (err.code !== 32 && err.code !== 50)) throw err;
    }
    ctx.policies.set(dn, settings);
    return settings;
  }

  private async toUser(ctx: PullContext, e: Entry): Promise<SyncedUser | null> {
    const anchor = fit(first(e, this.cfg.anchorAttribute), 128);
    const login = fit(first(e, this.cfg.loginAttribute), 256);
    if (!anchor || !login) return null;
    const state = userStateFromEntry(e);
    const disabled = isDisabled(state);
    let locked = false;
    if (state.lockedTime !== undefined && !disabled) {
      const policyDn = first(e, 'pwdPolicySubentry') ?? this.cfg.defaultPolicyDn;
      locked = isLocked(state, await this.policy(ctx, policyDn), ctx.now);
    }
    const changed = first(e, 'pwdChangedTime');
    const changedAt = changed === undefined || state.reset ? null : parseGeneralizedTime(changed);
    const pm = ctx.protectedMembers;
    const user: SyncedUser = {
      anchor,
      login,
      enabled: !disabled,
      locked,
      mustChange: state.reset,
      protected: pm === null || pm.dns.has(normalizeDn(e.dn)) || pm.uids.has(login),
      passwordLastSetAt: changedAt === null ? null : new Date(changedAt).toISOString(),
    };
    const dn = fit(e.dn, 1024);
    if (dn) user.dn = dn;
    const mail = fit(first(e, 'mail'), 256);
    if (mail) user.mail = mail;
    const displayName = fit(first(e, 'displayName') ?? first(e, 'cn'), 256);
    if (displayName) user.displayName = displayName;
    const mobile = fit(first(e, 'mobile'), 64);
    if (mobile) user.mobile = mobile;
    const { group, groupMembership } = this.cfg.resolvedScope;
    if (groupMembership === 'memberOf') {
      const groups = values(e, 'memberOf').filter((g) => g.length <= 1024);
      if (groups.length > 0) user.groups = groups.slice(0, 64);
    } else if (group !== undefined) {
      user.groups = [group];
    }
    return user;
  }
}
