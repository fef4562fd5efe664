/**
 * Choosing (or re-choosing, or resending) a method: allowed while no method decided the flow yet,
 * for a method the tenant offers and the flow has not passed. The strategy prepares the challenge
 * and the flow moves to `sent_code` or `verifying`. Anything else does nothing (the page shows the
 * flow as it is).
 */
import type { Services } from '../../services.js';
import { getTenantSettings } from '../../tenants/settings.js';
import type { MethodKind } from '../methods/registered.js';
import { CHOOSING, moveFlow, type RecoveryFlow } from './flow.js';
import { STRATEGIES } from './strategies/index.js';

export async function chooseMethod(
  services: Services,
  o: { flow: RecoveryFlow; method: MethodKind; clientIp: string },
): Promise<void> {
  const { flow, method } = o;
  const settings = await getTenantSettings(services.db, flow.tenantId);
  if (!settings.sspr.methods.includes(method) || flow.verified.includes(method) || !CHOOSING.includes(flow.state))
    return;
  const ctx = { services, tenantId: flow.tenantId, settings, clientIp: o.clientIp };
  const challenge = await STRATEGIES[method].start(ctx, flow);
  await moveFlow(services, flow, {
    state: challenge.state,
    method,
    ...(challenge.questions ? { questions: challenge.questions } : {}),
  });
}
