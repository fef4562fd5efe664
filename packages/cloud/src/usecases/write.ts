/**
 * What every password or account use case shares: one audited writeback request (through the
 * writeback service, which resolves the user, picks the agent and records exactly one outcome)
 * and the answer it gives its adapter: which operation answered (a generated reset may stop at its
 * policy read), the directory's result and the request id shown as the reference.
 */
import { randomUUID } from 'node:crypto';
import type { OperationName, OperationRequest, OperationResult } from '@writeback/protocol';
import { finishRecord, insertPending } from '../audit/audit.js';
import type { Actor } from '../auth/principal.js';
import type { Services } from '../services.js';
import type { CloudUser } from '../users/directory-users.js';

export interface WriteAnswer {
  op: OperationName;
  result: OperationResult;
  /** The reference shown to the person (also for a refusal made before sending). */
  requestId: string;
  /** False: the cloud refused before anything reached the agent (nothing was written). */
  sent: boolean;
  /** Only for a reset where the cloud generated the password, and only on success: shown once. */
  temporaryPassword?: string;
}

export interface WriteContext {
  tenantId: string;
  actor: Actor;
  /** The user as named in the audit record. */
  target: string;
  clientIp: string | null;
  /** The cloud's copy of the user when the use case looked it up already (null: none); see ExecuteInput. */
  user?: CloudUser | null;
}

export async function send(
  services: Services,
  w: WriteContext,
  request: OperationRequest,
  o: { audit?: boolean } = {},
): Promise<WriteAnswer> {
  const r = await services.writeback.executeOperation({
    tenantId: w.tenantId,
    request,
    actor: w.actor,
    target: w.target,
    clientIp: w.clientIp,
    ...(w.user !== undefined ? { knownUser: w.user } : {}),
    ...(o.audit === false ? { audit: false } : {}),
  });
  return { op: request.op, result: r.result, requestId: r.requestId, sent: true };
}

/**
 * A refusal the cloud made before anything was sent (e.g. the common-password check), answered
 * like the directory's and audited like a write: one record, done at once, with its own reference.
 */
export async function refuseBeforeSending(
  services: Services,
  w: WriteContext,
  op: OperationName,
  result: OperationResult,
  detail: string,
): Promise<WriteAnswer> {
  const requestId = randomUUID();
  const at = services.now();
  await services.db.tx(async (tx) => {
    await insertPending(tx, {
      tenantId: w.tenantId,
      requestId,
      actor: w.actor,
      action: op,
      targetUser: w.target,
      clientIp: w.clientIp,
      startedAt: at,
      deadlineAt: at,
    });
    await finishRecord(tx, requestId, {
      outcome: result.outcome,
      reasons: result.reasons,
      detail,
      latencyMs: 0,
      finishedAt: at,
    });
  });
  services.log.info('writeback refused before sending', {
    requestId,
    tenantId: w.tenantId,
    op,
    outcome: result.outcome,
  });
  return { op, result, requestId, sent: false };
}

/**
 * What follows a write that succeeded (ending sessions, settling the cloud's copy): it must never
 * turn the directory's success into an error for the caller (the password *was* written). A
 * failure (the store down a moment) is logged as an error with the request's reference.
 */
export async function afterSuccess(
  services: Services,
  answer: WriteAnswer,
  what: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    services.log.error('could not finish what follows a successful write', { requestId: answer.requestId, what, err });
  }
}
