/**
 * Resumable, bounded sync pulls over a directory's change order (AD `uSNChanged`, OpenLDAP
 * `entryCSN` time), shared by the AD and OpenLDAP sync sources.
 *
 * Why windows: a server-side paged search keeps its cookie on ONE connection of ONE server, so it
 * cannot survive an agent restart or the cloud pausing between pulls; and LDAP has no "ORDER BY"
 * that every server supports. Instead, the key space (an integer: a USN, or microseconds of a CSN)
 * is walked in windows `[lo, hi]`, each fetched with a range filter. Inside a window, entries are
 * sorted by (key, tie) so a window larger than one batch can be cut anywhere and resumed at the
 * exact entry. The window width adapts: it doubles while windows come back empty, is sized to the
 * room left in the batch at the density just seen, and narrows when a window overflows the batch
 * or the server's size limit; so memory stays near one batch (never above MAX_WINDOW_ENTRIES) and
 * the transfer is about one pass over the directory (plus the overflow of cut windows).
 *
 * The whole state (position, width) fits in the cursor: any agent process, any time later, resumes
 * where the last committed batch ended. Replaying a cursor gives the same batch (upserts by anchor).
 */
import { MAX_SYNC_BATCH_BYTES, type SyncAnchorsData, type SyncChange } from '@writeback/protocol';
import {
  FilterParser,
  ResultCodeError,
  type Client,
  type Control,
  type Entry,
  type Filter,
  type SearchOptions,
} from 'ldapts';

/** One change with its place in the change order. */
export interface KeyedChange {
  /** Integer key (USN, or microseconds since the epoch of a CSN). */
  n: number;
  /** Orders changes with the same key (non-empty; compared as strings). */
  tie: string;
  /** null: a place in the order to move past without sending anything (e.g. a user outside scope). */
  change: SyncChange | null;
}

/** Everything up to and including (n, tie) is done; tie '' means nothing at n is done yet. */
export interface WindowPosition {
  n: number;
  tie: string;
}

export interface WindowState {
  pos: WindowPosition;
  /** Width of the next window (keys). */
  width: number;
}

export interface WindowPullOptions {
  state: WindowState;
  /** Inclusive last key to cover (AD: the DC's highestCommittedUSN; OpenLDAP: now + clock-skew allowance). */
  end: number;
  /**
   * Keys at or after this are "recent" (OpenLDAP: a CSN time a few minutes ago): a recent window
   * that was read completely moves the position only to the newest change SEEN in it, never past
   * its end, so a change stamped there later (a server clock behind the agent's) is still found.
   */
  settleFrom?: number;
  limit: number;
  /** Changes with lo <= key <= hi, in any order; throws WindowTooWideError when there are too many. */
  fetch(lo: number, hi: number): Promise<KeyedChange[]>;
  maxWidth: number;
  /** Windows one pull may read (round trips) before answering `more`. */
  maxWindows: number;
  /** Byte budget of the changes' JSON (default MAX_SYNC_BATCH_BYTES - 2048 for the cursor and envelope). */
  budgetBytes?: number;
  /**
   * Time one pull may spend before answering with what it has (default SYNC_PULL_TIME_BUDGET_MS):
   * the cloud waits for each pull only so long (WRITEBACK_DEADLINE_MS, 10 s by default).
   */
  timeBudgetMs?: number;
}

/** How long one pull walks windows before answering (`more: true` when not done). */
export const SYNC_PULL_TIME_BUDGET_MS = 4000;

export interface WindowPullResult {
  changes: SyncChange[];
  state: WindowState;
  /** The key space up to `end` is covered. */
  done: boolean;
}

/** A window held more entries than a fetch may return (thrown by `fetch`): pullWindows narrows it. */
export class WindowTooWideError extends Error {
  override readonly name = 'WindowTooWideError';
}

/** Entries one window's search may return before it counts as too wide. */
export const MAX_WINDOW_ENTRIES = 5000;

/**
 * One window's search, paged, without a client size limit: ldapts turns a server's "size limit
 * exceeded" into SUCCESS with the entries so far whenever the request carries a sizeLimit, and
 * slapd's default limit is 500, so a limited search would silently lose entries. Here the server's
 * limit (result 4) and MAX_WINDOW_ENTRIES both throw WindowTooWideError instead.
 */
export async function searchWindow(
  client: Client,
  base: string,
  options: Omit<SearchOptions, 'paged' | 'sizeLimit'>,
  controls?: Control[],
): Promise<Entry[]> {
  const out: Entry[] = [];
  try {
    for await (const page of client.searchPaginated(base, { ...options, paged: { pageSize: 500 } }, controls)) {
      out.push(...page.searchEntries);
      if (out.length > MAX_WINDOW_ENTRIES)
        throw new WindowTooWideError(`more than ${MAX_WINDOW_ENTRIES} entries in one window`);
    }
  } catch (err) {
    if (err instanceof ResultCodeError && err.code === 4)
      throw new WindowTooWideError('the server size limit was reached in one window');
    throw err;
  }
  return out;
}

/** (a) strictly after (b) in the change order. */
export function isAfter(a: { n: number; tie: string }, b: WindowPosition): boolean {
  return a.n > b.n || (a.n === b.n && a.tie > b.tie);
}

function compare(a: KeyedChange, b: KeyedChange): number {
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  return a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0;
}

/** JSON size of one change in a batch (the comma included). */
export function changeBytes(c: SyncChange): number {
  return Buffer.byteLength(JSON.stringify(c), 'utf8') + 1;
}

/**
 * One pull: walk windows from the state's position until `limit` changes (or the byte budget) are
 * collected, `end` is passed, or `maxWindows` windows were read.
 */
export async function pullWindows(o: WindowPullOptions): Promise<WindowPullResult> {
  let pos = o.state.pos;
  /** Where the next window starts; ahead of pos after recent windows (see settleFrom). */
  let scan = pos.n;
  let width = Math.max(1, Math.min(o.maxWidth, Math.floor(o.state.width)));
  const out: SyncChange[] = [];
  let bytes = 0;
  const budget = o.budgetBytes ?? MAX_SYNC_BATCH_BYTES - 2048;
  const stopAt = performance.now() + (o.timeBudgetMs ?? SYNC_PULL_TIME_BUDGET_MS);
  let narrowed = false;

  for (let i = 0; i < o.maxWindows; i++) {
    // Out of time: answer with what is there (the position is exact, the next pull goes on).
    if (i > 0 && performance.now() > stopAt) return { changes: out, state: { pos, width }, done: false };
    const lo = scan;
    if (lo > o.end) return { changes: out, state: { pos, width }, done: true };
    // The recent stretch is read in ONE window (unless the server's size limit forced narrowing):
    // walking it in several would let a write that commits between two of them, stamped in an
    // earlier one, fall behind a newer change already seen.
    const recent = o.settleFrom !== undefined && lo >= o.settleFrom && !narrowed;
    const hi = recent ? o.end : Math.min(lo + width - 1, o.end);

    let fetched: KeyedChange[];
    try {
      fetched = await o.fetch(lo, hi);
    } catch (err) {
      // More entries than a window may hold (the server's size limit): narrow it and read again.
      if (!(err instanceof WindowTooWideError) || width === 1) throw err;
      width = Math.max(1, Math.floor(Math.min(width, hi - lo + 1) / 4));
      narrowed = true;
      continue;
    }
    const items = fetched.filter((c) => isAfter(c, pos)).sort(compare);
    let taken = 0;
    for (const it of items) {
      if (it.change === null) {
        taken++;
        continue;
      }
      const size = changeBytes(it.change);
      if (out.length >= o.limit || (out.length > 0 && bytes + size > budget)) break;
      out.push(it.change);
      bytes += size;
      taken++;
    }
    if (taken < items.length) {
      // The batch is full inside this window: resume right after the last change taken, with the
      // next window a little narrower than the keys that held this batch (the local density), so
      // it fits a server size limit equal to the batch size.
      const last = items[taken - 1];
      const firstItem = items[0];
      if (last && firstItem) {
        pos = { n: last.n, tie: last.tie };
        width = Math.max(1, Math.floor(((last.n - firstItem.n + 1) * 3) / 4));
      } else {
        width = Math.max(1, Math.floor(width / 8));
      }
      return { changes: out, state: { pos, width }, done: false };
    }
    scan = hi + 1;
    if (o.settleFrom === undefined || hi < o.settleFrom) {
      if (isAfter({ n: hi + 1, tie: '' }, pos)) pos = { n: hi + 1, tie: '' };
    } else {
      const last = items[items.length - 1];
      if (last) pos = { n: last.n, tie: last.tie };
    }
    if (out.length >= o.limit) return { changes: out, state: { pos, width }, done: scan > o.end };
    // Size the next window to the room left in this batch at this window's density (count and
    // bytes), at most four times wider; an empty window doubles.
    const sent = out.length;
    if (items.length === 0 || sent === 0) {
      width = Math.min(o.maxWidth, width * 2);
    } else {
      const room = Math.min(o.limit - sent, Math.floor((budget - bytes) / (bytes / sent)));
      if (room < Math.max(1, o.limit / 10)) return { changes: out, state: { pos, width }, done: scan > o.end };
      width = Math.max(1, Math.min(o.maxWidth, width * 4, Math.floor(((width * room) / items.length) * 0.9)));
    }
  }
  return { changes: out, state: { pos, width }, done: scan > o.end };
}

/**
 * One page of the anchors pass (`sync.anchors`): the same window walk as a pull, `fetch` giving a
 * `delete` change per user in scope (the change carries the anchor), no byte budget (the page is
 * bounded by `limit`). The cursor is `<cursorPrefix><pos>:<tie>:<width>`, null once `end` is covered.
 */
export async function pullAnchorWindows(
  o: Omit<WindowPullOptions, 'budgetBytes'>,
  cursorPrefix: string,
): Promise<SyncAnchorsData> {
  const r = await pullWindows({ ...o, budgetBytes: Number.MAX_SAFE_INTEGER });
  const anchors = r.changes.flatMap((c) => (c.kind === 'delete' ? [c.anchor] : []));
  return {
    anchors,
    cursor: r.done ? null : `${cursorPrefix}${r.state.pos.n}:${r.state.pos.tie}:${Math.floor(r.state.width)}`,
  };
}

/** Lower-cased DN with the spaces around separators removed (enough to compare configured DNs). */
export function normalizeDn(dn: string): string {
  return dn
    .trim()
    .replace(/\s*([,=+])\s*/g, '$1')
    .toLowerCase();
}

/** `dn` is `base` or below it (both normalised with normalizeDn). */
export function isDnWithin(dn: string, base: string): boolean {
  return dn === base || dn.endsWith(`,${base}`);
}

/**
 * Parses a scope filter from a configuration (ldapts' parser): one parenthesised expression, no
 * control characters, nothing after it. Returns the reason as a string when it is refused.
 */
export function parseScopeFilter(text: string): Filter | string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to reject them
  if (/[\u0000-\u001f\u007f]/.test(text)) return 'control characters are not allowed (write \\00-style escapes)';
  const t = text.trim();
  if (!t.startsWith('(') || !t.endsWith(')')) return 'must be one parenthesised LDAP filter, e.g. (department=Sales)';
  try {
    return FilterParser.parseString(t);
  } catch {
    return 'not a valid LDAP filter';
  }
}
