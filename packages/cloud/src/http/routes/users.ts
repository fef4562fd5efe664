/**
 * Admin operations on one directory user: reset the password, unlock, read the effective policy.
 * Each is one (or, for a generated reset, two) synchronous writeback requests; the answer carries
 * the outcome's single HTTP status and a plain-English message.
 */
import { z } from 'zod';
import { OUTCOME_HTTP_STATUS, PasswordSchema, type OperationRequest, type UserRef } from '@writeback/protocol';
import { actorOf } from '../../auth/principal.js';
import { outcomeAnswer, OutcomeBodySchema } from '../../outcomes/http.js';
import { generatePassword } from '../../writeback/password-generator.js';
import type { Services } from '../../services.js';
import { defineRoute, type ResponseDoc, type RouteReply } from '../route.js';
import { UserParams } from '../schemas.js';
import { loadTenantFor } from '../steps/load-tenant.js';
import type { Principal } from '../../auth/principal.js';

/** Every status a writeback answer can have, documented once for each writeback route. */
export function outcomeResponses(): Record<number, ResponseDoc> {
  const byStatus = new Map<number, string[]>();
  for (const [code, status] of Object.entries(OUTCOME_HTTP_STATUS))
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  const out: Record<number, ResponseDoc> = {};
  for (const [status, codes] of byStatus)
    out[status] = { description: `Outcome: ${codes.join(', ')}`, schema: OutcomeBodySchema };
  return out;
}

const WRITEBACK_ERRORS = [
  'unauthorized',
  'forbidden',
  'not_found',
  'invalid_request',
  'payload_too_large',
  'unsupported_media_type',
] as const;

interface Call {
  services: Services;
  principal: Principal | null;
  tenantId: string;
  login: string;
  clientIp: string;
}

async function execute(c: Call, request: OperationRequest) {
  return c.services.writeback.executeOperation({
    tenantId: c.tenantId,
    request,
    actor: c.principal ? actorOf(c.principal) : { kind: 'system', id: 'unknown' },
    target: c.login,
    clientIp: c.clientIp,
  });
}

const userRef = (login: string): UserRef => ({ by: 'login', value: login });

export const resetPasswordRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/password/reset',
  operationId: 'resetPassword',
  summary: "Reset a user's password (admin)",
  description:
    'Without `newPassword` the service reads the effective policy first, generates a strong password that meets it and returns it once as `temporaryPassword` (force change defaults to true then).',
  tag: 'users',
  auth: 'bearer',
  params: UserParams,
  body: z.object({
    newPassword: PasswordSchema.min(1).optional(),
    forceChange: z.boolean().optional(),
    unlock: z.boolean().default(false),
    enforceHistory: z.boolean().default(true),
  }),
  bodyOptional: true,
  responses: outcomeResponses(),
  errors: WRITEBACK_ERRORS,
  async handle({ principal, params, body, services, clientIp }): Promise<RouteReply> {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.reset');
    const call: Call = { services, principal, tenantId: tenant.id, login: params.login, clientIp };
    let newPassword = body.newPassword;
    const generated = newPassword === undefined;
    if (newPassword === undefined) {
      // The generated password must pass the directory's own policy, so read it first.
      const policy = await execute(call, { op: 'policy.get', params: { user: userRef(params.login) } });
      if (policy.result.outcome !== 'succeeded')
        return outcomeAnswer(policy.result, policy.requestId, { op: 'policy.get', now: services.now() });
      newPassword = generatePassword(policy.result.policy, params.login);
    }
    const forceChange = body.forceChange ?? generated;
    const r = await execute(call, {
      op: 'password.reset',
      params: { user: userRef(params.login), forceChange, unlock: body.unlock, enforceHistory: body.enforceHistory },
      secret: { newPassword },
    });
    return outcomeAnswer(r.result, r.requestId, {
      op: 'password.reset',
      now: services.now(),
      ...(generated ? { temporaryPassword: newPassword } : {}),
    });
  },
});

export const unlockRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/unlock',
  operationId: 'unlockAccount',
  summary: "Unlock a user's account (admin)",
  tag: 'users',
  auth: 'bearer',
  params: UserParams,
  responses: outcomeResponses(),
  errors: WRITEBACK_ERRORS,
  async handle({ principal, params, services, clientIp }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.unlock');
    const r = await execute(
      { services, principal, tenantId: tenant.id, login: params.login, clientIp },
      { op: 'account.unlock', params: { user: userRef(params.login) } },
    );
    return outcomeAnswer(r.result, r.requestId, { op: 'account.unlock', now: services.now() });
  },
});

export const policyRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users/:login/policy',
  operationId: 'getEffectivePolicy',
  summary: 'The effective password policy for a user, as the directory enforces it',
  tag: 'users',
  auth: 'bearer',
  params: UserParams,
  responses: outcomeResponses(),
  errors: WRITEBACK_ERRORS,
  async handle({ principal, params, services, clientIp }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.policy');
    const r = await execute(
      { services, principal, tenantId: tenant.id, login: params.login, clientIp },
      { op: 'policy.get', params: { user: userRef(params.login) } },
    );
    return outcomeAnswer(r.result, r.requestId, { op: 'policy.get', now: services.now() });
  },
});
