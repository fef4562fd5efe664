/**
 * Sync source of the AD adapter (Windows AD and Samba AD): the users in scope and their changes,
 * pulled by the cloud (packages/protocol/src/sync.ts), ordered by `uSNChanged`.
 *
 * - Full sync (cursor null): the DC's `highestCommittedUSN` at the start is the watermark; users in
 *   scope are read in uSNChanged windows up to it (sync-window.ts: bounded batches, resumable from
 *   the cursor alone, no server-side paging state). A user changed during the full pass gets a
 *   USN above the watermark and comes with the first incremental pulls.
 * - Incremental: windows of `uSNChanged > watermark` up to the DC's current highestCommittedUSN:
 *   users in scope → upsert; users changed but no longer in scope (moved to another OU, filter no
 *   longer matching) → delete; tombstones (Show Deleted control, needs List Contents + Read
 *   Property on CN=Deleted Objects for the service account, otherwise deletions are only found by
 *   the cloud's sync.anchors pass) → delete.
 * - USNs are per DC: the cursor names the DC by its invocationId (NTDS Settings of rootDSE
 *   dsServiceName; it also changes when a DC is restored from backup). Another DC, or a cursor
 *   this code did not make: `reset: true` (the cloud restarts a full sync).
 * - Group membership (the synced `groups`): adding a user to a group or removing one changes the
 *   group's uSNChanged, not the user's (memberOf is a back link). So a window also reads the groups
 *   changed in it and re-emits their members in scope (current ones found by memberOf, removed
 *   ones from the group's deactivated links where the DC shows them: Windows; Samba 4.17 ignores
 *   that control, so there a removal reaches the cloud only with the user's next own change or a
 *   full sync), keyed by the group's USN.
 * - Group scoping: adding a user to a group does not change the user's uSNChanged (memberOf is a
 *   back link), so a change of the scoping group or a group nested in it answers `reset: true`.
 * - `protected` follows the adapter's rule (protection.ts; protected-groups.ts for how sync sees
 *   it); for the same reason a change of a protected group or a group nested in one answers
 *   `reset: true`, so a user just added to Domain Admins shows as protected. Writes do not rely
 *   on it: the adapter decides at write time from tokenGroups.
 *
 * Cursors: `usn:<invocationId>:f:<watermark>:<pos>:<tie>:<width>:<total>` during the full pass,
 * `usn:<invocationId>:i:<pos>:<tie>:<width>` after it; anchors: `anchors:<invocationId>:<pos>:<tie>:<width>`.
 *
 * One file (over 400 lines) on purpose: the cursor format, the USN windows, the tombstone and
 * scope rules are one algorithm over one DC's change order (the generic window walk is already in
 * sync-window.ts); kept together so a pull reads top to bottom.
 */
import type { SyncChange, SyncPullData, SyncedUser } from '@writeback/protocol';
import {
  AndFilter,
  Control,
  EqualityFilter,
  ExtensibleFilter,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  type Entry,
  type Filter,
} from 'ldapts';
import { DirectoryError } from '../errors.js';
import { WindowedSyncSource, type WalkBounds } from '../sync-source.js';
import {
  changeBytes,
  isDnWithin,
  normalizeDn,
  searchWindow,
  type KeyedChange,
  type WindowState,
} from '../sync-window.js';
import { filetimeToMs, intervalToSeconds } from './ad-time.js';
import { IN_CHAIN_RULE, type ResolvedAdConfig } from './config.js';
import { bytes, int, str, strings } from '../ldap/entry.js';
import { guidToString } from './guid.js';
import { classifyLdapError } from './ldap-errors.js';
import type { AdConnection, AdPool } from './pool.js';
import {
  inChainFilter,
  isProtectedEntry,
  PROTECTION_SYNC_ATTRS,
  resolveProtectedGroups,
  type ProtectedGroups,
} from './protected-groups.js';

/** LDAP_SERVER_SHOW_DELETED_OID: include tombstones in a search. */
export const SHOW_DELETED_OID = '1.2.840.113556.1.4.417';

/** Asks the DC to include tombstones (needs List Contents on CN=Deleted Objects to see any). */
export class ShowDeletedControl extends Control {
  constructor() {
    super(SHOW_DELETED_OID, { critical: true });
  }
}

/**
 * LDAP_SERVER_SHOW_DEACTIVATED_LINK: a group's `member` also lists the values removed (kept as
 * deactivated links until the tombstone lifetime), so a user just removed from a group is found
 * from the group. Not critical: a DC without it answers the current members only.
 */
export const SHOW_DEACTIVATED_LINK_OID = '1.2.840.113556.1.4.2065';
class ShowDeactivatedLinkControl extends Control {
  constructor() {
    super(SHOW_DEACTIVATED_LINK_OID, { critical: false });
  }
}
/** Users re-read per changed group beyond its current members (removed ones), at most. */
const MAX_REMOVED_MEMBERS_PER_GROUP = 1000;

const SAM_USER_OBJECT = '805306368';
const UF_ACCOUNTDISABLE = 0x2;
const SYNC_ATTRS = [
  'objectGUID',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'displayName',
  'mobile',
  'userAccountControl',
  'lockoutTime',
  'pwdLastSet',
  'memberOf',
  'uSNChanged',
  ...PROTECTION_SYNC_ATTRS,
];
/** How long the protected groups' DNs (found by SID) are reused across pulls. */
const PROTECTED_GROUPS_TTL_MS = 5 * 60_000;
const INITIAL_WIDTH = 1000;
const MAX_WIDTH = 2 ** 40;
/** Windows one pull may read before answering `more` (each is 1-4 searches). */
const MAX_WINDOWS = 32;
/** A user's JSON stays below this; memberOf values beyond it are left out. */
const MAX_USER_BYTES = 8 * 1024;
const PAGE = { pageSize: 500 };
/** Time the first pull may spend counting the users in scope (`total`). */
const COUNT_BUDGET_MS = 2500;

type Cursor =
  /** total -1: not counted (see countInScope). */
  | { phase: 'full'; dc: string; end: number; state: WindowState; total: number }
  | { phase: 'inc'; dc: string; state: WindowState };

const NUM = '(0|[1-9][0-9]{0,15})';
const HEX = '([0-9a-f]{32}|[0-9a-f]{1,64})';
const TIE = '([0-9a-f]{0,32})';
const TOTAL = '(-1|0|[1-9][0-9]{0,15})';
const FULL_RE = new RegExp(`^usn:${HEX}:f:${NUM}:${NUM}:${TIE}:${NUM}:${TOTAL}$`);
const INC_RE = new RegExp(`^usn:${HEX}:i:${NUM}:${TIE}:${NUM}$`);

/** Parses a pull cursor; null when this code did not make it. */
export function parseAdCursor(text: string): Cursor | null {
  let m = FULL_RE.exec(text);
  if (m) {
    const [, dc = '', end, pos, tie = '', width, total] = m;
    return {
      phase: 'full',
      dc,
      end: Number(end),
      state: { pos: { n: Number(pos), tie }, width: Number(width) },
      total: Number(total),
    };
  }
  m = INC_RE.exec(text);
  if (m) {
    const [, dc = '', pos, tie = '', width] = m;
    return { phase: 'inc', dc, state: { pos: { n: Number(pos), tie }, width: Number(width) } };
  }
  return null;
}

export function formatAdCursor(c: Cursor): string {
  const s = c.state;
  return c.phase === 'full'
    ? `usn:${c.dc}:f:${c.end}:${s.pos.n}:${s.pos.tie}:${Math.floor(s.width)}:${c.total}`
    : `usn:${c.dc}:i:${s.pos.n}:${s.pos.tie}:${Math.floor(s.width)}`;
}

/** What a pull learns about the DC first. */
interface DcView {
  id: string;
  highestUsn: number;
  namingContext: string;
  lockoutDurationSeconds: number;
}

/** `v` when it fits the synced user's field, else undefined (an oversized value must not fail the batch). */
const fit = (v: string | undefined, max: number): string | undefined =>
  v !== undefined && v.length > 0 && v.length <= max ? v : undefined;

/** One pull's connection and DC. */
interface AdContext {
  conn: AdConnection;
  dc: DcView;
}

/** A window's read: the pull's context and the protected groups on its DC. */
interface WindowContext extends AdContext {
  prot: ProtectedGroups;
}

export class AdSyncSource extends WindowedSyncSource<ResolvedAdConfig, AdPool, AdContext> {
  private warnedTombstones = false;
  private protectedCache: { dc: string; at: number; groups: ProtectedGroups } | undefined;
  protected readonly walk = { initialWidth: INITIAL_WIDTH, maxWidth: MAX_WIDTH, maxWindows: MAX_WINDOWS, tie: TIE };
  protected readonly names = { directory: 'AD directory', server: 'domain controller' };

  protected async pull(ctx: AdContext, cursorText: string | null, limit: number): Promise<SyncPullData> {
    const { dc } = ctx;
    const w: WindowContext = { ...ctx, prot: await this.protectedGroups(ctx) };
    let cursor: Cursor;
    if (cursorText === null) {
      const total = (await this.countInScope(ctx.conn)) ?? -1;
      cursor = { phase: 'full', dc: dc.id, end: dc.highestUsn, state: this.firstWindow(), total };
      this.log.info('ad sync: full sync started', { dc: dc.id, watermark: dc.highestUsn, total });
    } else {
      const parsed = parseAdCursor(cursorText);
      if (!parsed || parsed.dc !== dc.id) {
        this.log.warn('ad sync: cursor not valid on this DC; the cloud restarts a full sync', {
          reason: parsed ? 'other_dc' : 'unknown_cursor',
          dc: dc.id,
        });
        return this.resetAnswer();
      }
      cursor = parsed;
    }

    if (cursor.phase === 'full') {
      const full = cursor;
      const r = await this.walkWindows(full.state, { end: full.end }, limit, (lo, hi) => this.fetchInScope(w, lo, hi));
      // Once the full pass is done, continue incrementally after its watermark.
      return this.fullPassAnswer(
        r,
        full.total,
        (state) => formatAdCursor({ ...full, state }),
        () => formatAdCursor({ phase: 'inc', dc: dc.id, state: this.firstWindow(full.end + 1) }),
      );
    }

    const inc = cursor;
    if (this.cfg.scope.group !== undefined && (await this.scopeGroupChanged(ctx, inc.state.pos.n, dc.highestUsn))) {
      this.log.info('ad sync: the scoping group (or a group nested in it) changed; the cloud restarts a full sync', {
        dc: dc.id,
      });
      return this.resetAnswer();
    }
    if (w.prot.dns.length > 0 && (await this.groupsChanged(ctx, inc.state.pos.n, dc.highestUsn, w.prot.dns))) {
      this.log.info(
        'ad sync: a protected group (or a group nested in one) changed; the cloud restarts a full sync so the protected flags are right',
        { dc: dc.id },
      );
      return this.resetAnswer();
    }
    await this.checkTombstonesVisible(ctx);
    const r = await this.walkWindows(inc.state, this.walkBounds(ctx), limit, (lo, hi) => this.fetchChanges(w, lo, hi));
    return { changes: r.changes, cursor: formatAdCursor({ ...inc, state: r.state }), more: !r.done };
  }

  protected anchorsPrefix(ctx: AdContext): string {
    return `anchors:${ctx.dc.id}:`;
  }

  /**
   * The end follows the DC's highest USN at every page: a user changed during the pass moves ahead
   * of the position and is listed later, never skipped.
   */
  protected walkBounds(ctx: AdContext): WalkBounds {
    return { end: ctx.dc.highestUsn };
  }

  protected async fetchAnchors(ctx: AdContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const out: KeyedChange[] = [];
    for (const base of this.cfg.scope.baseDns) {
      const entries = await this.search(ctx.conn, base, this.scopeFilter(lo, hi), ['objectGUID', 'uSNChanged']);
      for (const e of entries) {
        const k = this.toDelete(e);
        if (k) out.push(k);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------

  protected async withContext<T>(fn: (ctx: AdContext) => Promise<T>): Promise<T> {
    const conn = await this.connect(() => this.pool.acquire());
    try {
      const r = await fn({ conn, dc: await this.dcView(conn) });
      this.pool.release(conn);
      return r;
    } catch (err) {
      if (err instanceof DirectoryError) {
        this.pool.release(conn);
        throw err;
      }
      this.pool.discard(conn);
      const f = classifyLdapError(err);
      if (f.kind === 'transport') this.pool.markDown(conn.url, f);
      this.log.warn('ad sync: read failed', {
        kind: f.kind,
        code: f.kind === 'result' ? f.code : f.errorCode,
        diagnostic: f.diagnostic,
      });
      throw new DirectoryError(
        'unavailable',
        `sync read failed (${f.kind === 'result' ? `LDAP result ${f.code}` : 'connection lost'})`,
        { cause: err },
      );
    }
  }

  private async search(
    conn: AdConnection,
    base: string,
    filter: Filter,
    attributes: string[],
    controls?: Control[],
  ): Promise<Entry[]> {
    // ldapts would reconnect a dropped client unbound; the pool's clients refuse, but say why here.
    if (!conn.client.isBound) throw new Error('connection lost before a sync read');
    return searchWindow(
      conn.client,
      base,
      { scope: 'sub', filter, attributes, explicitBufferAttributes: ['objectGUID', 'objectSid'] },
      controls,
    );
  }

  private async dcView(conn: AdConnection): Promise<DcView> {
    if (!conn.client.isBound) throw new Error('connection lost before a sync read');
    const root = (
      await conn.client.search('', {
        scope: 'base',
        attributes: ['highestCommittedUSN', 'dsServiceName', 'serverName', 'defaultNamingContext'],
      })
    ).searchEntries[0];
    const highest = root ? int(root, 'highestCommittedUSN') : undefined;
    if (!root || highest === undefined)
      throw new DirectoryError('unavailable', 'the DC did not report highestCommittedUSN');
    const dsService = str(root, 'dsServiceName');
    let id: string | undefined;
    if (dsService) {
      try {
        const ntds = (
          await conn.client.search(dsService, {
            scope: 'base',
            attributes: ['invocationId', 'objectGUID'],
            explicitBufferAttributes: ['invocationId', 'objectGUID'],
          })
        ).searchEntries[0];
        const inv = ntds ? (bytes(ntds, 'invocationId') ?? bytes(ntds, 'objectGUID')) : undefined;
        if (inv?.length === 16) id = inv.toString('hex');
      } catch (err) {
        if (classifyLdapError(err).kind === 'transport') throw err;
      }
    }
    // Without a readable invocationId, the server's name stands for the DC (restores then go unnoticed).
    id ??= Buffer.from(str(root, 'serverName') ?? dsService ?? conn.url.url, 'utf8')
      .toString('hex')
      .slice(0, 64);
    const nc = str(root, 'defaultNamingContext') ?? conn.rootDse.defaultNamingContext ?? this.cfg.baseDn;
    let lockoutDurationSeconds = 0;
    const domain = (await conn.client.search(nc, { scope: 'base', attributes: ['lockoutDuration'] })).searchEntries[0];
    if (domain) lockoutDurationSeconds = intervalToSeconds(str(domain, 'lockoutDuration'));
    return { id, highestUsn: highest, namingContext: nc, lockoutDurationSeconds };
  }

  private usnRange(lo: number, hi: number): Filter[] {
    return [
      new GreaterThanEqualsFilter({ attribute: 'uSNChanged', value: String(lo) }),
      new LessThanEqualsFilter({ attribute: 'uSNChanged', value: String(hi) }),
    ];
  }

  /** Users in scope (the subtree is the search base) within a USN range. */
  private scopeFilter(lo: number, hi: number): Filter {
    return new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT }),
        ...this.usnRange(lo, hi),
        ...this.cfg.scope.extraFilters,
      ],
    });
  }

  /**
   * Users in scope, for progress bars; undefined when counting takes longer than COUNT_BUDGET_MS
   * (the first pull must still answer within the cloud's deadline).
   */
  private async countInScope(conn: AdConnection): Promise<number | undefined> {
    let n = 0;
    const stopAt = performance.now() + COUNT_BUDGET_MS;
    const filter = new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT }),
        ...this.cfg.scope.extraFilters,
      ],
    });
    for (const base of this.cfg.scope.baseDns) {
      if (!conn.client.isBound) throw new Error('connection lost before a sync read');
      for await (const page of conn.client.searchPaginated(base, {
        scope: 'sub',
        filter,
        attributes: ['1.1'],
        paged: PAGE,
      })) {
        n += page.searchEntries.length;
        if (performance.now() > stopAt) {
          this.log.info('ad sync: counting the users in scope takes too long; the full sync runs without a total', {
            counted: n,
          });
          return undefined;
        }
      }
    }
    return n;
  }

  private async fetchInScope(w: WindowContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const { conn, dc, prot } = w;
    const out: KeyedChange[] = [];
    for (const base of this.cfg.scope.baseDns) {
      const entries = await this.search(conn, base, this.scopeFilter(lo, hi), SYNC_ATTRS);
      // Transitive members of a protected group among this window's users: one more search, only
      // when the window has users.
      const members = new Set<string>();
      if (entries.length > 0 && prot.dns.length > 0 && !prot.everyone) {
        const filter = new AndFilter({ filters: [this.scopeFilter(lo, hi), inChainFilter(prot.dns)] });
        for (const m of await this.search(conn, base, filter, ['objectGUID'])) {
          const g = bytes(m, 'objectGUID');
          if (g) members.add(g.toString('hex'));
        }
      }
      for (const e of entries) {
        const guid = bytes(e, 'objectGUID');
        const k = this.toUpsert(
          e,
          dc,
          isProtectedEntry(e, guid !== undefined && members.has(guid.toString('hex')), prot),
        );
        if (k) out.push(k);
      }
    }
    return out;
  }

  /** The protected groups' DNs on this DC (protected-groups.ts), reused for a few minutes. */
  private async protectedGroups({ conn, dc }: AdContext): Promise<ProtectedGroups> {
    const t = this.now();
    const c = this.protectedCache;
    if (c && c.dc === dc.id && t - c.at < PROTECTED_GROUPS_TTL_MS && t >= c.at) return c.groups;
    if (!conn.client.isBound) throw new Error('connection lost before a sync read');
    const groups = await resolveProtectedGroups(conn.client, dc.namingContext, this.cfg);
    if (groups.everyone)
      this.log.warn(
        'ad sync: a protectedGroups DN does not exist or is not readable; every user is synced as protected',
        {
          dc: dc.id,
        },
      );
    this.protectedCache = { dc: dc.id, at: t, groups };
    return groups;
  }

  /** Incremental window: upserts in scope, deletes for users that left scope and for tombstones. */
  private async fetchChanges(w: WindowContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const out = await this.fetchInScope(w, lo, hi);
    const seen = new Set(out.map((k) => k.tie));
    for (const k of await this.membersOfChangedGroups(w, lo, hi)) {
      if (seen.has(k.tie)) continue;
      seen.add(k.tie);
      out.push(k);
    }
    // Every user changed in the window, wherever it is now: those not in scope left it.
    const leftScope = await this.searchChanged(
      w,
      [new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT })],
      lo,
      hi,
      ['objectGUID', 'uSNChanged'],
    );
    // Tombstones of users (computers are users too in AD's class tree).
    const deleted = await this.searchChanged(
      w,
      [
        new EqualityFilter({ attribute: 'isDeleted', value: 'TRUE' }),
        new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
        new NotFilter({ filter: new EqualityFilter({ attribute: 'objectClass', value: 'computer' }) }),
      ],
      lo,
      hi,
      ['objectGUID', 'uSNChanged'],
      [new ShowDeletedControl()],
    );
    for (const e of [...leftScope, ...deleted]) {
      const k = this.toDelete(e);
      if (k && !seen.has(k.tie)) {
        seen.add(k.tie);
        out.push(k);
      }
    }
    return out;
  }

  /**
   * Users in scope whose membership a group changed in [lo, hi] may have changed: the members of
   * every group changed there (and the members it lost, when the DC shows deactivated links), as
   * upserts keyed by the group's USN so the window walk orders and resumes them like any change.
   */
  private async membersOfChangedGroups(w: WindowContext, lo: number, hi: number): Promise<KeyedChange[]> {
    const groups = await this.searchChanged(
      w,
      [new EqualityFilter({ attribute: 'objectClass', value: 'group' })],
      lo,
      hi,
      ['uSNChanged', 'member'],
      [new ShowDeactivatedLinkControl()],
    );
    const out: KeyedChange[] = [];
    const inScope = (extra: Filter[]): Filter =>
      new AndFilter({
        filters: [
          new EqualityFilter({ attribute: 'sAMAccountType', value: SAM_USER_OBJECT }),
          ...this.cfg.scope.extraFilters,
          ...extra,
        ],
      });
    for (const g of groups) {
      const usn = int(g, 'uSNChanged');
      if (usn === undefined) continue;
      const found = new Map<string, Entry>();
      const isMember = new EqualityFilter({ attribute: 'memberOf', value: g.dn });
      for (const base of this.cfg.scope.baseDns)
        for (const e of await this.search(w.conn, base, inScope([isMember]), SYNC_ATTRS))
          found.set(e.dn.toLowerCase(), e);
      const removed = strings(g, 'member')
        .filter((dn) => !found.has(dn.toLowerCase()))
        .filter((dn) => this.cfg.scope.baseDns.some((b) => isDnWithin(normalizeDn(dn), normalizeDn(b))))
        .slice(0, MAX_REMOVED_MEMBERS_PER_GROUP);
      const checkProtection = w.prot.dns.length > 0 && !w.prot.everyone;
      const protectedMembers = new Set<string>();
      const one = async (dn: string, extra: Filter[], attributes: string[]): Promise<Entry | undefined> => {
        try {
          const [e] = await searchWindow(w.conn.client, dn, {
            scope: 'base',
            filter: inScope(extra),
            attributes,
            explicitBufferAttributes: ['objectGUID', 'objectSid'],
          });
          return e;
        } catch (err) {
          // A member that is gone (32) left nothing to re-emit; its deletion has its own path.
          if (classifyLdapError(err).kind === 'transport') throw err;
          return undefined;
        }
      };
      for (const dn of removed) {
        const e = await one(dn, [], SYNC_ATTRS);
        if (!e) continue;
        found.set(e.dn.toLowerCase(), e);
        if (checkProtection && (await one(dn, [inChainFilter(w.prot.dns)], ['1.1'])))
          protectedMembers.add(e.dn.toLowerCase());
      }
      if (found.size === 0) continue;
      if (checkProtection) {
        for (const base of this.cfg.scope.baseDns)
          for (const m of await this.search(w.conn, base, inScope([isMember, inChainFilter(w.prot.dns)]), ['1.1']))
            protectedMembers.add(m.dn.toLowerCase());
      }
      for (const [dn, e] of found) {
        const k = this.toUpsert(e, w.dc, isProtectedEntry(e, protectedMembers.has(dn), w.prot));
        if (k) out.push({ ...k, n: usn });
      }
    }
    return out;
  }

  /** The scoping group or a group nested in it changed after `from` (membership is not visible on the users' USNs). */
  private async scopeGroupChanged(ctx: AdContext, from: number, to: number): Promise<boolean> {
    const group = this.cfg.scope.group;
    if (group === undefined) return false;
    return this.groupsChanged(ctx, from, to, [group]);
  }

  /** One of the groups or a group nested in one changed after `from`. */
  private async groupsChanged(ctx: AdContext, from: number, to: number, dns: readonly string[]): Promise<boolean> {
    if (from > to || dns.length === 0) return false;
    const groups = await this.searchChanged(
      ctx,
      [
        new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
        new OrFilter({
          filters: dns.flatMap((group) => [
            new EqualityFilter({ attribute: 'distinguishedName', value: group }),
            new ExtensibleFilter({ matchType: 'memberOf', rule: IN_CHAIN_RULE, value: group }),
          ]),
        }),
      ],
      from,
      to,
      ['1.1'],
    );
    return groups.length > 0;
  }

  /** Entries anywhere on the DC (its naming context) matching `filters` with lo <= uSNChanged <= hi. */
  private async searchChanged(
    { conn, dc }: AdContext,
    filters: Filter[],
    lo: number,
    hi: number,
    attributes: string[],
    controls?: Control[],
  ): Promise<Entry[]> {
    const filter = new AndFilter({ filters: [...filters, ...this.usnRange(lo, hi)] });
    return this.search(conn, dc.namingContext, filter, attributes, controls);
  }

  /** Once: say when the service account cannot see tombstones (deletions then wait for the anchors pass). */
  private async checkTombstonesVisible({ conn, dc }: AdContext): Promise<void> {
    if (this.warnedTombstones) return;
    this.warnedTombstones = true;
    let visible = false;
    try {
      // The container itself is visible to everyone; its attributes only with Read Property.
      const res = await conn.client.search(
        `CN=Deleted Objects,${dc.namingContext}`,
        { scope: 'base', attributes: ['isDeleted'] },
        [new ShowDeletedControl()],
      );
      const e = res.searchEntries[0];
      visible = e !== undefined && str(e, 'isDeleted')?.toUpperCase() === 'TRUE';
    } catch (err) {
      if (classifyLdapError(err).kind === 'transport') throw err;
    }
    if (!visible) {
      this.log.warn(
        'ad sync: the service account cannot list CN=Deleted Objects; deleted users are found only by the anchors pass. Grant it List Contents and Read Property there (dsacls /takeownership first) to see deletions in incremental pulls',
        { dc: dc.id },
      );
    }
  }

  private toDelete(e: Entry): KeyedChange | null {
    const guid = bytes(e, 'objectGUID');
    const usn = int(e, 'uSNChanged');
    if (guid?.length !== 16 || usn === undefined) return null;
    return { n: usn, tie: guid.toString('hex'), change: { kind: 'delete', anchor: guidToString(guid) } };
  }

  private toUpsert(e: Entry, dc: DcView, isProtected: boolean): KeyedChange | null {
    const guid = bytes(e, 'objectGUID');
    const usn = int(e, 'uSNChanged');
    const login = fit(str(e, 'sAMAccountName'), 256);
    if (guid?.length !== 16 || usn === undefined || !login) return null;
    const uac = int(e, 'userAccountControl') ?? 0;
    const pwdLastSet = str(e, 'pwdLastSet');
    const lockoutMs = filetimeToMs(str(e, 'lockoutTime'));
    const locked =
      lockoutMs !== null &&
      (dc.lockoutDurationSeconds === 0 || this.now() < lockoutMs + dc.lockoutDurationSeconds * 1000);
    const pwdMs = filetimeToMs(pwdLastSet);
    const user: SyncedUser = {
      anchor: guidToString(guid),
      login,
      enabled: (uac & UF_ACCOUNTDISABLE) === 0,
      locked,
      mustChange: pwdLastSet === '0',
      protected: isProtected,
      passwordLastSetAt: pwdMs === null ? null : new Date(pwdMs).toISOString(),
    };
    const dn = fit(e.dn, 1024);
    if (dn) user.dn = dn;
    const upn = fit(str(e, 'userPrincipalName'), 256);
    if (upn) user.userPrincipalName = upn;
    const mail = fit(str(e, 'mail'), 256);
    if (mail) user.mail = mail;
    const displayName = fit(str(e, 'displayName'), 256);
    if (displayName) user.displayName = displayName;
    const mobile = fit(str(e, 'mobile'), 64);
    if (mobile) user.mobile = mobile;
    const groups = strings(e, 'memberOf').filter((g) => g.length <= 1024);
    if (groups.length > 0) {
      const kept: string[] = [];
      let size = changeBytes({ kind: 'upsert', user });
      for (const g of groups) {
        size += Buffer.byteLength(g, 'utf8') + 3;
        if (size > MAX_USER_BYTES || kept.length >= 1000) break;
        kept.push(g);
      }
      if (kept.length < groups.length)
        this.log.warn('ad sync: memberOf list cut to keep the user inside one batch', {
          anchor: user.anchor,
          groups: groups.length,
          kept: kept.length,
        });
      user.groups = kept;
    }
    const change: SyncChange = { kind: 'upsert', user };
    return { n: usn, tie: guid.toString('hex'), change };
  }
}
