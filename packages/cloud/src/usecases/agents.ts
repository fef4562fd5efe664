/**
 * Agent registration and revocation, for the API and the admin pages alike: issuing a one-time
 * registration token (shown once) and revoking an unused one, the agent's own registration with
 * its token, the tenant's agents merged with the relay's live presence, and revoking an agent.
 * Every admin action here gets one audit record (usecases/admin-audit.ts), whichever door it came
 * through.
 *
 * Revocation writes the store first (the relay's gate reads it, so a revoked agent is refused on
 * reconnect whatever happens next); cutting live connections is best effort on top.
 */
import {
  registerAgent,
  type RegisterAgentInput,
  type Registration,
  listTenantAgents,
  revokeAgent as revokeStoredAgent,
} from '../agents/registry.js';
import { issueAgentToken } from '../agents/tokens.js';
import type { Actor } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { expireAgentToken, listOpenAgentTokens, type OpenAgentToken } from '../store/agent-tokens.js';
import { type AdminActionInput, recordAdminAction } from './admin-audit.js';

const actorRef = (a: Actor): string => `${a.kind}:${a.id}`;

const TOKEN_ACTION_LOG = {
  'admin.agent_token.issue': 'agent registration token issued',
  'admin.agent_token.revoke': 'agent registration token revoked',
} as const;

/** An admin's action on a registration token: one log line and one audit record. */
async function recordTokenAction(
  services: Services,
  input: AdminActionInput,
  action: keyof typeof TOKEN_ACTION_LOG,
  tokenId: string,
): Promise<void> {
  const { tenantId, actor, clientIp } = input;
  services.log.info(TOKEN_ACTION_LOG[action], { tenantId, tokenId, actor: actorRef(actor) });
  await recordAdminAction(services, { tenantId, actor, clientIp, action, target: `token ${tokenId}` });
}

export async function issueRegistrationToken(
  services: Services,
  input: AdminActionInput & { ttlSeconds: number },
): Promise<{ id: string; token: string; expiresAt: number }> {
  const issued = await issueAgentToken(
    services.db,
    { tenantId: input.tenantId, createdBy: actorRef(input.actor), ttlMs: input.ttlSeconds * 1000 },
    services.now(),
  );
  await recordTokenAction(services, input, 'admin.agent_token.issue', issued.id);
  return issued;
}

export type { OpenAgentToken };

/** The tenant's registration tokens still usable (neither used nor expired). */
export async function listOpenRegistrationTokens(services: Services, tenantId: string): Promise<OpenAgentToken[]> {
  return listOpenAgentTokens(services.db, tenantId, services.now());
}

/** Revoke an unused registration token; `not_found` when there is no such open token. */
export async function revokeRegistrationToken(
  services: Services,
  input: AdminActionInput & { tokenId: string },
): Promise<void> {
  if (!(await expireAgentToken(services.db, input.tenantId, input.tokenId, services.now())))
    throw new CloudError('not_found', 'no such registration token');
  await recordTokenAction(services, input, 'admin.agent_token.revoke', input.tokenId);
}

/**
 * The agent registers itself with its one-time token (its only credential). A bad, used or
 * expired token is `invalid_token`, logged with the caller's address.
 */
export async function registerAgentWithToken(
  services: Services,
  input: RegisterAgentInput,
  clientIp: string | null,
): Promise<Registration & { relayUrl: string; relayUrls?: string[] }> {
  try {
    const reg = await registerAgent(services.db, input, services.cloudKey, services.now());
    services.log.info('agent registered', {
      tenantId: reg.tenantId,
      agentId: reg.agentId,
      directory: input.directory,
      agentVersion: input.agentVersion,
    });
    // The list only when there are several relays (RELAY_URLS): an agent given a list dials it
    // before its relayUrl, so a single-relay answer stays as it was (relayUrl alone).
    const relayUrls = services.relayUrls();
    return { ...reg, relayUrl: services.relayUrl(), ...(relayUrls.length > 1 ? { relayUrls } : {}) };
  } catch (err) {
    if (err instanceof CloudError && err.code === 'invalid_token')
      services.log.warn('agent registration refused', { clientIp });
    throw err;
  }
}

/** One registered agent as both doors show it: what the store knows, merged with live presence. */
export interface AgentView {
  agentId: string;
  name: string;
  /** The directory kind and version the agent reports while connected, else as registered. */
  directory: string;
  agentVersion: string;
  registeredAt: number;
  /** The later of the stored last-seen time and the relay's; null when never seen. */
  lastSeenAt: number | null;
  connected: boolean;
  connections: number;
  rttMs: number | null;
  inFlight: number;
  relayId: string | null;
  /**
   * Whether the connected agent can reach its directory, as it last reported (issue 12): null when
   * it is not connected or never said (an older agent).
   */
  directoryHealth: { ok: boolean; since: number; detail?: string } | null;
}

/**
 * The tenant's registered agents with live presence. `presenceKnown` is false when the relay did
 * not answer (logged); the agents are then listed as disconnected.
 */
export async function listAgents(
  services: Services,
  tenantId: string,
): Promise<{ agents: AgentView[]; presenceKnown: boolean }> {
  const [registered, presence] = await Promise.all([
    listTenantAgents(services.db, tenantId),
    services.relay.listAgents(tenantId).catch((err: unknown) => {
      services.log.error('relay presence failed', { err });
      return null;
    }),
  ]);
  const live = new Map((presence ?? []).filter((p) => p.tenantId === tenantId).map((p) => [p.agentId, p]));
  const agents = registered.map((a): AgentView => {
    const p = live.get(a.id);
    const lastSeen = Math.max(a.lastSeenAt ?? 0, p?.lastSeenAt ?? 0);
    return {
      agentId: a.id,
      name: a.name,
      directory: p?.directory ?? a.directory,
      agentVersion: p?.agentVersion ?? a.version,
      registeredAt: a.registeredAt,
      lastSeenAt: lastSeen > 0 ? lastSeen : null,
      connected: (p?.connections ?? 0) > 0,
      connections: p?.connections ?? 0,
      rttMs: p?.rttMs ?? null,
      inFlight: p?.inFlight ?? 0,
      relayId: p?.relayId ?? null,
      directoryHealth: p?.directoryHealth ?? null,
    };
  });
  return { agents, presenceKnown: presence !== null };
}

/** Revoke an agent of the tenant; `not_found` when there is no such live agent. */
export async function revokeAgent(services: Services, input: AdminActionInput & { agentId: string }): Promise<void> {
  const { tenantId, agentId } = input;
  if (!(await revokeStoredAgent(services.db, tenantId, agentId, services.now())))
    throw new CloudError('not_found', 'no such agent');
  try {
    await services.relay.revoke(agentId);
  } catch (err) {
    services.log.error('relay revoke failed; the gate still refuses the agent on reconnect', { agentId, err });
  }
  services.log.warn('agent revoked', { tenantId, agentId, actor: actorRef(input.actor) });
  await recordAdminAction(services, {
    tenantId,
    actor: input.actor,
    clientIp: input.clientIp,
    action: 'admin.agent.revoke',
    target: `agent ${agentId}`,
  });
}
