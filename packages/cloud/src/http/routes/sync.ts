/** The tenant's directory sync: its status, a run now, and the deletions the mass-delete guard held back. */
import { z } from 'zod';
import type { SyncStatus } from '../../sync/engine.js';
import { defineRoute } from '../route.js';
import { isoOrNull, TenantParams } from '../schemas.js';
import { loadTenantFor } from '../steps/load-tenant.js';

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

export const syncStatusRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/sync',
  operationId: 'getSyncStatus',
  summary: "The tenant's directory sync: phase, last run, counts, last error, held-back deletions",
  tag: 'sync',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Sync status', schema: SyncStatusBody } },
  errors: ['unauthorized', 'forbidden', 'not_found'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.read');
    return { status: 200, body: statusBody(await services.sync.status(tenant.id)) };
  },
});

export const syncRunRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/run',
  operationId: 'runSync',
  summary: 'Sync now (waits for the run); `full: true` starts a full sync',
  tag: 'sync',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
  body: z.object({ full: z.boolean().default(false) }),
  bodyOptional: true,
  responses: {
    200: { description: 'Status after the run (phase error with lastError when it failed)', schema: SyncStatusBody },
  },
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request'],
  async handle({ principal, params, body, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const r = await services.sync.runOnce(tenant.id, { full: body.full });
    return { status: 200, body: statusBody(r.status) };
  },
});

export const confirmDeletionsRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/deletions/confirm',
  operationId: 'confirmSyncDeletions',
  summary: 'Apply the deletions the mass-delete guard held back',
  tag: 'sync',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
  responses: { 200: { description: 'Applied', schema: z.object({ deleted: z.number(), status: SyncStatusBody }) } },
  errors: ['unauthorized', 'forbidden', 'not_found', 'conflict'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const deleted = await services.sync.confirmDeletions(tenant.id);
    return { status: 200, body: { deleted, status: statusBody(await services.sync.status(tenant.id)) } };
  },
});

export const rejectDeletionsRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/deletions/reject',
  operationId: 'rejectSyncDeletions',
  summary:
    'Discard the deletions the mass-delete guard held back (the next anchors pass finds them again if they are still gone)',
  tag: 'sync',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
  responses: { 200: { description: 'Discarded', schema: z.object({ discarded: z.number(), status: SyncStatusBody }) } },
  errors: ['unauthorized', 'forbidden', 'not_found', 'conflict'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const discarded = await services.sync.rejectDeletions(tenant.id);
    return { status: 200, body: { discarded, status: statusBody(await services.sync.status(tenant.id)) } };
  },
});
