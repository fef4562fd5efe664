/**
 * The embedded directory as a sync source (see packages/protocol/src/sync.ts). Cursors are
 * `seq:<storeId>:<scopeKey>:<n>`: changes after journal sequence `n` of this very store under this
 * very scope. A cursor from another store (replaced or re-created folder), from a different scope, or
 * ahead of the store (restored from an older backup) answers `reset: true`, and the cloud starts a
 * full sync.
 *
 * - Full sync (`cursor: null`) walks every user in scope in sequence order; a user changed during the
 *   walk moves to a later sequence and is met again (upserts are idempotent), so no change is lost.
 * - Incremental pulls return users changed after `n` (latest state only) and deletions from the
 *   tombstones; a user who left the scope (group removed) is sent as a deletion.
 * - Batches stop at `limit` users or MAX_SYNC_BATCH_BYTES of JSON, whichever comes first.
 * - Large walks use an index sorted by sequence, rebuilt only when the store changed since, so a
 *   100,000-user full sync costs one sort, not one per page.
 *
 * The `locked` flag is the lockout state at the time of the user's last change; a lockout that
 * expires by itself is not a change and shows up at the user's next change.
 */
import { createHash } from 'node:crypto';
import {
  MAX_SYNC_BATCH_BYTES,
  type SyncAnchorsData,
  type SyncChange,
  type SyncedUser,
  type SyncPullData,
} from '@writeback/protocol';
import type { SyncSource } from '../directory.js';
import { DirectoryError } from '../errors.js';
import type { DirectoryState, StoredUser } from './state.js';

/** Room left in a batch for the rest of the answer (cursor, flags, envelope fields). */
const BATCH_OVERHEAD_BYTES = 4 * 1024;
/** Below this many sequence numbers to cover, a linear scan beats keeping the sorted index. */
const SCAN_WINDOW = 5_000;

interface SeqEntry {
  seq: number;
  anchor: string;
  deleted: boolean;
}

export interface EmbeddedSyncDeps {
  state: () => DirectoryState;
  /** The user as synced (lockout resolved against the user's policy now). */
  toSynced: (user: StoredUser) => SyncedUser;
  /** Groups of the scope (null: every user). */
  scopeGroups: readonly string[] | null;
  assertOpen: () => void;
}

const CURSOR = /^seq:([^:]{1,64}):([0-9a-f-]{1,16}):(0|[1-9][0-9]{0,15})$/;

export class EmbeddedSyncSource implements SyncSource {
  private readonly scopeKey: string;
  private readonly scope: ReadonlySet<string> | null;
  private bySeq: { atSeq: number; storeId: string; entries: SeqEntry[] } | null = null;
  private byAnchor: { atSeq: number; storeId: string; anchors: string[] } | null = null;

  constructor(private readonly deps: EmbeddedSyncDeps) {
    this.scope = deps.scopeGroups ? new Set(deps.scopeGroups) : null;
    this.scopeKey = deps.scopeGroups
      ? createHash('sha256')
          .update(JSON.stringify([...deps.scopeGroups].sort()))
          .digest('hex')
          .slice(0, 16)
      : '-';
  }

  /** Whether a user is in the configured scope. */
  inScope(user: StoredUser): boolean {
    if (!this.scope) return true;
    for (const g of user.groups ?? []) if (this.scope.has(g)) return true;
    return false;
  }

  private cursorAt(st: DirectoryState, seq: number): string {
    return `seq:${st.storeId}:${this.scopeKey}:${seq}`;
  }

  async pullChanges(cursor: string | null, limit: number): Promise<SyncPullData> {
    this.deps.assertOpen();
    if (!Number.isInteger(limit) || limit < 1)
      throw new DirectoryError('invalid_input', 'pullChanges.limit: a positive integer');
    const st = this.deps.state();
    let from = 0;
    if (cursor !== null) {
      const m = CURSOR.exec(cursor);
      const seq = m ? Number(m[3]) : Number.NaN;
      if (!m || m[1] !== st.storeId || m[2] !== this.scopeKey || !(seq <= st.seq)) {
        return { changes: [], cursor: this.cursorAt(st, 0), more: false, reset: true };
      }
      from = seq;
    }
    const full = from === 0;
    const entries = this.entriesAfter(st, from);
    const changes: SyncChange[] = [];
    let bytes = 0;
    let last = from;
    let i = 0;
    for (; i < entries.length && changes.length < limit; i++) {
      const e = entries[i];
      if (!e) break;
      let change: SyncChange | null = null;
      if (e.deleted) {
        // A full sync has nothing to delete; an anchor that came back has a later user entry.
        if (!full && !st.users.has(e.anchor)) change = { kind: 'delete', anchor: e.anchor };
      } else {
        const user = st.users.get(e.anchor);
        if (user && user.seq === e.seq) {
          if (this.inScope(user)) change = { kind: 'upsert', user: this.deps.toSynced(user) };
          else if (!full) change = { kind: 'delete', anchor: user.anchor };
        }
      }
      if (change) {
        const size = Buffer.byteLength(JSON.stringify(change)) + 1;
        if (changes.length > 0 && bytes + size > MAX_SYNC_BATCH_BYTES - BATCH_OVERHEAD_BYTES) break;
        bytes += size;
        changes.push(change);
      }
      last = e.seq;
    }
    const more = i < entries.length;
    return {
      changes,
      cursor: this.cursorAt(st, more ? last : Math.max(from, st.seq)),
      more,
      ...(this.scope ? {} : { total: st.users.size }),
    };
  }

  async listAnchors(cursor: string | null, limit: number): Promise<SyncAnchorsData> {
    this.deps.assertOpen();
    if (!Number.isInteger(limit) || limit < 1)
      throw new DirectoryError('invalid_input', 'listAnchors.limit: a positive integer');
    const st = this.deps.state();
    if (!this.byAnchor || this.byAnchor.atSeq !== st.seq || this.byAnchor.storeId !== st.storeId) {
      const anchors: string[] = [];
      for (const u of st.users.values()) if (this.inScope(u)) anchors.push(u.anchor);
      anchors.sort();
      this.byAnchor = { atSeq: st.seq, storeId: st.storeId, anchors };
    }
    const all = this.byAnchor.anchors;
    let start = 0;
    if (cursor !== null) {
      // First anchor after the cursor (binary search).
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((all[mid] ?? '') <= cursor) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    // Bounded by count and by size: 2,000 UUIDs would not fit in one frame.
    const anchors: string[] = [];
    let bytes = 0;
    for (let i = start; i < all.length && anchors.length < limit; i++) {
      const a = all[i] ?? '';
      bytes += Buffer.byteLength(a) + 3;
      if (anchors.length > 0 && bytes > MAX_SYNC_BATCH_BYTES - BATCH_OVERHEAD_BYTES) break;
      anchors.push(a);
    }
    const end = start + anchors.length >= all.length;
    return { anchors, cursor: end ? null : (anchors[anchors.length - 1] ?? null) };
  }

  /** Users and tombstones changed after `from`, in sequence order. */
  private entriesAfter(st: DirectoryState, from: number): SeqEntry[] {
    if (st.seq - from <= SCAN_WINDOW) {
      const out: SeqEntry[] = [];
      for (const u of st.users.values()) if (u.seq > from) out.push({ seq: u.seq, anchor: u.anchor, deleted: false });
      if (from > 0)
        for (const t of st.tombstones.values())
          if (t.seq > from) out.push({ seq: t.seq, anchor: t.anchor, deleted: true });
      return out.sort((a, b) => a.seq - b.seq);
    }
    if (!this.bySeq || this.bySeq.atSeq !== st.seq || this.bySeq.storeId !== st.storeId) {
      const entries: SeqEntry[] = [];
      for (const u of st.users.values()) entries.push({ seq: u.seq, anchor: u.anchor, deleted: false });
      for (const t of st.tombstones.values()) entries.push({ seq: t.seq, anchor: t.anchor, deleted: true });
      entries.sort((a, b) => a.seq - b.seq);
      this.bySeq = { atSeq: st.seq, storeId: st.storeId, entries };
    }
    const all = this.bySeq.entries;
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((all[mid]?.seq ?? 0) <= from) lo = mid + 1;
      else hi = mid;
    }
    const out = all.slice(lo);
    return from === 0 ? out.filter((e) => !e.deleted) : out;
  }
}
