/**
 * What the API and the pages show of a tenant's sync, and the errors that stop a run. The row
 * behind it is store/sync-state.ts.
 */
import type { Db } from '../store/index.js';
import { getSyncState, type SyncPhase, type SyncState } from '../store/sync-state.js';

export type { SyncPhase } from '../store/sync-state.js';
export { tenantHasSynced } from '../store/sync-state.js';

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

export function toStatus(s: SyncState): SyncStatus {
  return {
    tenantId: s.tenantId,
    phase: s.phase,
    fullInProgress: s.inFull,
    firstFullSyncAt: s.firstFullAt,
    lastRunAt: s.lastRunAt,
    lastSuccessAt: s.lastSuccessAt,
    lastFullSyncAt: s.lastFullAt,
    lastAnchorsPassAt: s.lastAnchorsAt,
    lastError: s.lastError,
    agentId: s.agentId,
    counts: { ...s.counts },
    total: s.total,
    pendingDeletions: s.pendingDeletes.length,
    pendingSince: s.pendingSince,
  };
}

/** Read-only: the tenant's sync status without creating its row. */
export async function readSyncStatus(db: Db, tenantId: string): Promise<SyncStatus | null> {
  const s = await getSyncState(db, tenantId);
  return s ? toStatus(s) : null;
}
