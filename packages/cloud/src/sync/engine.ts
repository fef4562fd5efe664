/**
 * The cloud side of directory sync: per tenant, pull the agent's changes (see
 * packages/protocol/src/sync.ts) into directory_users.
 *
 *   full:         sync.pull(cursor=null) until more=false, each batch upserted AND its cursor stored
 *                 in ONE transaction (a crash resumes from the last committed batch; replays are
 *                 harmless upserts), then sync.anchors pages: live users not listed are deletions
 *   incremental:  sync.pull(cursor) every settings.sync.intervalMs; `reset: true` → full
 *   anchors pass: every `anchorsIntervalMs`, for directories whose deletions leave no trace
 *
 * Deletions are never applied batch by batch: they are staged in sync_state.pending_deletes (in the
 * batch's transaction) and decided at the end of the run. If the staged set is larger than
 * massDeleteThresholdPercent of the tenant's live users (and at least massDeleteMinUsers) the
 * tenant is `blocked_mass_delete`: nothing of them is applied until an admin confirms (applied) or
 * rejects (discarded); upserts keep flowing meanwhile.
 *
 * A lease (sync_state.lease_owner / lease_until, taken with one conditional UPDATE and renewed with
 * each batch) lets several cloud nodes share a PostgreSQL store with one of them syncing a tenant at
 * a time; in one process, runs of a tenant are queued.
 *
 * Pulls are read-only operations through the writeback service with audit off: they go through the
 * same sealed, signed request path to one of the tenant's agents but do not fill the audit log.
 */
import { randomUUID } from 'node:crypto';
import {
  SyncAnchorsDataSchema,
  SyncPullDataSchema,
  type Logger,
  type OperationRequest,
  type SyncChange,
  type SyncedUser,
} from '@writeback/protocol';
import type { RelayClient } from '@writeback/relay';
import { z } from 'zod';
import { CloudError } from '../errors.js';
import type { Db } from '../store/index.js';
import { parseRow } from '../store/index.js';
import { getTenantSettings } from '../tenants/settings.js';
import { listTenants } from '../tenants/tenants.js';
import { countLiveUsers, liveAnchors, markDeleted, upsertSyncedUsers } from '../users/directory-users.js';
import type { WritebackService } from '../writeback/service.js';

export type SyncPhase = 'idle' | 'full' | 'incremental' | 'blocked_mass_delete' | 'error';

export interface SyncStatus {
  tenantId: string;
  phase: SyncPhase;
  /** A full sync is under way or was interrupted (resumes from its stored cursor). */
  fullInProgress: boolean;
  /** When the tenant's first full sync completed (null: never; the API then falls back to the directory). */
  firstFullSyncAt: number | null;
  lastRunAt: number | null;
  lastSuccessAt: number | null;
  lastFullSyncAt: number | null;
  lastAnchorsPassAt: number | null;
  lastError: string | null;
  agentId: string | null;
  /** Counts of the last run. */
  counts: { created: number; updated: number; deleted: number };
  /** Live synced users. */
  total: number;
  /** Deletions waiting for an admin (blocked_mass_delete) or for the end of the run. */
  pendingDeletions: number;
  pendingSince: number | null;
}

export interface SyncRunResult {
  status: SyncStatus;
  /** The run did not happen: another node holds the lease. */
  skipped?: 'leased_elsewhere';
}

export interface SyncEngineDeps {
  db: Db;
  writeback: WritebackService;
  relay: RelayClient;
  now: () => number;
  log: Logger;
  /** How often deletions are also looked for by listing anchors (directories without tombstones). */
  anchorsIntervalMs: number;
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  /** How often the scheduler looks for due tenants. */
  tickMs?: number;
  /** Users per pull. */
  batchSize?: number;
}

export interface SyncEngine {
  /** Sync a tenant now (queued behind a run in progress). `full`: start a full sync. */
  runOnce(tenantId: string, opts?: { full?: boolean }): Promise<SyncRunResult>;
  status(tenantId: string): Promise<SyncStatus>;
  /** Whether the tenant completed a full sync: from then on, users are resolved through the cloud's copy. */
  hasSynced(tenantId: string): Promise<boolean>;
  /** Apply the deletions a mass-delete guard held back. Returns how many users were deleted. */
  confirmDeletions(tenantId: string): Promise<number>;
  /** Discard them. Returns how many were discarded. */
  rejectDeletions(tenantId: string): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/** A run that stopped: `code` is what sync_state.last_error shows (an outcome code or a sync code). */
export class SyncRunError extends Error {
  override readonly name = 'SyncRunError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const bool = z.union([z.number(), z.boolean()]).transform((v) => v === true || v === 1);
const StateRow = z.object({
  tenant_id: z.string(),
  phase: z.enum(['idle', 'full', 'incremental', 'blocked_mass_delete', 'error']),
  cursor: z.string().nullable(),
  full_cursor: z.string().nullable(),
  in_full: bool,
  first_full_at: z.number().nullable(),
  last_run_at: z.number().nullable(),
  last_success_at: z.number().nullable(),
  last_full_at: z.number().nullable(),
  last_anchors_at: z.number().nullable(),
  last_error: z.string().nullable(),
  agent_id: z.string().nullable(),
  created_count: z.number(),
  updated_count: z.number(),
  deleted_count: z.number(),
  total: z.number(),
  pending_deletes: z.string().nullable(),
  pending_since: z.number().nullable(),
  lease_owner: z.string().nullable(),
  lease_until: z.number().nullable(),
});
type State = z.infer<typeof StateRow>;

const STATE_COLUMNS =
  'tenant_id, phase, cursor, full_cursor, in_full, first_full_at, last_run_at, last_success_at, last_full_at, last_anchors_at, last_error, agent_id, created_count, updated_count, deleted_count, total, pending_deletes, pending_since, lease_owner, lease_until';

function parsePending(json: string | null): string[] {
  if (json === null) return [];
  try {
    const v: unknown = JSON.parse(json);
    const r = z.array(z.string()).safeParse(v);
    return r.success ? r.data : [];
  } catch {
    return [];
  }
}

function toStatus(s: State): SyncStatus {
  return {
    tenantId: s.tenant_id,
    phase: s.phase,
    fullInProgress: s.in_full,
    firstFullSyncAt: s.first_full_at,
    lastRunAt: s.last_run_at,
    lastSuccessAt: s.last_success_at,
    lastFullSyncAt: s.last_full_at,
    lastAnchorsPassAt: s.last_anchors_at,
    lastError: s.last_error,
    agentId: s.agent_id,
    counts: { created: s.created_count, updated: s.updated_count, deleted: s.deleted_count },
    total: s.total,
    pendingDeletions: parsePending(s.pending_deletes).length,
    pendingSince: s.pending_since,
  };
}

async function loadState(db: Db, tenantId: string): Promise<State> {
  const row = await db.one(`SELECT ${STATE_COLUMNS} FROM sync_state WHERE tenant_id = ?`, [tenantId]);
  if (row) return parseRow(StateRow, row);
  try {
    await db.exec(
      `INSERT INTO sync_state (tenant_id, phase, in_full, created_count, updated_count, deleted_count, total) VALUES (?, 'idle', 0, 0, 0, 0, 0)`,
      [tenantId],
    );
  } catch (err) {
    // Another node made it first.
    if (!(err instanceof CloudError && err.code === 'conflict')) throw err;
  }
  const again = await db.one(`SELECT ${STATE_COLUMNS} FROM sync_state WHERE tenant_id = ?`, [tenantId]);
  if (!again) throw new CloudError('internal_error', 'sync state row vanished');
  return parseRow(StateRow, again);
}

/** Read-only: the tenant's sync status without creating its row. */
export async function readSyncStatus(db: Db, tenantId: string): Promise<SyncStatus | null> {
  const row = await db.one(`SELECT ${STATE_COLUMNS} FROM sync_state WHERE tenant_id = ?`, [tenantId]);
  return row ? toStatus(parseRow(StateRow, row)) : null;
}

/** Whether the tenant completed a full sync (users then resolve through directory_users). */
export async function tenantHasSynced(db: Db, tenantId: string): Promise<boolean> {
  const row = await db.one('SELECT first_full_at FROM sync_state WHERE tenant_id = ?', [tenantId]);
  return row !== undefined && row.first_full_at !== null && row.first_full_at !== undefined;
}

interface RunCounts {
  created: number;
  updated: number;
  deleted: number;
}

export function createSyncEngine(deps: SyncEngineDeps): SyncEngine {
  const { db, writeback, relay, now, log } = deps;
  const owner = `node-${randomUUID()}`;
  const batchSize = deps.batchSize ?? 500;
  const tickMs = deps.tickMs ?? 250;
  const chains = new Map<string, Promise<unknown>>();
  const nextDue = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let ticking = false;
  let tenantsCache: { at: number; ids: string[] } | null = null;

  async function takeLease(tenantId: string): Promise<boolean> {
    const t = now();
    const r = await db.exec(
      'UPDATE sync_state SET lease_owner = ?, lease_until = ? WHERE tenant_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)',
      [owner, t + deps.leaseMs, tenantId, owner, t],
    );
    return r.changes === 1;
  }

  async function releaseLease(tenantId: string): Promise<void> {
    await db.exec(
      'UPDATE sync_state SET lease_owner = NULL, lease_until = NULL WHERE tenant_id = ? AND lease_owner = ?',
      [tenantId, owner],
    );
  }

  /** Inside a batch transaction: renew the lease, or fail the run if another node took it. */
  async function renewLease(t: Db, tenantId: string): Promise<void> {
    const r = await t.exec('UPDATE sync_state SET lease_until = ? WHERE tenant_id = ? AND lease_owner = ?', [
      now() + deps.leaseMs,
      tenantId,
      owner,
    ]);
    if (r.changes !== 1) throw new SyncRunError('lease_lost', 'another node took over this tenant');
  }

  async function call(tenantId: string, request: OperationRequest): Promise<{ data: unknown; agentId: string | null }> {
    const r = await writeback.executeOperation({
      tenantId,
      request,
      actor: { kind: 'system', id: 'sync' },
      target: null,
      audit: false,
    });
    if (r.result.outcome !== 'succeeded')
      throw new SyncRunError(r.result.outcome, `${request.op} answered ${r.result.outcome}`);
    return { data: r.result.data, agentId: r.agentId };
  }

  async function pull(tenantId: string, cursor: string | null) {
    const { data, agentId } = await call(tenantId, { op: 'sync.pull', params: { cursor, limit: batchSize } });
    const parsed = SyncPullDataSchema.safeParse(data);
    if (!parsed.success)
      throw new SyncRunError('invalid_sync_answer', 'the agent answered a sync.pull with data that does not parse');
    return { ...parsed.data, agentId };
  }

  /** A pull started now and awaited later; a failure is kept for the await (never unhandled). */
  function prefetch(tenantId: string, cursor: string | null): Promise<Awaited<ReturnType<typeof pull>>> {
    const p = pull(tenantId, cursor);
    p.catch(() => undefined);
    return p;
  }

  /**
   * Stage deletions in the batch's transaction (decided at the end of the run); anchors the same
   * batch upserts (a user that came back) leave the staged set.
   */
  async function stage(
    t: Db,
    tenantId: string,
    deleted: readonly string[],
    upserted: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    if (deleted.length === 0 && upserted.size === 0) return;
    const row = await t.one('SELECT pending_deletes FROM sync_state WHERE tenant_id = ?', [tenantId]);
    const before = parsePending(typeof row?.pending_deletes === 'string' ? row.pending_deletes : null);
    if (deleted.length === 0 && before.length === 0) return;
    const set = new Set(before);
    for (const a of upserted) set.delete(a);
    for (const a of deleted) set.add(a);
    if (set.size === before.length && deleted.length === 0) return;
    if (set.size === 0)
      await t.exec('UPDATE sync_state SET pending_deletes = NULL, pending_since = NULL WHERE tenant_id = ?', [
        tenantId,
      ]);
    else
      await t.exec(
        'UPDATE sync_state SET pending_deletes = ?, pending_since = COALESCE(pending_since, ?) WHERE tenant_id = ?',
        [JSON.stringify([...set]), now(), tenantId],
      );
  }

  /** Apply one pulled batch and store where the next pull starts, in one transaction. */
  async function applyBatch(
    tenantId: string,
    changes: readonly SyncChange[],
    cursorColumn: 'cursor' | 'full_cursor',
    cursor: string,
    counts: RunCounts,
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
      await renewLease(t, tenantId);
      const out = await upsertSyncedUsers(t, tenantId, upserts, now());
      await stage(
        t,
        tenantId,
        deletes.filter((a) => !upserted.has(a)),
        upserted,
      );
      await t.exec(`UPDATE sync_state SET ${cursorColumn} = ? WHERE tenant_id = ?`, [cursor, tenantId]);
      return out;
    });
    counts.created += r.created;
    counts.updated += r.updated;
  }

  async function fullSync(
    tenantId: string,
    state: State,
    counts: RunCounts,
    agent: { id: string | null },
  ): Promise<void> {
    let cursor = state.in_full ? state.full_cursor : null;
    if (!state.in_full)
      await db.exec("UPDATE sync_state SET in_full = 1, full_cursor = NULL, phase = 'full' WHERE tenant_id = ?", [
        tenantId,
      ]);
    else await db.exec("UPDATE sync_state SET phase = 'full' WHERE tenant_id = ?", [tenantId]);
    let resets = 0;
    let next = prefetch(tenantId, cursor);
    for (;;) {
      const page = await next;
      agent.id = page.agentId;
      if (page.reset) {
        // The stored full cursor is no longer valid (restored directory...): start the walk again.
        if (++resets > 2) throw new SyncRunError('sync_reset_loop', 'the directory keeps refusing the cursor');
        cursor = null;
        await db.exec('UPDATE sync_state SET full_cursor = NULL WHERE tenant_id = ?', [tenantId]);
        next = prefetch(tenantId, null);
        continue;
      }
      // The next pull needs only this answer's cursor: it travels while this batch is committed.
      // Cursors are still stored in order, each with its own batch.
      if (page.more) next = prefetch(tenantId, page.cursor);
      await applyBatch(tenantId, page.changes, 'full_cursor', page.cursor, counts);
      cursor = page.cursor;
      if (!page.more) break;
    }
    await anchorsPass(tenantId);
    const t = now();
    await db.exec(
      'UPDATE sync_state SET cursor = ?, full_cursor = NULL, in_full = 0, last_full_at = ?, first_full_at = COALESCE(first_full_at, ?) WHERE tenant_id = ?',
      [cursor, t, t, tenantId],
    );
  }

  /** Every live user the directory no longer lists is staged for deletion. */
  async function anchorsPass(tenantId: string): Promise<void> {
    const missing = await liveAnchors(db, tenantId);
    let cursor: string | null = null;
    do {
      // 1,000 anchors (GUIDs) stay well inside one frame whatever the adapter's own bound.
      const { data } = await call(tenantId, { op: 'sync.anchors', params: { cursor, limit: 1000 } });
      const parsed = SyncAnchorsDataSchema.safeParse(data);
      if (!parsed.success)
        throw new SyncRunError(
          'invalid_sync_answer',
          'the agent answered a sync.anchors with data that does not parse',
        );
      for (const a of parsed.data.anchors) missing.delete(a);
      cursor = parsed.data.cursor;
    } while (cursor !== null);
    await db.tx(async (t) => {
      await renewLease(t, tenantId);
      await stage(t, tenantId, [...missing]);
      await t.exec('UPDATE sync_state SET last_anchors_at = ? WHERE tenant_id = ?', [now(), tenantId]);
    });
  }

  async function incremental(
    tenantId: string,
    state: State,
    counts: RunCounts,
    agent: { id: string | null },
  ): Promise<'done' | 'reset'> {
    let cursor = state.cursor;
    if (state.phase !== 'incremental' && state.phase !== 'blocked_mass_delete')
      await db.exec("UPDATE sync_state SET phase = 'incremental' WHERE tenant_id = ?", [tenantId]);
    let next = prefetch(tenantId, cursor);
    for (;;) {
      const page = await next;
      agent.id = page.agentId;
      if (page.reset) return 'reset';
      if (page.more) next = prefetch(tenantId, page.cursor);
      if (page.changes.length > 0 || page.cursor !== cursor)
        await applyBatch(tenantId, page.changes, 'cursor', page.cursor, counts);
      cursor = page.cursor;
      if (!page.more) break;
    }
    if (state.last_anchors_at === null || now() - state.last_anchors_at >= deps.anchorsIntervalMs)
      await anchorsPass(tenantId);
    return 'done';
  }

  /** Decide the staged deletions: apply, or hold them back for an admin. */
  async function settleDeletions(tenantId: string, counts: RunCounts): Promise<boolean> {
    const settings = await getTenantSettings(db, tenantId);
    return db.tx(async (t) => {
      const row = await t.one('SELECT phase, pending_deletes FROM sync_state WHERE tenant_id = ?', [tenantId]);
      const pending = parsePending(typeof row?.pending_deletes === 'string' ? row.pending_deletes : null);
      if (pending.length === 0) return false;
      if (row?.phase === 'blocked_mass_delete') return true;
      const live = await countLiveUsers(t, tenantId);
      const { massDeleteThresholdPercent: pct, massDeleteMinUsers: min } = settings.sync;
      if (pending.length > (live * pct) / 100 && pending.length >= min) {
        log.warn('sync: mass deletion held back until an admin confirms', { tenantId, pending: pending.length, live });
        return true;
      }
      counts.deleted += await markDeleted(t, tenantId, pending, now());
      await t.exec('UPDATE sync_state SET pending_deletes = NULL, pending_since = NULL WHERE tenant_id = ?', [
        tenantId,
      ]);
      return false;
    });
  }

  async function runLocked(tenantId: string, opts: { full?: boolean }): Promise<SyncRunResult> {
    let state = await loadState(db, tenantId);
    if (!(await takeLease(tenantId))) return { status: toStatus(state), skipped: 'leased_elsewhere' };
    const counts: RunCounts = { created: 0, updated: 0, deleted: 0 };
    const agent: { id: string | null } = { id: null };
    const started = now();
    try {
      try {
        state = await loadState(db, tenantId);
        if (opts.full || state.in_full || state.cursor === null) await fullSync(tenantId, state, counts, agent);
        else if ((await incremental(tenantId, state, counts, agent)) === 'reset') {
          log.info('sync: the directory reset the cursor; full sync', { tenantId });
          await fullSync(tenantId, await loadState(db, tenantId), counts, agent);
        }
        const blocked = await settleDeletions(tenantId, counts);
        const total = await countLiveUsers(db, tenantId);
        await db.exec(
          `UPDATE sync_state SET phase = ?, last_run_at = ?, last_success_at = ?, last_error = NULL, agent_id = COALESCE(?, agent_id),
             created_count = ?, updated_count = ?, deleted_count = ?, total = ? WHERE tenant_id = ?`,
          [
            blocked ? 'blocked_mass_delete' : 'idle',
            started,
            now(),
            agent.id,
            counts.created,
            counts.updated,
            counts.deleted,
            total,
            tenantId,
          ],
        );
        if (counts.created + counts.updated + counts.deleted > 0)
          log.info('sync: run done', { tenantId, ...counts, total, blocked });
      } catch (err) {
        const code = err instanceof SyncRunError ? err.code : 'internal_error';
        if (!(err instanceof SyncRunError)) log.error('sync: run failed', { tenantId, err });
        else log.warn('sync: run stopped', { tenantId, code });
        const blocked = (await loadState(db, tenantId)).phase === 'blocked_mass_delete';
        await db.exec(
          'UPDATE sync_state SET phase = ?, last_run_at = ?, last_error = ?, agent_id = COALESCE(?, agent_id), created_count = ?, updated_count = ?, deleted_count = ? WHERE tenant_id = ?',
          [
            blocked ? 'blocked_mass_delete' : 'error',
            started,
            code,
            agent.id,
            counts.created,
            counts.updated,
            counts.deleted,
            tenantId,
          ],
        );
      }
    } finally {
      await releaseLease(tenantId).catch((err: unknown) =>
        log.error('sync: could not release the lease', { tenantId, err }),
      );
    }
    return { status: toStatus(await loadState(db, tenantId)) };
  }

  function queued<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(tenantId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    chains.set(tenantId, tail);
    void tail.then(() => {
      if (chains.get(tenantId) === tail) chains.delete(tenantId);
    });
    return next;
  }

  async function tenantIds(): Promise<string[]> {
    const t = now();
    if (!tenantsCache || t - tenantsCache.at > 5_000)
      tenantsCache = { at: t, ids: (await listTenants(db)).map((x) => x.id) };
    return tenantsCache.ids;
  }

  async function tick(): Promise<void> {
    if (ticking || stopped) return;
    ticking = true;
    try {
      for (const tenantId of await tenantIds()) {
        if (stopped) return;
        const t = now();
        if ((nextDue.get(tenantId) ?? 0) > t || chains.has(tenantId)) continue;
        const settings = await getTenantSettings(db, tenantId);
        nextDue.set(tenantId, t + settings.sync.intervalMs);
        // No agent connected: nothing to pull from; the status keeps its last run.
        if ((await relay.listAgents(tenantId)).length === 0) continue;
        void queued(tenantId, () => runLocked(tenantId, {})).catch((err: unknown) =>
          log.error('sync: scheduled run failed', { tenantId, err }),
        );
      }
    } catch (err) {
      log.error('sync: scheduler tick failed', { err });
    } finally {
      ticking = false;
    }
  }

  const syncedTenants = new Set<string>();

  return {
    runOnce: (tenantId, opts = {}) => queued(tenantId, () => runLocked(tenantId, opts)),
    async status(tenantId) {
      return (await readSyncStatus(db, tenantId)) ?? toStatus(await loadState(db, tenantId));
    },
    async hasSynced(tenantId) {
      // first_full_at is set once and never cleared: a tenant that has synced stays synced, so a
      // yes is remembered (every write asks); a no is asked again.
      if (syncedTenants.has(tenantId)) return true;
      const synced = await tenantHasSynced(db, tenantId);
      if (synced) syncedTenants.add(tenantId);
      return synced;
    },
    confirmDeletions: (tenantId) =>
      queued(tenantId, () =>
        db.tx(async (t) => {
          const row = await t.one('SELECT phase, pending_deletes FROM sync_state WHERE tenant_id = ?', [tenantId]);
          if (row?.phase !== 'blocked_mass_delete')
            throw new CloudError('conflict', 'no deletions are waiting for confirmation');
          const pending = parsePending(typeof row.pending_deletes === 'string' ? row.pending_deletes : null);
          const n = await markDeleted(t, tenantId, pending, now());
          const total = await countLiveUsers(t, tenantId);
          await t.exec(
            "UPDATE sync_state SET phase = 'idle', pending_deletes = NULL, pending_since = NULL, deleted_count = ?, total = ? WHERE tenant_id = ?",
            [n, total, tenantId],
          );
          log.info('sync: held-back deletions confirmed', { tenantId, deleted: n });
          return n;
        }),
      ),
    rejectDeletions: (tenantId) =>
      queued(tenantId, () =>
        db.tx(async (t) => {
          const row = await t.one('SELECT phase, pending_deletes FROM sync_state WHERE tenant_id = ?', [tenantId]);
          if (row?.phase !== 'blocked_mass_delete')
            throw new CloudError('conflict', 'no deletions are waiting for confirmation');
          const n = parsePending(typeof row.pending_deletes === 'string' ? row.pending_deletes : null).length;
          await t.exec(
            "UPDATE sync_state SET phase = 'idle', pending_deletes = NULL, pending_since = NULL WHERE tenant_id = ?",
            [tenantId],
          );
          log.info('sync: held-back deletions rejected', { tenantId, discarded: n });
          return n;
        }),
      ),
    start() {
      if (timer || stopped) return;
      timer = setInterval(() => void tick(), tickMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await Promise.allSettled([...chains.values()]);
    },
  };
}
