/** The tenant's audit log, newest first, paginated by an opaque cursor. Never contains a password. */
import { z } from 'zod';
import { OutcomeCodeSchema, PolicyReasonSchema } from '@writeback/protocol';
import { listAudit } from '../../audit/audit.js';
import { iso, isoOrNull } from '../schemas.js';
import { defineTenantRoute } from '../tenant-route.js';

const Time = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

const AuditItem = z.object({
  requestId: z.string(),
  actor: z.object({ kind: z.enum(['api_key', 'admin', 'user', 'system']), id: z.string() }),
  action: z.string(),
  target: z.string().nullable(),
  agentId: z.string().nullable(),
  state: z.enum(['pending', 'done']),
  outcome: OutcomeCodeSchema.nullable(),
  reasons: z.array(PolicyReasonSchema).nullable(),
  detail: z.string().nullable(),
  latencyMs: z.number().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  clientIp: z.string().nullable(),
});

export const auditRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/audit',
  operationId: 'listAudit',
  summary: 'Audit records of the tenant, newest first',
  tag: 'audit',
  permission: 'audit.read',
  query: z.object({
    from: Time.optional(),
    to: Time.optional(),
    outcome: OutcomeCodeSchema.optional(),
    user: z.string().min(1).max(256).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(512).optional(),
  }),
  responses: {
    200: {
      description: 'One page of records',
      schema: z.object({ items: z.array(AuditItem), nextCursor: z.string().nullable() }),
    },
  },
  errors: ['invalid_request'],
  async handle({ tenant, query, services }) {
    const page = await listAudit(services.db, tenant.id, query);
    return {
      status: 200,
      body: {
        items: page.items.map((r) => ({
          requestId: r.requestId,
          actor: r.actor,
          action: r.action,
          target: r.targetUser,
          agentId: r.agentId,
          state: r.state,
          outcome: r.outcome,
          reasons: r.reasons,
          detail: r.detail,
          latencyMs: r.latencyMs,
          startedAt: iso(r.startedAt),
          finishedAt: isoOrNull(r.finishedAt),
          clientIp: r.clientIp,
        })),
        nextCursor: page.nextCursor,
      },
    };
  },
});
