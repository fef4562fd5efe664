/** The tenant's directory sync: its status, a run now, and the deletions the mass-delete guard held back. */
import { z } from 'zod';
import type { SyncStatus } from '../../sync/engine.js';
import type { Services } from '../../services.js';
import { isoOrNull } from '../schemas.js';
import { defineTenantRoute } from '../tenant-route.js';

const SyncStatusBody = z.object({
  phase: z.enum(['idle', 'full', 'incremental', 'blocked_mass_delete', 'error']),
  fullInProgress: z.boolean(),
  firstFullSyncAt: z.string().nullable(),
  lastRunAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastFullSyncAt: z.string().nullable(),
  lastAnchorsPassAt: z.string().nullable(),
  lastError: z.string().nullable(),
  agentId: z.string().nullable(),
  counts: z.object({ created: z.number(), updated: z.number(), deleted: z.number() }),
  total: z.number(),
  pendingDeletions: z.number(),
  pendingSince: z.string().nullable(),
});

function statusBody(s: SyncStatus): z.infer<typeof SyncStatusBody> {
  return {
    phase: s.phase,
    fullInProgress: s.fullInProgress,
    firstFullSyncAt: isoOrNull(s.firstFullSyncAt),
    lastRunAt: isoOrNull(s.lastRunAt),
    lastSuccessAt: isoOrNull(s.lastSuccessAt),
    lastFullSyncAt: isoOrNull(s.lastFullSyncAt),
    lastAnchorsPassAt: isoOrNull(s.lastAnchorsPassAt),
    lastError: s.lastError,
    agentId: s.agentId,
    counts: s.counts,
    total: s.total,
    pendingDeletions: s.pendingDeletions,
    pendingSince: isoOrNull(s.pendingSince),
  };
}

export const syncStatusRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/sync',
  operationId: 'getSyncStatus',
  summary: "The tenant's directory sync: phase, last run, counts, last error, held-back deletions",
  tag: 'sync',
  permission: 'sync.read',
  responses: { 200: { description: 'Sync status', schema: SyncStatusBody } },
  async handle({ tenant, services }) {
    return { status: 200, body: statusBody(await services.sync.status(tenant.id)) };
  },
});

export const syncRunRoute = defineTenantRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/run',
  operationId: 'runSync',
  summary: 'Sync now (waits for the run); `full: true` starts a full sync',
  tag: 'sync',
  permission: 'sync.manage',
  idempotency: 'keyed',
  body: z.object({ full: z.boolean().default(false) }),
  bodyOptional: true,
  responses: {
    200: { description: 'Status after the run (phase error with lastError when it failed)', schema: SyncStatusBody },
  },
  errors: ['invalid_request'],
  async handle({ tenant, body, services }) {
    const r = await services.sync.runOnce(tenant.id, { full: body.full });
    return { status: 200, body: statusBody(r.status) };
  },
});

/**
 * The two answers to deletions the mass-delete guard held back: apply them or discard them. Both
 * answer how many, under `count`, with the status after.
 */
function heldDeletionsRoute(o: {
  verb: 'confirm' | 'reject';
  operationId: string;
  summary: string;
  count: 'deleted' | 'discarded';
  description: string;
  act: (sync: Services['sync'], tenantId: string) => Promise<number>;
}) {
  return defineTenantRoute({
    method: 'POST',
    url: `/api/v1/tenants/:tenant/sync/deletions/${o.verb}`,
    operationId: o.operationId,
    summary: o.summary,
    tag: 'sync',
    permission: 'sync.manage',
    idempotency: 'keyed',
    responses: {
      200: { description: o.description, schema: z.object({ [o.count]: z.number(), status: SyncStatusBody }) },
    },
    errors: ['conflict'],
    async handle({ tenant, services }) {
      const n = await o.act(services.sync, tenant.id);
      return { status: 200, body: { [o.count]: n, status: statusBody(await services.sync.status(tenant.id)) } };
    },
  });
}

export const confirmDeletionsRoute = heldDeletionsRoute({
  verb: 'confirm',
  operationId: 'confirmSyncDeletions',
  summary: 'Apply the deletions the mass-delete guard held back',
  count: 'deleted',
  description: 'Applied',
  act: (sync, tenantId) => sync.confirmDeletions(tenantId),
});

export const rejectDeletionsRoute = heldDeletionsRoute({
  verb: 'reject',
  operationId: 'rejectSyncDeletions',
  summary:
    'Discard the deletions the mass-delete guard held back (the next anchors pass finds them again if they are still gone)',
  count: 'discarded',
  description: 'Discarded',
  act: (sync, tenantId) => sync.rejectDeletions(tenantId),
});
