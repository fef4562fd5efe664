/**
 * The lease that lets several cloud nodes share one PostgreSQL store with one of them syncing a
 * tenant at a time: taken with one conditional UPDATE, renewed inside each batch's transaction (so
 * a batch never commits for a node that lost the tenant), released at the end of the run.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/index.js';
import { releaseSyncLease, renewSyncLease, takeSyncLease } from '../store/sync-state.js';
import { SyncRunError } from './status.js';

export interface SyncLease {
  /** This node's name in lease_owner. */
  readonly owner: string;
  take(tenantId: string): Promise<boolean>;
  /** Inside a batch transaction: renew the lease, or fail the run if another node took it. */
  renew(t: Db, tenantId: string): Promise<void>;
  release(tenantId: string): Promise<void>;
}

export function createSyncLease(db: Db, leaseMs: number, now: () => number): SyncLease {
  const owner = `node-${randomUUID()}`;
  return {
    owner,
    take(tenantId) {
      const t = now();
      return takeSyncLease(db, tenantId, owner, t, t + leaseMs);
    },
    async renew(t, tenantId) {
      if (!(await renewSyncLease(t, tenantId, owner, now() + leaseMs)))
        throw new SyncRunError('lease_lost', 'another node took over this tenant');
    },
    release: (tenantId) => releaseSyncLease(db, tenantId, owner),
  };
}
