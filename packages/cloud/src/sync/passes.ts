/**
 * The three passes of a sync run over one tenant:
 *
 *   full:         sync.pull(cursor=null) until more=false, each batch upserted AND its cursor stored
 *                 in ONE transaction (a crash resumes from the last committed batch; replays are
 *                 harmless upserts), then an anchors pass
 *   incremental:  sync.pull(cursor) from where the last run stopped; `reset: true` → full
 *   anchors:      sync.anchors pages: every live user not listed is staged for deletion (for
 *                 directories whose deletions leave no trace); after a full sync and every
 *                 `anchorsIntervalMs`
 *
 * The next pull needs only the previous answer's cursor, so it travels while the batch before it
 * is committed; cursors are still stored in order, each with its own batch.
 */
import type { SyncChange, SyncedUser } from '@writeback/protocol';
import type { Db } from '../store/index.js';
import {
  beginFullSync,
  finishFullSync,
  markAnchorsPass,
  setSyncCursor,
  setSyncPhase,
  type SyncCounts,
  type SyncState,
} from '../store/sync-state.js';
import { liveAnchors, upsertSyncedUsers } from '../users/directory-users.js';
import type { SyncLease } from './lease.js';
import { stageDeletions } from './mass-delete.js';
import type { SyncPuller } from './pull.js';
import { SyncRunError } from './status.js';

export interface PassDeps {
  db: Db;
  puller: SyncPuller;
  lease: SyncLease;
  now: () => number;
  anchorsIntervalMs: number;
}

/** What a run gathers while its passes go: counts, and the agent that answered last. */
export interface RunProgress {
  counts: SyncCounts;
  agentId: string | null;
}

export interface SyncPasses {
  full(tenantId: string, state: SyncState, run: RunProgress): Promise<void>;
  /** 'reset': the directory no longer knows the cursor; a full sync is needed. */
  incremental(tenantId: string, state: SyncState, run: RunProgress): Promise<'done' | 'reset'>;
}

export function createSyncPasses(deps: PassDeps): SyncPasses {
  const { db, puller, lease, now } = deps;

  /** Apply one pulled batch and store where the next pull starts, in one transaction. */
  async function applyBatch(
    tenantId: string,
    changes: readonly SyncChange[],
    walk: 'incremental' | 'full',
    cursor: string,
    counts: SyncCounts,
  ): Promise<void> {
    const upserts: SyncedUser[] = [];
    const deletes: string[] = [];
    for (const c of changes) {
      if (c.kind === 'upsert') upserts.push(c.user);
      else deletes.push(c.anchor);
    }
    // A user deleted and re-created in one batch: the later change wins.
    const upserted = new Set(upserts.map((u) => u.anchor));
    const r = await db.tx(async (t) => {
      await lease.renew(t, tenantId);
      const out = await upsertSyncedUsers(t, tenantId, upserts, now());
      await stageDeletions(
        t,
        tenantId,
        deletes.filter((a) => !upserted.has(a)),
        upserted,
        now(),
      );
      await setSyncCursor(t, tenantId, walk, cursor);
      return out;
    });
    counts.created += r.created;
    counts.updated += r.updated;
  }

  /** Every live user the directory no longer lists is staged for deletion. */
  async function anchorsPass(tenantId: string): Promise<void> {
    const missing = await liveAnchors(db, tenantId);
    let cursor: string | null = null;
    do {
      const page = await puller.anchors(tenantId, cursor);
      for (const a of page.anchors) missing.delete(a);
      cursor = page.cursor;
    } while (cursor !== null);
    await db.tx(async (t) => {
      await lease.renew(t, tenantId);
      await stageDeletions(t, tenantId, [...missing], new Set(), now());
      await markAnchorsPass(t, tenantId, now());
    });
  }

  return {
    async full(tenantId, state, run) {
      let cursor = state.inFull ? state.fullCursor : null;
      await beginFullSync(db, tenantId, state.inFull);
      let resets = 0;
      let next = puller.prefetch(tenantId, cursor);
      for (;;) {
        const page = await next;
        run.agentId = page.agentId;
        if (page.reset) {
          // The stored full cursor is no longer valid (restored directory...): start the walk again.
          if (++resets > 2) throw new SyncRunError('sync_reset_loop', 'the directory keeps refusing the cursor');
          cursor = null;
          await setSyncCursor(db, tenantId, 'full', null);
          next = puller.prefetch(tenantId, null);
          continue;
        }
        if (page.more) next = puller.prefetch(tenantId, page.cursor);
        await applyBatch(tenantId, page.changes, 'full', page.cursor, run.counts);
        cursor = page.cursor;
        if (!page.more) break;
      }
      await anchorsPass(tenantId);
      await finishFullSync(db, tenantId, cursor, now());
    },

    async incremental(tenantId, state, run) {
      let cursor = state.cursor;
      if (state.phase !== 'incremental' && state.phase !== 'blocked_mass_delete')
        await setSyncPhase(db, tenantId, 'incremental');
      let next = puller.prefetch(tenantId, cursor);
      for (;;) {
        const page = await next;
        run.agentId = page.agentId;
        if (page.reset) return 'reset';
        if (page.more) next = puller.prefetch(tenantId, page.cursor);
        if (page.changes.length > 0 || page.cursor !== cursor)
          await applyBatch(tenantId, page.changes, 'incremental', page.cursor, run.counts);
        cursor = page.cursor;
        if (!page.more) break;
      }
      if (state.lastAnchorsAt === null || now() - state.lastAnchorsAt >= deps.anchorsIntervalMs)
        await anchorsPass(tenantId);
      return 'done';
    },
  };
}
