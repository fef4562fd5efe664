/**
 * A route on one tenant (`/api/v1/tenants/:tenant/...`), declared once like every route
 * (route.ts) with what all of them share said by the declaration instead of by each handler: a
 * Bearer credential, the `:tenant` loaded and the caller's `permission` in it checked
 * (steps/load-tenant.ts: a foreign tenant is the same 404 as a missing one) before the handler runs,
 * and the errors that step can give documented. The handler gets the tenant and the caller as the
 * audit's actor, then parses nothing more than its own input and calls its use case (better-auth's
 * `createAuthEndpoint` with its `use` middleware is the model).
 */
import type { z } from 'zod';
import { actorOf, type Actor, type Principal, type TenantPermission } from '../auth/principal.js';
import type { CloudErrorCode } from '../errors.js';
import type { Tenant } from '../tenants/tenants.js';
import { defineRoute, type Route, type RouteContext, type RouteReply, type RouteSpec } from './route.js';
import { TenantParams } from './schemas.js';
import { requirePrincipal } from './steps/check-auth.js';
import { loadTenantFor } from './steps/load-tenant.js';

/** What loading the tenant may answer: no credential, not allowed, no such tenant (or another tenant's). */
const TENANT_ERRORS: readonly CloudErrorCode[] = ['unauthorized', 'forbidden', 'not_found'];

export interface TenantRouteContext<P, Q, B> extends Omit<RouteContext<P, Q, B>, 'principal'> {
  /** The caller, allowed `permission` in the tenant. */
  principal: Principal;
  /** Who acts, as the audit records it. */
  actor: Actor;
  tenant: Tenant;
}

export interface TenantRouteSpec<P extends { tenant: string }, Q, B>
  extends Omit<RouteSpec<P, Q, B>, 'auth' | 'params' | 'errors' | 'handle'> {
  /** What the caller must be allowed in the tenant of the path. */
  permission: TenantPermission;
  /** The path's parameters; `{ tenant }` (TenantParams) when the path has no other. */
  params?: z.ZodType<P>;
  /** Error codes of the route's own (those of loading the tenant are added). */
  errors?: readonly CloudErrorCode[];
  handle(ctx: TenantRouteContext<P, Q, B>): Promise<RouteReply>;
}

export function defineTenantRoute<
  P extends { tenant: string } = z.infer<typeof TenantParams>,
  Q = Record<string, never>,
  B = undefined,
>(spec: TenantRouteSpec<P, Q, B>): Route {
  const { permission, handle, params, errors = [], ...rest } = spec;
  return defineRoute<P, Q, B>({
    ...rest,
    auth: 'bearer',
    // Without its own params the path is `/api/v1/tenants/:tenant/...` and P keeps its default.
    params: params ?? (TenantParams as z.ZodType<P>),
    errors: [...TENANT_ERRORS, ...errors.filter((c) => !TENANT_ERRORS.includes(c))],
    async handle(ctx) {
      const principal = requirePrincipal(ctx.principal);
      const tenant = await loadTenantFor(ctx.services, principal, ctx.params.tenant, permission);
      return handle({ ...ctx, principal, actor: actorOf(principal), tenant });
    },
  });
}
