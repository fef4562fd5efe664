/**
 * Admin operations on one directory user: reset the password, unlock, read the effective policy.
 * Each route parses, calls its use case (usecases/password-reset.ts, unlock.ts, policy.ts — the
 * same ones the admin pages call) and answers with the outcome's single HTTP status and a
 * plain-English message.
 */
import { z } from 'zod';
import { OUTCOME_HTTP_STATUS, PasswordSchema } from '@writeback/protocol';
import { canInTenant } from '../../auth/principal.js';
import { outcomeAnswer, OutcomeBodySchema } from '../../outcomes/http.js';
import type { Services } from '../../services.js';
import { resetPasswordAsAdmin } from '../../usecases/password-reset.js';
import { readPolicyAsAdmin } from '../../usecases/policy.js';
import { findTarget, type Target } from '../../usecases/target.js';
import { unlockAsAdmin } from '../../usecases/unlock.js';
import type { WriteAnswer } from '../../usecases/write.js';
import { responsesByStatus } from '../responses.js';
import type { ResponseDoc, RouteReply } from '../route.js';
import { UserParams } from '../schemas.js';
import { defineTenantRoute, type TenantRouteContext, type TenantRouteSpec } from '../tenant-route.js';

/** Every status a writeback answer can have, documented once for each writeback route. */
export function outcomeResponses(): Record<number, ResponseDoc> {
  return responsesByStatus(OUTCOME_HTTP_STATUS, OutcomeBodySchema);
}

const WRITEBACK_ERRORS = ['invalid_request', 'payload_too_large', 'unsupported_media_type'] as const;

/** The use case's answer as the API's body. */
export function answer(services: Services, a: WriteAnswer): RouteReply {
  return outcomeAnswer(a.result, a.requestId, {
    op: a.op,
    now: services.now(),
    ...(a.temporaryPassword !== undefined ? { temporaryPassword: a.temporaryPassword } : {}),
  });
}

type UserRef = z.infer<typeof UserParams>;

/**
 * A route acting on the directory user of the path (`:login`): the tenant route's checks, then the
 * target looked up (usecases/target.ts) before the use case `run`s; its answer is the reply, with
 * every status a writeback answer can have documented.
 */
function defineUserRoute<B = undefined>(
  spec: Omit<TenantRouteSpec<UserRef, Record<string, never>, B>, 'params' | 'responses' | 'errors' | 'handle'> & {
    run(ctx: TenantRouteContext<UserRef, Record<string, never>, B> & { target: Target }): Promise<WriteAnswer>;
  },
) {
  const { run, ...rest } = spec;
  return defineTenantRoute<UserRef, Record<string, never>, B>({
    ...rest,
    params: UserParams,
    responses: outcomeResponses(),
    errors: WRITEBACK_ERRORS,
    async handle(ctx) {
      const target = await findTarget(ctx.services, ctx.tenant.id, ctx.params.login);
      return answer(ctx.services, await run({ ...ctx, target }));
    },
  });
}

export const resetPasswordRoute = defineUserRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/password/reset',
  operationId: 'resetPassword',
  summary: "Reset a user's password (admin)",
  description:
    'Without `newPassword` the service reads the effective policy first, generates a strong password that meets it and returns it once as `temporaryPassword` (force change defaults to true then).',
  tag: 'users',
  permission: 'users.reset',
  idempotency: 'keyed',
  body: z.object({
    newPassword: PasswordSchema.min(1).optional(),
    forceChange: z.boolean().optional(),
    unlock: z.boolean().default(false),
    enforceHistory: z.boolean().default(true),
  }),
  bodyOptional: true,
  run: ({ tenant, principal, actor, target, body, services, clientIp }) =>
    resetPasswordAsAdmin(services, {
      tenant,
      actor,
      may: (perm) => canInTenant(principal, tenant.id, perm) === 'yes',
      target,
      clientIp,
      newPassword: body.newPassword,
      forceChange: body.forceChange,
      unlock: body.unlock,
      enforceHistory: body.enforceHistory,
    }),
});

export const unlockRoute = defineUserRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users/:login/unlock',
  operationId: 'unlockAccount',
  summary: "Unlock a user's account (admin)",
  tag: 'users',
  permission: 'users.unlock',
  idempotency: 'keyed',
  run: ({ tenant, actor, target, services, clientIp }) => unlockAsAdmin(services, { tenant, actor, target, clientIp }),
});

export const policyRoute = defineUserRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users/:login/policy',
  operationId: 'getEffectivePolicy',
  summary: 'The effective password policy for a user, as the directory enforces it',
  tag: 'users',
  permission: 'users.policy',
  run: ({ tenant, actor, target, services, clientIp }) =>
    readPolicyAsAdmin(services, { tenantId: tenant.id, actor, target, clientIp }),
});
