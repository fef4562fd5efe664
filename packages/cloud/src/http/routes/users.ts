/**
 * Admin operations on one directory user: reset the password, unlock, read the effective policy.
 * Each route parses, calls its use case (usecases/password-reset.ts, unlock.ts, policy.ts — the
 * same ones the admin pages call) and answers with the outcome's single HTTP status and a
 * plain-English message.
 */
import { z } from 'zod';
import { OUTCOME_HTTP_STATUS, PasswordSchema } from '@writeback/protocol';
import { actorOf, canInTenant, type Actor, type Principal } from '../../auth/principal.js';
import { outcomeAnswer, OutcomeBodySchema } from '../../outcomes/http.js';
import type { Services } from '../../services.js';
import { resetPasswordAsAdmin } from '../../usecases/password-reset.js';
import { readPolicyAsAdmin } from '../../usecases/policy.js';
import { findTarget } from '../../usecases/target.js';
import { unlockAsAdmin } from '../../usecases/unlock.js';
import type { WriteAnswer } from '../../usecases/write.js';
import { responsesByStatus } from '../responses.js';
import { defineRoute, type ResponseDoc, type RouteReply } from '../route.js';
import { UserParams } from '../schemas.js';
import { loadTenantFor } from '../steps/load-tenant.js';

/** Every status a writeback answer can have, documented once for each writeback route. */
export function outcomeResponses(): Record<number, ResponseDoc> {
  return responsesByStatus(OUTCOME_HTTP_STATUS, OutcomeBodySchema);
}

const WRITEBACK_ERRORS = [
  'unauthorized',
  'forbidden',
  'not_found',
  'invalid_request',
  'payload_too_large',
  'unsupported_media_type',
] as const;

const actor = (p: Principal | null): Actor => (p ? actorOf(p) : { kind: 'system', id: 'unknown' });

/** The use case's answer as the API's body. */
export function answer(services: Services, a: WriteAnswer): RouteReply {
  return outcomeAnswer(a.result, a.requestId, {
    op: a.op,
    now: services.now(),
    ...(a.temporaryPassword !== undefined ? { temporaryPassword: a.temporaryPassword } : {}),
  });
}

export const resetPasswordRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/password/reset',
  operationId: 'resetPassword',
  summary: "Reset a user's password (admin)",
  description:
    'Without `newPassword` the service reads the effective policy first, generates a strong password that meets it and returns it once as `temporaryPassword` (force change defaults to true then).',
  tag: 'users',
  auth: 'bearer',
  idempotency: 'keyed',
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
    return answer(
      services,
      await resetPasswordAsAdmin(services, {
        tenant,
        actor: actor(principal),
        may: (perm) => principal !== null && canInTenant(principal, tenant.id, perm) === 'yes',
        target: await findTarget(services, tenant.id, params.login),
        clientIp,
        newPassword: body.newPassword,
        forceChange: body.forceChange,
        unlock: body.unlock,
        enforceHistory: body.enforceHistory,
      }),
    );
  },
});

export const unlockRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/unlock',
  operationId: 'unlockAccount',
  summary: "Unlock a user's account (admin)",
  tag: 'users',
  auth: 'bearer',
  idempotency: 'keyed',
  params: UserParams,
  responses: outcomeResponses(),
  errors: WRITEBACK_ERRORS,
  async handle({ principal, params, services, clientIp }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.unlock');
    const target = await findTarget(services, tenant.id, params.login);
    return answer(services, await unlockAsAdmin(services, { tenant, actor: actor(principal), target, clientIp }));
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
    const target = await findTarget(services, tenant.id, params.login);
    return answer(
      services,
      await readPolicyAsAdmin(services, { tenantId: tenant.id, actor: actor(principal), target, clientIp }),
    );
  },
});
