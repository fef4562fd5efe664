/**
 * How an outcome travels over HTTP: one status per outcome (from protocol's OUTCOME_HTTP_STATUS,
 * never varied) and one body shape for every writeback answer.
 */
import { z } from 'zod';
import {
  EffectivePolicySchema,
  OUTCOME_HTTP_STATUS,
  OutcomeCodeSchema,
  PolicyDataSchema,
  PolicyReasonSchema,
  ResetDataSchema,
  resultData,
  type OperationName,
  type OperationResult,
} from '@writeback/protocol';
import { outcomeMessage, resetLeftLocked } from './messages.js';

/** The body of every writeback answer. */
export const OutcomeBodySchema = z.object({
  outcome: OutcomeCodeSchema,
  reasons: z.array(PolicyReasonSchema).optional(),
  policy: EffectivePolicySchema.optional(),
  message: z.string(),
  requestId: z.string(),
  historyEnforced: z.boolean().optional(),
  /** A reset with forceChange that the directory would not apply (AD "password never expires"): not set. */
  forceChangeIgnored: ResetDataSchema.shape.forceChangeIgnored,
  /**
   * Policy reads: a reset of this user (resets enforce history by default) is also refused inside
   * the minimum password age (AD with LDAP_SERVER_POLICY_HINTS, Windows Server 2016+). Absent: the
   * directory did not say; treat resets as not bound by it.
   */
  resetHonoursMinAge: PolicyDataSchema.shape.resetHonoursMinAge,
  /**
   * A reset (without `unlock`) of an account that is locked: the password is set, but the user
   * cannot sign in until the account is unlocked (POST …/users/:login/unlock). Absent otherwise.
   */
  stillLocked: z.literal(true).optional(),
  /** Only for resets where the service generated the password; shown once. */
  temporaryPassword: z.string().optional(),
});
export type OutcomeBody = z.infer<typeof OutcomeBodySchema>;

export interface OutcomeAnswer {
  status: number;
  body: OutcomeBody;
}

export function outcomeAnswer(
  result: OperationResult,
  requestId: string,
  o: { op: OperationName; now?: number; temporaryPassword?: string },
): OutcomeAnswer {
  const ignored = o.op === 'password.reset' ? resultData('password.reset', result)?.forceChangeIgnored : undefined;
  const resetAge = o.op === 'policy.get' ? resultData('policy.get', result)?.resetHonoursMinAge : undefined;
  const body: OutcomeBody = {
    outcome: result.outcome,
    ...(result.reasons?.length ? { reasons: result.reasons } : {}),
    ...(result.policy ? { policy: result.policy } : {}),
    message: outcomeMessage(result, { op: o.op, ...(o.now !== undefined ? { now: o.now } : {}) }),
    requestId,
    ...(result.historyEnforced !== undefined ? { historyEnforced: result.historyEnforced } : {}),
    ...(ignored !== undefined ? { forceChangeIgnored: ignored } : {}),
    ...(resetLeftLocked(result, o.op) ? { stillLocked: true as const } : {}),
    ...(resetAge !== undefined ? { resetHonoursMinAge: resetAge } : {}),
    ...(o.temporaryPassword !== undefined && result.outcome === 'succeeded'
      ? { temporaryPassword: o.temporaryPassword }
      : {}),
  };
  return { status: OUTCOME_HTTP_STATUS[result.outcome], body };
}
