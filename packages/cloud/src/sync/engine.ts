/**
 * The cloud side of directory sync: per tenant, pull the agent's changes (see
 * packages/protocol/src/sync.ts) into directory_users. This module orchestrates; the parts are
 *
 *   passes.ts       full, incremental and anchors passes (what one run pulls and commits)
 *   mass-delete.ts  deletions staged during a run, decided at its end, held back above a threshold
 *   lease.ts        one node at a time per tenant on a shared PostgreSQL store
 *   pull.ts         the sync.pull / sync.anchors requests, through the sending gateway
 *   status.ts       the status the API shows, SyncRunError
 *
 * and store/sync-state.ts holds the SQL. In one process, runs of a tenant are queued; the
 * scheduler starts an incremental run every settings.sync.intervalMs for tenants with a connected
 * agent.
 *
 * Sync talks to agents through the gateway directly, not through the writeback service: pulls are
 * reads that go through the same sealed, signed request path but are not audited writes.
 */
import type { Logger } from '@writeback/protocol';
import type { RelayClient } from '@writeback/relay';
import type { AgentGateway } from '../gateway/gateway.js';
import type { Db } from '../store/index.js';
import { ensureSyncState, recordRunFailure, recordRunSuccess, tenantHasSynced } from '../store/sync-state.js';
import { getTenantSettings } from '../tenants/settings.js';
import { listTenants } from '../tenants/tenants.js';
import { countLiveUsers } from '../users/directory-users.js';
import { createSyncLease } from './lease.js';
import { confirmHeldDeletions, rejectHeldDeletions, settleDeletions } from './mass-delete.js';
import { createSyncPasses, type RunProgress } from './passes.js';
import { createSyncPuller } from './pull.js';
import { readSyncStatus, SyncRunError, toStatus, type SyncStatus } from './status.js';

export { readSyncStatus, SyncRunError, tenantHasSynced, type SyncPhase, type SyncStatus } from './status.js';

export interface SyncRunResult {
  status: SyncStatus;
  /** The run did not happen: another node holds the lease. */
  skipped?: 'leased_elsewhere';
}

export interface SyncEngineDeps {
  db: Db;
  /** How sync requests reach the tenant's agents. */
  gateway: AgentGateway;
  /** Presence only: the scheduler skips tenants without a connected agent. */
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

export function createSyncEngine(deps: SyncEngineDeps): SyncEngine {
  const { db, relay, now, log } = deps;
  const tickMs = deps.tickMs ?? 250;
  const lease = createSyncLease(db, deps.leaseMs, now);
  const passes = createSyncPasses({
    db,
    puller: createSyncPuller(deps.gateway, deps.batchSize ?? 500, log),
    lease,
    now,
    anchorsIntervalMs: deps.anchorsIntervalMs,
  });
  const chains = new Map<string, Promise<unknown>>();
  const nextDue = new Map<string, number>();
  const syncedTenants = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let ticking = false;
  let tenantsCache: { at: number; ids: string[] } | null = null;

  async function runLocked(tenantId: string, opts: { full?: boolean }): Promise<SyncRunResult> {
    let state = await ensureSyncState(db, tenantId);
    if (!(await lease.take(tenantId))) return { status: toStatus(state), skipped: 'leased_elsewhere' };
    const run: RunProgress = { counts: { created: 0, updated: 0, deleted: 0 }, agentId: null };
    const { counts } = run;
    const startedAt = now();
    try {
      try {
        state = await ensureSyncState(db, tenantId);
        if (opts.full || state.inFull || state.cursor === null) await passes.full(tenantId, state, run);
        else if ((await passes.incremental(tenantId, state, run)) === 'reset') {
          log.info('sync: the directory reset the cursor; full sync', { tenantId });
          await passes.full(tenantId, await ensureSyncState(db, tenantId), run);
        }
        const blocked = await settleDeletions(db, tenantId, counts, now, log);
        const total = await countLiveUsers(db, tenantId);
        await recordRunSuccess(db, tenantId, {
          phase: blocked ? 'blocked_mass_delete' : 'idle',
          startedAt,
          finishedAt: now(),
          agentId: run.agentId,
          counts,
          total,
        });
        if (counts.created + counts.updated + counts.deleted > 0)
          log.info('sync: run done', { tenantId, ...counts, total, blocked });
      } catch (err) {
        const code = err instanceof SyncRunError ? err.code : 'internal_error';
        if (!(err instanceof SyncRunError)) log.error('sync: run failed', { tenantId, err });
        else log.warn('sync: run stopped', { tenantId, code });
        const blocked = (await ensureSyncState(db, tenantId)).phase === 'blocked_mass_delete';
        await recordRunFailure(db, tenantId, {
          phase: blocked ? 'blocked_mass_delete' : 'error',
          startedAt,
          code,
          agentId: run.agentId,
          counts,
        });
      }
    } finally {
      await lease
        .release(tenantId)
        .catch((err: unknown) => log.error('sync: could not release the lease', { tenantId, err }));
    }
    return { status: toStatus(await ensureSyncState(db, tenantId)) };
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

  return {
    runOnce: (tenantId, opts = {}) => queued(tenantId, () => runLocked(tenantId, opts)),
    async status(tenantId) {
      return (await readSyncStatus(db, tenantId)) ?? toStatus(await ensureSyncState(db, tenantId));
    },
    async hasSynced(tenantId) {
      // first_full_at is set once and never cleared: a tenant that has synced stays synced, so a
      // yes is remembered (every write asks); a no is asked again.
      if (syncedTenants.has(tenantId)) return true;
      const synced = await tenantHasSynced(db, tenantId);
      if (synced) syncedTenants.add(tenantId);
      return synced;
    },
    confirmDeletions: (tenantId) => queued(tenantId, () => confirmHeldDeletions(db, tenantId, now(), log)),
    rejectDeletions: (tenantId) => queued(tenantId, () => rejectHeldDeletions(db, tenantId, log)),
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
