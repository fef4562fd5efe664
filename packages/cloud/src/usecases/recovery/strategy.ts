/**
 * One strategy per way of proving who you are (kratos: `recovery.Strategy`). A strategy prepares
 * its challenge when the person chooses it (send a code, fix the questions) and checks the answer.
 * The flow (state, counting, limits) is the use cases' business: `verify` is only called after the
 * guess was counted, and must do the same work for an unknown user as for a known one; only a
 * real, in-scope, registered user (flow.userKey set) can pass. A new method is one new file in
 * strategies/ and one line in strategies/index.ts.
 */
import type { Services } from '../../services.js';
import type { TenantSettings } from '../../tenants/settings.js';
import type { MethodKind, QuestionId } from '../methods/registered.js';
import type { RecoveryFlow } from './flow.js';

export interface StrategyContext {
  services: Services;
  tenantId: string;
  settings: TenantSettings;
  clientIp: string;
}

/** Where the flow goes once the method is chosen, and what it keeps for the answer. */
export interface Challenge {
  state: 'sent_code' | 'verifying';
  /** Security questions asked (kept on the flow so a reload asks the same). */
  questions?: QuestionId[];
}

/** The answer as posted: each strategy reads and parses its own fields. */
export type StrategyInput = Readonly<Record<string, unknown>>;

export interface RecoveryStrategy {
  readonly kind: MethodKind;
  /** The person chose this method: prepare the challenge (same work for every user name). */
  start(ctx: StrategyContext, flow: RecoveryFlow): Promise<Challenge>;
  /** Whether the answer proves the flow's user (false for every unknown user, in the same time). */
  verify(ctx: StrategyContext, flow: RecoveryFlow, input: StrategyInput): Promise<boolean>;
}
