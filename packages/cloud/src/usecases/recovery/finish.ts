/**
 * Finishing a verified recovery with one directory write: a reset (history enforced, account
 * unlocked, no forced change) or, when the tenant allows it, only an unlock. The flow is taken for
 * the write atomically (verified → done), so two submissions cannot write twice; a refusal that
 * wrote nothing gives it back (done → verified) so the person can try another password. After a
 * success: the user's signed-in sessions end (reset only: someone else may have had the old
 * password) and the user and the listed admins are told. The write itself (with its audit record
 * and the common-password pre-check) is the password use case's.
 */
import { NOTHING_WRITTEN, type OperationResult } from '@writeback/protocol';
import type { Services } from '../../services.js';
import { getTenantSettings } from '../../tenants/settings.js';
import { resolveUser } from '../../web/identity.js';
import { deleteSubjectSessions } from '../../web/session.js';
import { notifyAfterWrite, resetPassword, unlockAccount } from '../../web/write.js';
import { moveFlow, type RecoveryFlow } from './flow.js';

export type FinishResult =
  /** The flow is not (or no longer) verified, or the tenant does not allow this: nothing done. */
  | { kind: 'not_verified' }
  /** Another submission took the flow first: nothing done. */
  | { kind: 'taken' }
  /** The directory refused and nothing was written; the flow is verified again. */
  | { kind: 'refused'; result: OperationResult }
  /** The write was made, or may have been (timeout, outcome_unknown): the flow is over. */
  | { kind: 'finished'; result: OperationResult };

export async function finishRecovery(
  services: Services,
  o: { flow: RecoveryFlow; clientIp: string } & ({ kind: 'reset'; newPassword: string } | { kind: 'unlock' }),
): Promise<FinishResult> {
  const { flow } = o;
  if (flow.state !== 'verified') return { kind: 'not_verified' };
  if (o.kind === 'unlock' && !(await getTenantSettings(services.db, flow.tenantId)).sspr.unlockEnabled)
    return { kind: 'not_verified' };
  const user = await resolveUser(services, flow.tenantId, flow.login);
  if (!(await moveFlow(services, flow, { state: 'done' }))) return { kind: 'taken' };
  const w = { tenantId: flow.tenantId, user, clientIp: o.clientIp };
  const result =
    o.kind === 'reset' ? await resetPassword(services, w, o.newPassword) : await unlockAccount(services, w);
  if (NOTHING_WRITTEN.has(result.outcome)) {
    await moveFlow(services, flow, { state: 'verified' });
    return { kind: 'refused', result };
  }
  if (result.outcome === 'succeeded') {
    if (o.kind === 'reset')
      await deleteSubjectSessions(services.db, flow.tenantId, 'user', user.cloud?.id ?? user.login.toLowerCase());
    notifyAfterWrite(services, w, o.kind);
  }
  return { kind: 'finished', result };
}
