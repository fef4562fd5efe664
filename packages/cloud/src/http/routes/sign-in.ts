/**
 * End-user sign-in through the API: the use case (usecases/user-sign-in.ts, shared with the sign-in
 * page) decides; the route maps its outcome onto one HTTP status each.
 */
import { z } from 'zod';
import { MAX_USER_REF_LENGTH, PasswordSchema } from '@writeback/protocol';
import { SIGN_IN_OUTCOMES, signInUser, type SignInOutcome } from '../../usecases/user-sign-in.js';
import { responsesByStatus } from '../responses.js';
import { defineRoute } from '../route.js';
import { TenantParams } from '../schemas.js';
import { loadTenant } from '../steps/load-tenant.js';

const SIGN_IN_STATUS: Record<SignInOutcome, number> = {
  succeeded: 200,
  must_change: 200,
  password_expired: 200,
  invalid_credentials: 401,
  account_locked: 403,
  account_disabled: 403,
  rate_limited: 429,
  agent_unavailable: 503,
  directory_unavailable: 503,
  timeout: 504,
};

const SignInBody = z.object({
  outcome: z.enum(SIGN_IN_OUTCOMES),
  via: z.enum(['cloud_hash', 'pass_through']).nullable(),
  requestId: z.string().optional(),
  user: z.object({ id: z.string(), login: z.string(), displayName: z.string().nullable() }).optional(),
});

export const userSignInRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sign-in',
  operationId: 'signInUser',
  summary: "Check a user's login and password (cloud hash or pass-through, per the tenant's settings)",
  description:
    'Makes no session. must_change / password_expired: the password is right but must be changed now (POST /password/change with it as the current one). Rate limited per login and per client IP (429 with Retry-After).',
  tag: 'self-service',
  auth: 'none',
  idempotency: {
    none: 'sign-in is not a write: it checks a password; a retry checks it again, on the sign-in limits',
  },
  params: TenantParams,
  body: z.object({ login: z.string().min(1).max(MAX_USER_REF_LENGTH), password: PasswordSchema.min(1) }),
  responses: responsesByStatus(SIGN_IN_STATUS, SignInBody),
  errors: ['invalid_request', 'not_found', 'payload_too_large', 'unsupported_media_type'],
  async handle({ params, body, services, clientIp }) {
    const tenant = await loadTenant(services, params.tenant);
    const r = await signInUser(services, { tenantId: tenant.id, login: body.login, password: body.password, clientIp });
    const ok = r.outcome === 'succeeded' || r.outcome === 'must_change' || r.outcome === 'password_expired';
    return {
      status: SIGN_IN_STATUS[r.outcome],
      body: {
        outcome: r.outcome,
        via: r.via,
        ...(r.requestId ? { requestId: r.requestId } : {}),
        ...(ok && r.user ? { user: { id: r.user.id, login: r.user.login, displayName: r.user.displayName } } : {}),
      },
      ...(r.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(r.retryAfterSeconds) } } : {}),
    };
  },
});
