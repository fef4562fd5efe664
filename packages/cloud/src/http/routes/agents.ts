/** Agents: registration tokens, registration itself, the agent list with live presence, revocation. */
import { z } from 'zod';
import { AgentCertificateSchema } from '@writeback/protocol';
import { RegisterAgentSchema } from '../../agents/registry.js';
import {
  type AgentView as AgentViewOf,
  issueRegistrationToken,
  listAgents,
  registerAgentWithToken,
  revokeAgent,
} from '../../usecases/agents.js';
import { defineRoute } from '../route.js';
import { iso, isoOrNull, TenantRef } from '../schemas.js';
import { defineTenantRoute } from '../tenant-route.js';

export const issueAgentTokenRoute = defineTenantRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/agent-tokens',
  operationId: 'issueAgentToken',
  summary: 'Issue a one-time agent registration token (shown once)',
  description:
    "Operator key, the tenant's key or a tenant admin (not the help desk): the operator sets a tenant up, its first agent included (docs/deploy.md).",
  tag: 'agents',
  // A registration token is a credential of the tenant, handed out like its API keys: whoever may
  // manage the keys (the operator, who sets tenants up, the tenant's key, a tenant admin) may issue
  // one; the help desk may not. Not agents.manage, which the operator lacks: until issue 12 the
  // operator got 403 here and a tenant's first agent needed a tenant key made first.
  permission: 'keys.manage',
  idempotency: 'keyed',
  body: z.object({
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .optional(),
  }),
  bodyOptional: true,
  responses: {
    201: {
      description: 'Issued; `token` is shown only here',
      schema: z.object({ token: z.string(), expiresAt: z.string() }),
    },
  },
  errors: ['invalid_request', 'payload_too_large', 'unsupported_media_type'],
  async handle({ tenant, actor, body, services, clientIp }) {
    const t = await issueRegistrationToken(services, {
      tenantId: tenant.id,
      actor,
      clientIp,
      ttlSeconds: body.ttlSeconds ?? services.config.agentTokenTtlSeconds,
    });
    return { status: 201, body: { token: t.token, expiresAt: iso(t.expiresAt) } };
  },
});

export const registerAgentRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/agents/register',
  operationId: 'registerAgent',
  summary: 'Register an agent with a one-time token (the token is the credential)',
  description:
    'The agent generates its key pairs and sends only the public halves. A bad, used or expired token gets the same 401 invalid_token.',
  tag: 'agents',
  auth: 'none',
  idempotency: 'keyed',
  body: RegisterAgentSchema,
  responses: {
    201: {
      description: 'Registered',
      schema: z.object({
        agentId: z.string(),
        tenantId: z.string(),
        certificate: AgentCertificateSchema,
        cloudSigningKey: z.string(),
        relayUrl: z.string(),
        /** With several relays (RELAY_URLS): every relay the agent spreads its connections over, relayUrl first. */
        relayUrls: z.array(z.string()).optional(),
      }),
    },
  },
  errors: ['invalid_request', 'invalid_token', 'conflict', 'payload_too_large', 'unsupported_media_type'],
  async handle({ body, services, clientIp }) {
    return { status: 201, body: await registerAgentWithToken(services, body, clientIp) };
  },
});

const AgentView = z.object({
  agentId: z.string(),
  name: z.string(),
  directory: z.string(),
  agentVersion: z.string(),
  registeredAt: z.string(),
  lastSeenAt: z.string().nullable(),
  connected: z.boolean(),
  connections: z.number().int(),
  rttMs: z.number().nullable(),
  inFlight: z.number().int(),
  relayId: z.string().nullable(),
  /**
   * Whether the connected agent can reach its directory, as it last reported: `ok` false means
   * "connected, directory unreachable since `since`" (requests go to other agents). Null when not
   * connected or not reported (older agents).
   */
  directoryHealth: z
    .object({ ok: z.boolean(), since: z.string(), detail: z.string().optional() })
    .nullable()
    .describe('The directory as the agent last reported it; null when unknown'),
});

function agentBody(a: AgentViewOf): z.infer<typeof AgentView> {
  return {
    ...a,
    registeredAt: iso(a.registeredAt),
    lastSeenAt: isoOrNull(a.lastSeenAt),
    directoryHealth: a.directoryHealth ? { ...a.directoryHealth, since: iso(a.directoryHealth.since) } : null,
  };
}

export const listAgentsRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/agents',
  operationId: 'listAgents',
  summary: "The tenant's registered agents with live presence",
  tag: 'agents',
  permission: 'agents.read',
  responses: { 200: { description: 'Agents', schema: z.object({ agents: z.array(AgentView) }) } },
  async handle({ tenant, services }) {
    const { agents } = await listAgents(services, tenant.id);
    return { status: 200, body: { agents: agents.map(agentBody) } };
  },
});

export const revokeAgentRoute = defineTenantRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/agents/:agentId',
  operationId: 'revokeAgent',
  summary: 'Revoke an agent: refused by the relay from now on, its connections closed at once',
  tag: 'agents',
  permission: 'agents.manage',
  idempotency: 'keyed',
  params: z.object({ tenant: TenantRef, agentId: z.string().min(1).max(64) }),
  responses: { 204: { description: 'Revoked' } },
  async handle({ tenant, actor, params, services, clientIp }) {
    await revokeAgent(services, { tenantId: tenant.id, actor, clientIp, agentId: params.agentId });
    return { status: 204 };
  },
});
