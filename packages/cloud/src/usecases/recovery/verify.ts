/**
 * Answering the chosen method: the strategy checks the answer as one counted guess (flow.ts
 * `countedGuess`: counted in the store before it is evaluated, so a hundred answers posted at once
 * are evaluated at most FLOW_MAX_ATTEMPTS times). A right answer moves the flow on: `verified`
 * once enough methods passed, else back to `choose_method` for the next one.
 */
import type { Services } from '../../services.js';
import { getTenantSettings } from '../../tenants/settings.js';
import { countedGuess, flowPersister, moveFlow, type RecoveryFlow } from './flow.js';
import type { StrategyInput } from './strategy.js';
import { STRATEGIES } from './strategies/index.js';

export type VerifyResult =
  /** No method is being answered (nothing done). */
  | { kind: 'not_answering' }
  | { kind: 'passed'; next: 'choose_method' | 'verified' }
  | { kind: 'wrong'; attemptsLeft: number }
  /** No try left: the flow has ended (flow_locked). */
  | { kind: 'locked' };

export async function verifyMethod(
  services: Services,
  o: { flow: RecoveryFlow; input: StrategyInput; clientIp: string },
): Promise<VerifyResult> {
  const { flow } = o;
  const method = flow.method;
  if (!method) return { kind: 'not_answering' };
  const flows = flowPersister(services);
  const settings = await getTenantSettings(services.db, flow.tenantId);
  const ctx = { services, tenantId: flow.tenantId, settings, clientIp: o.clientIp };
  const guess = await countedGuess(flows, flow, services.now, () => STRATEGIES[method].verify(ctx, flow, o.input));
  if (guess.kind !== 'right') return guess;
  const verified = flow.verified.includes(method) ? flow.verified : [...flow.verified, method];
  const next = verified.length >= flow.required ? 'verified' : 'choose_method';
  if (await moveFlow(services, flow, { state: next, method: null, verified })) return { kind: 'passed', next };
  // A concurrent right answer moved it first: say where it is.
  const moved = (await flows.get(flow.id))?.flow;
  return moved?.state === 'verified' ? { kind: 'passed', next: 'verified' } : { kind: 'not_answering' };
}
