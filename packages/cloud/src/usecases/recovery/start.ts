/**
 * Starting a recovery: the tenant must offer self-service and have an agent connected (said
 * before the person types anything); the start counts against the per-user and per-IP limits; then
 * every user name gets a flow (an unknown or out-of-scope one a flow that can never pass), so
 * known and unknown names get the same answer in the same time.
 */
import type { Services } from '../../services.js';
import { getTenantSettings, type TenantSettings } from '../../tenants/settings.js';
import { userBudgetKey } from '../attempts.js';
import { knownDevice } from '../devices.js';
import { inSsprScope, resolvePerson } from '../person.js';
import {
  FLOW_TTL_MS,
  flowPersister,
  flowSecretHash,
  newFlowCsrfToken,
  newFlowToken,
  type RecoveryFlow,
} from './flow.js';
import { countAttempt } from './limits.js';

export type Availability = 'available' | 'disabled' | 'agent_unavailable';

/** Whether at least one of the tenant's agents is connected right now. */
export async function agentConnected(services: Services, tenantId: string): Promise<boolean> {
  try {
    return (await services.relay.listAgents(tenantId)).some((a) => a.tenantId === tenantId);
  } catch (err) {
    services.log.warn('could not ask the relay for agents', { tenantId, err });
    return false;
  }
}

/** Whether a recovery can start for this tenant now. */
export async function recoveryAvailability(
  services: Services,
  tenantId: string,
): Promise<{ availability: Availability; settings: TenantSettings }> {
  const settings = await getTenantSettings(services.db, tenantId);
  if (!settings.sspr.enabled) return { availability: 'disabled', settings };
  if (!(await agentConnected(services, tenantId))) return { availability: 'agent_unavailable', settings };
  return { availability: 'available', settings };
}

export type StartResult =
  | { ok: true; flow: RecoveryFlow /** `<id>.<secret>`: the browser's only handle on the flow. */; token: string }
  | { ok: false; problem: 'disabled' | 'agent_unavailable' | 'invalid_login' };

/** `login` null: the form had no usable user name (said only once the tenant is known to be available). */
export async function startRecovery(
  services: Services,
  o: {
    tenantId: string;
    login: string | null;
    clientIp: string;
    /** The browser's device cookie (usecases/devices.ts): a known browser is not held by the user-wide budget. */
    deviceToken?: string | null | undefined;
  },
): Promise<StartResult> {
  const { availability, settings } = await recoveryAvailability(services, o.tenantId);
  if (availability !== 'available') return { ok: false, problem: availability };
  if (o.login === null) return { ok: false, problem: 'invalid_login' };
  const user = await resolvePerson(services, o.tenantId, o.login);
  await countAttempt(services, {
    tenantId: o.tenantId,
    userKey: user.key,
    clientIp: o.clientIp,
    perHour: settings.sspr.attemptsPerHour,
    device: knownDevice(services, userBudgetKey(o.tenantId, user.cloud, user.login), o.deviceToken),
  });
  const now = services.now();
  const { id, secret, token } = newFlowToken();
  const flow: RecoveryFlow = {
    id,
    tenantId: o.tenantId,
    userKey: inSsprScope(settings, user) ? user.key : null,
    login: user.login,
    state: 'choose_method',
    method: null,
    questions: [],
    verified: [],
    required: settings.sspr.required,
    csrfToken: newFlowCsrfToken(),
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    expiresAt: now + FLOW_TTL_MS,
  };
  await flowPersister(services).create(flow, flowSecretHash(secret));
  return { ok: true, flow, token };
}
