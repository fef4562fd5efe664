/**
 * Finishing a verified recovery with one directory write: a reset (history enforced, account
 * unlocked, no forced change) or, when the tenant allows it, only an unlock. The flow is taken for
 * the write atomically (verified → done), so two submissions cannot write twice; a refusal that
 * wrote nothing gives it back (done → verified) so the person can try another password. After a
 * success the password use cases end the user's signed-in sessions (reset only: someone else may
 * have had the old password) and tell the user and the listed admins. The write itself (with its
 * audit record and the common-password pre-check) is theirs: usecases/password-reset.ts, unlock.ts.
 */
import { NOTHING_WRITTEN, type OperationResult } from '@writeback/protocol';
import type { Services } from '../../services.js';
import { getTenantSettings } from '../../tenants/settings.js';
import { resetOwnPassword } from '../password-reset.js';
import { resolvePerson } from '../person.js';
import { unlockOwnAccount } from '../unlock.js';
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
  const person = await resolvePerson(services, flow.tenantId, flow.login);
  if (!(await moveFlow(services, flow, { state: 'done' }))) return { kind: 'taken' };
  const w = { tenantId: flow.tenantId, person, clientIp: o.clientIp };
  const { result } =
    o.kind === 'reset' ? await resetOwnPassword(services, w, o.newPassword) : await unlockOwnAccount(services, w);
  if (NOTHING_WRITTEN.has(result.outcome)) {
    await moveFlow(services, flow, { state: 'verified' });
    return { kind: 'refused', result };
  }
  return { kind: 'finished', result };
}
