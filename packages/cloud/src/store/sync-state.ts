/**
 * The sync_state repository: one row per tenant with where directory sync stands (phase, cursors,
 * the last run's counts), the deletions staged for the end of a run or held back by the
 * mass-delete guard, and the lease that lets one node at a time sync a tenant. Every statement the
 * sync engine runs on that table is here; callers pass the `Db` of their transaction when a step
 * must commit with others.
 */
import { z } from 'zod';
import { CloudError } from '../errors.js';
import { changedOne, flagColumn, jsonColumn, rowOf, selectOne, type Db } from './db.js';

export const SYNC_PHASES = ['idle', 'full', 'incremental', 'blocked_mass_delete', 'error'] as const;
export type SyncPhase = (typeof SYNC_PHASES)[number];

/** Counts of one sync run. */
export interface SyncCounts {
  created: number;
  updated: number;
  deleted: number;
}

export interface SyncState {
  tenantId: string;
  phase: SyncPhase;
  /** Where the next incremental pull starts (null: no full sync completed yet). */
  cursor: string | null;
  /** Where an interrupted full sync resumes. */
  fullCursor: string | null;
  inFull: boolean;
  firstFullAt: number | null;
  lastRunAt: number | null;
  lastSuccessAt: number | null;
  lastFullAt: number | null;
  lastAnchorsAt: number | null;
  lastError: string | null;
  agentId: string | null;
  counts: SyncCounts;
  total: number;
  /** Anchors staged for deletion. */
  pendingDeletes: string[];
  pendingSince: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

/** A stored JSON array of anchors; anything else reads as none (the column is only written here). */
const Pending = jsonColumn(z.array(z.string()), () => []);

const States = rowOf({
  tenant_id: z.string(),
  phase: z.enum(SYNC_PHASES),
  cursor: z.string().nullable(),
  full_cursor: z.string().nullable(),
  in_full: flagColumn,
  first_full_at: z.coerce.number().nullable(),
  last_run_at: z.coerce.number().nullable(),
  last_success_at: z.coerce.number().nullable(),
  last_full_at: z.coerce.number().nullable(),
  last_anchors_at: z.coerce.number().nullable(),
  last_error: z.string().nullable(),
  agent_id: z.string().nullable(),
  created_count: z.coerce.number(),
  updated_count: z.coerce.number(),
  deleted_count: z.coerce.number(),
  total: z.coerce.number(),
  pending_deletes: Pending,
  pending_since: z.coerce.number().nullable(),
  lease_owner: z.string().nullable(),
  lease_until: z.coerce.number().nullable(),
});

const StateRow = States.schema.transform(
  ({ createdCount, updatedCount, deletedCount, ...state }): SyncState => ({
    ...state,
    counts: { created: createdCount, updated: updatedCount, deleted: deletedCount },
  }),
);

const Held = rowOf({ phase: z.enum(SYNC_PHASES), pending_deletes: Pending });

/** The tenant's sync state, or null when it never synced (nothing is created). */
export async function getSyncState(db: Db, tenantId: string): Promise<SyncState | null> {
  return (
    (await selectOne(db, StateRow, `SELECT ${States.columns} FROM sync_state WHERE tenant_id = ?`, [tenantId])) ?? null
  );
}

/** The tenant's sync state, created idle if missing (several nodes may race to create it). */
export async function ensureSyncState(db: Db, tenantId: string): Promise<SyncState> {
  const found = await getSyncState(db, tenantId);
  if (found) return found;
  try {
    await db.exec(
      `INSERT INTO sync_state (tenant_id, phase, in_full, created_count, updated_count, deleted_count, total) VALUES (?, 'idle', 0, 0, 0, 0, 0)`,
      [tenantId],
    );
  } catch (err) {
    // Another node made it first.
    if (!(err instanceof CloudError && err.code === 'conflict')) throw err;
  }
  const again = await getSyncState(db, tenantId);
  if (!again) throw new CloudError('internal_error', 'sync state row vanished');
  return again;
}

/** Whether the tenant completed a full sync (first_full_at is set once and never cleared). */
export async function tenantHasSynced(db: Db, tenantId: string): Promise<boolean> {
  const row = await db.one('SELECT first_full_at FROM sync_state WHERE tenant_id = ?', [tenantId]);
  return row !== undefined && row.first_full_at !== null && row.first_full_at !== undefined;
}

/** Take the tenant's lease for `owner` until `until` if it is free, expired or already ours. One statement. */
export async function takeSyncLease(
  db: Db,
  tenantId: string,
  owner: string,
  now: number,
  until: number,
): Promise<boolean> {
  return changedOne(
    db,
    'UPDATE sync_state SET lease_owner = ?, lease_until = ? WHERE tenant_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)',
    [owner, until, tenantId, owner, now],
  );
}

/** Extend `owner`'s lease; false when another node holds it now. */
export async function renewSyncLease(db: Db, tenantId: string, owner: string, until: number): Promise<boolean> {
  return changedOne(db, 'UPDATE sync_state SET lease_until = ? WHERE tenant_id = ? AND lease_owner = ?', [
    until,
    tenantId,
    owner,
  ]);
}

/** Give the lease up, if `owner` still holds it. */
export async function releaseSyncLease(db: Db, tenantId: string, owner: string): Promise<void> {
  await db.exec(
    'UPDATE sync_state SET lease_owner = NULL, lease_until = NULL WHERE tenant_id = ? AND lease_owner = ?',
    [tenantId, owner],
  );
}

/** The phase and the staged deletions, or null without a row. */
export async function getStagedDeletions(
  db: Db,
  tenantId: string,
): Promise<{ phase: SyncPhase; anchors: string[] } | null> {
  const r = await selectOne(db, Held.schema, `SELECT ${Held.columns} FROM sync_state WHERE tenant_id = ?`, [tenantId]);
  return r ? { phase: r.phase, anchors: r.pendingDeletes } : null;
}

/** Replace the staged deletions; an empty set clears them (and when they were first staged). */
export async function setStagedDeletions(
  db: Db,
  tenantId: string,
  anchors: readonly string[],
  now: number,
): Promise<void> {
  if (anchors.length === 0)
    await db.exec('UPDATE sync_state SET pending_deletes = NULL, pending_since = NULL WHERE tenant_id = ?', [tenantId]);
  else
    await db.exec(
      'UPDATE sync_state SET pending_deletes = ?, pending_since = COALESCE(pending_since, ?) WHERE tenant_id = ?',
      [JSON.stringify(anchors), now, tenantId],
    );
}

/**
 * The deletions an admin decided on are gone and the tenant is idle again; `applied`: they were
 * applied, and the run counts say so.
 */
export async function closeHeldDeletions(
  db: Db,
  tenantId: string,
  applied?: { deleted: number; total: number },
): Promise<void> {
  if (applied)
    await db.exec(
      "UPDATE sync_state SET phase = 'idle', pending_deletes = NULL, pending_since = NULL, deleted_count = ?, total = ? WHERE tenant_id = ?",
      [applied.deleted, applied.total, tenantId],
    );
  else
    await db.exec(
      "UPDATE sync_state SET phase = 'idle', pending_deletes = NULL, pending_since = NULL WHERE tenant_id = ?",
      [tenantId],
    );
}

export async function setSyncPhase(db: Db, tenantId: string, phase: SyncPhase): Promise<void> {
  await db.exec('UPDATE sync_state SET phase = ? WHERE tenant_id = ?', [phase, tenantId]);
}

/** Store where the next pull starts: of the incremental walk, or of the full walk in progress. */
export async function setSyncCursor(
  db: Db,
  tenantId: string,
  walk: 'incremental' | 'full',
  cursor: string | null,
): Promise<void> {
  if (walk === 'full') await db.exec('UPDATE sync_state SET full_cursor = ? WHERE tenant_id = ?', [cursor, tenantId]);
  else await db.exec('UPDATE sync_state SET cursor = ? WHERE tenant_id = ?', [cursor, tenantId]);
}

/** A full sync starts from the beginning (`resume` false) or goes on from its stored cursor. */
export async function beginFullSync(db: Db, tenantId: string, resume: boolean): Promise<void> {
  if (resume) await setSyncPhase(db, tenantId, 'full');
  else
    await db.exec("UPDATE sync_state SET in_full = 1, full_cursor = NULL, phase = 'full' WHERE tenant_id = ?", [
      tenantId,
    ]);
}

/** The full walk ended at `cursor`: incremental pulls start there; the first completion is kept. */
export async function finishFullSync(db: Db, tenantId: string, cursor: string | null, at: number): Promise<void> {
  await db.exec(
    'UPDATE sync_state SET cursor = ?, full_cursor = NULL, in_full = 0, last_full_at = ?, first_full_at = COALESCE(first_full_at, ?) WHERE tenant_id = ?',
    [cursor, at, at, tenantId],
  );
}

export async function markAnchorsPass(db: Db, tenantId: string, at: number): Promise<void> {
  await db.exec('UPDATE sync_state SET last_anchors_at = ? WHERE tenant_id = ?', [at, tenantId]);
}

export interface RunRecord {
  phase: SyncPhase;
  startedAt: number;
  /** The agent that answered last; null keeps the stored one. */
  agentId: string | null;
  counts: SyncCounts;
}

/** A run completed: its counts, the live total, no error. */
export async function recordRunSuccess(
  db: Db,
  tenantId: string,
  r: RunRecord & { finishedAt: number; total: number },
): Promise<void> {
  await db.exec(
    `UPDATE sync_state SET phase = ?, last_run_at = ?, last_success_at = ?, last_error = NULL, agent_id = COALESCE(?, agent_id),
       created_count = ?, updated_count = ?, deleted_count = ?, total = ? WHERE tenant_id = ?`,
    [
      r.phase,
      r.startedAt,
      r.finishedAt,
      r.agentId,
      r.counts.created,
      r.counts.updated,
      r.counts.deleted,
      r.total,
      tenantId,
    ],
  );
}

/** A run stopped with `code` (an outcome code or a sync code); what it did before stays counted. */
export async function recordRunFailure(db: Db, tenantId: string, r: RunRecord & { code: string }): Promise<void> {
  await db.exec(
    'UPDATE sync_state SET phase = ?, last_run_at = ?, last_error = ?, agent_id = COALESCE(?, agent_id), created_count = ?, updated_count = ?, deleted_count = ? WHERE tenant_id = ?',
    [r.phase, r.startedAt, r.code, r.agentId, r.counts.created, r.counts.updated, r.counts.deleted, tenantId],
  );
}
