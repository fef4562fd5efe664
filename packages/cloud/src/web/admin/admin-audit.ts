/**
 * Admin actions that are not directory writes (settings changed, registration token issued or
 * revoked, agent revoked) still get one audit record each, completed at once with `succeeded`,
 * so the audit page shows who changed what. Never a secret: the target is an id or a section name.
 */
import { randomUUID } from 'node:crypto';
import { finishRecord, insertPending } from '../../audit/audit.js';
import type { Services } from '../../services.js';
import type { AdminContext } from './guard.js';

export type AdminAction =
  | 'admin.settings.update'
  | 'admin.agent_token.issue'
  | 'admin.agent_token.revoke'
  | 'admin.agent.revoke';

export async function recordAdminAction(
  services: Services,
  ctx: AdminContext,
  action: AdminAction,
  target: string,
  clientIp: string | null,
): Promise<void> {
  const now = services.now();
  const requestId = randomUUID();
  await insertPending(services.db, {
    tenantId: ctx.tenant.id,
    requestId,
    actor: { kind: 'admin', id: ctx.admin.id },
    action,
    targetUser: null,
    clientIp,
    startedAt: now,
    deadlineAt: now,
  });
  await finishRecord(services.db, requestId, { outcome: 'succeeded', detail: target, latencyMs: 0, finishedAt: now });
}
