/**
 * The effective password policy of one user, as the directory enforces it (policy.get through the
 * writeback service). An admin's read is an operation and audited; the read behind a page's rules
 * panel (My Account, the forgot flow's new-password step) is not an operation and not audited
 * (logged at debug level); the write the page leads to is.
 */
import { resultData, type EffectivePolicy, type OutcomeCode } from '@writeback/protocol';
import type { Actor } from '../auth/principal.js';
import type { Services } from '../services.js';
import type { Target } from './target.js';
import { send, type WriteAnswer } from './write.js';

export async function readPolicyAsAdmin(
  services: Services,
  input: { tenantId: string; actor: Actor; target: Target; clientIp: string | null },
): Promise<WriteAnswer> {
  return send(
    services,
    { tenantId: input.tenantId, actor: input.actor, target: input.target.login, clientIp: input.clientIp },
    { op: 'policy.get', params: { user: input.target.ref } },
  );
}

export interface PolicyLookup {
  outcome: OutcomeCode;
  policy: EffectivePolicy | null;
  /**
   * A reset (they enforce history) is also refused inside the minimum age: the directory said so
   * (AD with LDAP_SERVER_POLICY_HINTS). False when it did not say (issue 12).
   */
  resetHonoursMinAge: boolean;
}

/** The rules a user's new password must meet, for the page they are typing it on. */
export async function policyForPerson(
  services: Services,
  tenantId: string,
  login: string,
  clientIp: string | null,
): Promise<PolicyLookup> {
  const a = await send(
    services,
    { tenantId, actor: { kind: 'user', id: login }, target: login, clientIp },
    { op: 'policy.get', params: { user: { by: 'login', value: login } } },
    { audit: false },
  );
  const ok = a.result.outcome === 'succeeded';
  return {
    outcome: a.result.outcome,
    policy: ok ? (a.result.policy ?? null) : null,
    resetHonoursMinAge: ok && resultData('policy.get', a.result)?.resetHonoursMinAge === true,
  };
}
