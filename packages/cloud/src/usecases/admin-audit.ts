/**
 * Admin actions that are not directory writes (settings changed, registration token issued or
 * revoked, agent revoked, admin accounts created, changed or removed) get one audit record each, through the API and the pages alike,
 * completed at once with `succeeded`, so the audit log shows who changed what. Never a secret:
 * the target is an id or a section name.
 */
import { randomUUID } from 'node:crypto';
import { finishRecord, insertPending } from '../audit/audit.js';
import type { Actor } from '../auth/principal.js';
import type { Services } from '../services.js';

export type AdminAction =
  | 'admin.settings.update'
  | 'admin.agent_token.issue'
  | 'admin.agent_token.revoke'
  | 'admin.agent.revoke'
  | 'admin.admin.create'
  | 'admin.admin.role'
  | 'admin.admin.disable'
  | 'admin.admin.enable'
  | 'admin.admin.remove';

/** Who does an admin action, in which tenant, from where: an admin (API or pages) or an API key. */
export interface AdminActionInput {
  tenantId: string;
  actor: Actor;
  clientIp: string | null;
}

export async function recordAdminAction(
  services: Services,
  input: AdminActionInput & { action: AdminAction; target: string },
): Promise<void> {
  const now = services.now();
  const requestId = randomUUID();
  await insertPending(services.db, {
    tenantId: input.tenantId,
    requestId,
    actor: input.actor,
    action: input.action,
    targetUser: null,
    clientIp: input.clientIp,
    startedAt: now,
    deadlineAt: now,
  });
  await finishRecord(services.db, requestId, {
    outcome: 'succeeded',
    detail: input.target,
    latencyMs: 0,
    finishedAt: now,
  });
}
