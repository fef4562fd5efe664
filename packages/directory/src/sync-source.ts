/**
 * What the AD and OpenLDAP sync sources share around the window walk (sync-window.ts): the limits
 * of a pull and of an anchors page, the refusal once the directory is closed, taking a connection,
 * the answers of the full pass and of a reset, and the whole anchors pass (its cursor is
 * `<anchorsPrefix><pos>:<tie>:<width>`). Each source says how to open one pull's context, where its
 * change order ends and how to read a window; its cursors and scope rules stay in its own sync.ts.
 */
import { MAX_SYNC_BATCH_USERS, type Logger, type SyncAnchorsData, type SyncPullData } from '@writeback/protocol';
import type { SyncSource } from './directory.js';
import { DirectoryError } from './errors.js';
import {
  pullAnchorWindows,
  pullWindows,
  type KeyedChange,
  type WindowPullResult,
  type WindowState,
} from './sync-window.js';

/** What a sync source is given by its directory. */
export interface SyncSourceDeps {
  log: Logger;
  /** True once the directory is closed: pulls are refused. */
  isClosed: () => boolean;
  now: () => number;
}

/** A source's window walk: the first window's width, the widest window, windows per pull, its tie. */
export interface WalkSettings {
  initialWidth: number;
  maxWidth: number;
  /** Windows one pull may read before answering `more`. */
  maxWindows: number;
  /** The regular expression of a cursor's tie (what follows `<pos>:`). */
  tie: string;
}

/** Where one walk stops: the last key to cover and (OpenLDAP) where the recent windows start. */
export interface WalkBounds {
  end: number;
  settleFrom?: number;
}

/** How a source names itself and its servers in its refusals (callers switch on the code). */
export interface SourceNames {
  /** `AD directory`: "<directory> is closed". */
  directory: string;
  /** `domain controller`: "no <server> reachable for sync". */
  server: string;
}

/** Anchors one `sync.anchors` page lists at most. */
const MAX_ANCHORS_PAGE = 2000;
const NUM = '(0|[1-9][0-9]{0,15})';

/** Clamps a requested count to 1..max. */
const clampLimit = (requested: number, max: number) => Math.max(1, Math.min(max, Math.floor(requested)));

/** A sync source over one directory's configuration and connection pool (Cfg, Pool). */
export abstract class WindowedSyncSource<Cfg, Pool, Ctx> implements SyncSource {
  protected readonly log: Logger;
  protected readonly now: () => number;
  private readonly isClosed: () => boolean;

  constructor(
    protected readonly cfg: Cfg,
    protected readonly pool: Pool,
    deps: SyncSourceDeps,
  ) {
    this.log = deps.log;
    this.now = deps.now;
    this.isClosed = deps.isClosed;
  }

  protected abstract readonly walk: WalkSettings;
  protected abstract readonly names: SourceNames;

  /** Runs one pull (or anchors page) in its context: a connection and what is read once per pull. */
  protected abstract withContext<T>(fn: (ctx: Ctx) => Promise<T>): Promise<T>;
  /** One pull at most `limit` changes long, from `cursorText` (null: start a full sync). */
  protected abstract pull(ctx: Ctx, cursorText: string | null, limit: number): Promise<SyncPullData>;
  /** What every anchors cursor of this context starts with (AD: the DC's id). */
  protected abstract anchorsPrefix(ctx: Ctx): string;
  /** Where a walk over the change order as it stands now stops (the anchors pass, incremental pulls). */
  protected abstract walkBounds(ctx: Ctx): WalkBounds;
  /** The users in scope with lo <= key <= hi, each as a `delete` change carrying its anchor. */
  protected abstract fetchAnchors(ctx: Ctx, lo: number, hi: number): Promise<KeyedChange[]>;

  async pullChanges(cursorText: string | null, limitIn: number): Promise<SyncPullData> {
    const limit = clampLimit(limitIn, MAX_SYNC_BATCH_USERS);
    return this.session((ctx) => this.pull(ctx, cursorText, limit));
  }

  async listAnchors(cursorText: string | null, limitIn: number): Promise<SyncAnchorsData> {
    const limit = clampLimit(limitIn, MAX_ANCHORS_PAGE);
    return this.session(async (ctx) => {
      const prefix = this.anchorsPrefix(ctx);
      let state = this.firstWindow();
      if (cursorText !== null) {
        const m = cursorText.startsWith(prefix)
          ? new RegExp(`^${NUM}:${this.walk.tie}:${NUM}$`).exec(cursorText.slice(prefix.length))
          : null;
        // No reset flag in this answer: refuse, so the cloud starts the pass again instead of
        // treating users it did not see as deleted.
        if (!m)
          throw new DirectoryError(
            'unavailable',
            `anchors cursor is not valid on this ${this.names.server}; start the anchors pass again`,
          );
        state = { pos: { n: Number(m[1]), tie: m[2] ?? '' }, width: Number(m[3]) };
      }
      return pullAnchorWindows(
        {
          state,
          ...this.walkBounds(ctx),
          limit,
          fetch: (lo, hi) => this.fetchAnchors(ctx, lo, hi),
          maxWidth: this.walk.maxWidth,
          maxWindows: this.walk.maxWindows,
        },
        prefix,
      );
    });
  }

  /** The window state at the start of the change order, or at key `n`. */
  protected firstWindow(n = 0): WindowState {
    return { pos: { n, tie: '' }, width: this.walk.initialWidth };
  }

  /** Walks windows from `state` within `bounds` until `limit` changes are collected (sync-window.ts). */
  protected walkWindows(
    state: WindowState,
    bounds: WalkBounds,
    limit: number,
    fetch: (lo: number, hi: number) => Promise<KeyedChange[]>,
  ): Promise<WindowPullResult> {
    return pullWindows({
      state,
      ...bounds,
      limit,
      fetch,
      maxWidth: this.walk.maxWidth,
      maxWindows: this.walk.maxWindows,
    });
  }

  /**
   * An answer of the full pass: `more` with the cursor at the walk's state until the pass is done,
   * then `next`, the first incremental cursor; `total` when the users were counted (-1: not).
   */
  protected fullPassAnswer(
    r: WindowPullResult,
    total: number,
    cursorAt: (state: WindowState) => string,
    next: () => string,
  ): SyncPullData {
    const counted = total >= 0 ? { total } : {};
    if (!r.done) return { changes: r.changes, cursor: cursorAt(r.state), more: true, ...counted };
    return { changes: r.changes, cursor: next(), more: false, ...counted };
  }

  /** The answer that makes the cloud restart with a full sync (the cursor cannot go on). */
  protected resetAnswer(): SyncPullData {
    return { changes: [], cursor: '', more: false, reset: true };
  }

  /** A connection from `acquire`; failing that, DirectoryError `unavailable` (a DirectoryError as it is). */
  protected async connect<C>(acquire: () => Promise<C>): Promise<C> {
    try {
      return await acquire();
    } catch (err) {
      if (err instanceof DirectoryError) throw err;
      throw new DirectoryError('unavailable', `no ${this.names.server} reachable for sync`, { cause: err });
    }
  }

  private async session<T>(fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    if (this.isClosed()) throw new DirectoryError('closed', `${this.names.directory} is closed`);
    return this.withContext(fn);
  }
}
