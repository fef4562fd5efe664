/** Agents: registration tokens, registration itself, the agent list with live presence, revocation. */
import { z } from 'zod';
import { AgentCertificateSchema } from '@writeback/protocol';
import { actorOf } from '../../auth/principal.js';
import { issueAgentToken } from '../../agents/tokens.js';
import { listTenantAgents, registerAgent, RegisterAgentSchema, revokeAgent } from '../../agents/registry.js';
import { CloudError } from '../../errors.js';
import { defineRoute } from '../route.js';
import { iso, isoOrNull, TenantParams, TenantRef } from '../schemas.js';
import { loadTenantFor } from '../steps/load-tenant.js';

export const issueAgentTokenRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/agent-tokens',
  operationId: 'issueAgentToken',
  summary: 'Issue a one-time agent registration token (shown once)',
  tag: 'agents',
  auth: 'bearer',
  params: TenantParams,
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
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request', 'payload_too_large', 'unsupported_media_type'],
  async handle({ principal, params, body, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'agents.manage');
    const actor = principal ? actorOf(principal) : { kind: 'system', id: 'unknown' };
    const ttlMs = (body.ttlSeconds ?? services.config.agentTokenTtlSeconds) * 1000;
    const t = await issueAgentToken(
      services.db,
      { tenantId: tenant.id, createdBy: `${actor.kind}:${actor.id}`, ttlMs },
      services.now(),
    );
    services.log.info('agent registration token issued', { tenantId: tenant.id, tokenId: t.id });
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
      }),
    },
  },
  errors: ['invalid_request', 'invalid_token', 'conflict', 'payload_too_large', 'unsupported_media_type'],
  async handle({ body, services, clientIp }) {
    try {
      const reg = await registerAgent(services.db, body, services.cloudKey, services.now());
      services.log.info('agent registered', {
        tenantId: reg.tenantId,
        agentId: reg.agentId,
        directory: body.directory,
        agentVersion: body.agentVersion,
      });
      return { status: 201, body: { ...reg, relayUrl: services.relayUrl() } };
    } catch (err) {
      if (err instanceof CloudError && err.code === 'invalid_token')
        services.log.warn('agent registration refused', { clientIp });
      throw err;
    }
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
});

export const listAgentsRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/agents',
  operationId: 'listAgents',
  summary: "The tenant's registered agents with live presence",
  tag: 'agents',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Agents', schema: z.object({ agents: z.array(AgentView) }) } },
  errors: ['unauthorized', 'forbidden', 'not_found'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'agents.read');
    const [registered, presence] = await Promise.all([
      listTenantAgents(services.db, tenant.id),
      services.relay.listAgents(tenant.id).catch((err: unknown) => {
        services.log.error('relay presence failed', { err });
        return [];
      }),
    ]);
    const live = new Map(presence.filter((p) => p.tenantId === tenant.id).map((p) => [p.agentId, p]));
    const agents = registered.map((a) => {
      const p = live.get(a.id);
      const lastSeen = Math.max(a.lastSeenAt ?? 0, p?.lastSeenAt ?? 0);
      return {
        agentId: a.id,
        name: a.name,
        directory: p?.directory ?? a.directory,
        agentVersion: p?.agentVersion ?? a.version,
        registeredAt: iso(a.registeredAt),
        lastSeenAt: lastSeen > 0 ? iso(lastSeen) : null,
        connected: (p?.connections ?? 0) > 0,
        connections: p?.connections ?? 0,
        rttMs: p?.rttMs ?? null,
        inFlight: p?.inFlight ?? 0,
        relayId: p?.relayId ?? null,
      };
    });
    return { status: 200, body: { agents } };
  },
});

export const revokeAgentRoute = defineRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/agents/:agentId',
  operationId: 'revokeAgent',
  summary: 'Revoke an agent: refused by the relay from now on, its connections closed at once',
  tag: 'agents',
  auth: 'bearer',
  params: z.object({ tenant: TenantRef, agentId: z.string().min(1).max(64) }),
  responses: { 204: { description: 'Revoked' } },
  errors: ['unauthorized', 'forbidden', 'not_found'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'agents.manage');
    if (!(await revokeAgent(services.db, tenant.id, params.agentId, services.now())))
      throw new CloudError('not_found', 'no such agent');
    // The store is the truth (the gate reads it); cutting live connections is best effort on top.
    try {
      await services.relay.revoke(params.agentId);
    } catch (err) {
      services.log.error('relay revoke failed; the gate still refuses the agent on reconnect', {
        agentId: params.agentId,
        err,
      });
    }
    services.log.info('agent revoked', { tenantId: tenant.id, agentId: params.agentId, at: isoOrNull(services.now()) });
    return { status: 204 };
  },
});
