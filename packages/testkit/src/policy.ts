/**
 * Effective password policies as a directory reports them (`policy.get`, a policy_violation's
 * policy), for scripted agents' answers and the tests of the words shown about them.
 */
import type { EffectivePolicy } from '@writeback/protocol';

/**
 * A domain policy like a hardened Active Directory's: 12 characters with complexity, the last 24
 * passwords remembered, one day between changes, no expiry, locked after 5 wrong passwords for 30
 * minutes; `over` sets what a test depends on.
 */
export function effectivePolicy(over: Partial<EffectivePolicy> = {}): EffectivePolicy {
  return {
    source: 'domain',
    minLength: 12,
    complexity: true,
    historyLength: 24,
    minAgeSeconds: 86_400,
    maxAgeSeconds: 0,
    lockoutThreshold: 5,
    lockoutDurationSeconds: 1_800,
    ...over,
  };
}
