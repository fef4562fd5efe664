/**
 * Admin sign-in: login + password (+ the TOTP code once the admin has enrolled a factor, on the
 * admin pages or through the API) → a short-lived session token usable as Bearer. Until the admin
 * has enrolled, the session may only enrol (POST .../admin/second-factor, then .../confirm) or sign
 * out: every other route answers 403 second_factor_enrolment_required (http/steps/check-auth.ts).
 * Unknown tenant, unknown login, wrong password and disabled account give the same answer after
 * the same scrypt work. The use
 * case (usecases/admin-sign-in.ts) is the pages' too: one attempt budget per admin login in the
 * tenant however the tenant is spelled, the same second factor with the same replay protection.
 */
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import { ADMIN_ROLES, revokeSession } from '../../auth/admins.js';
import { CloudError } from '../../errors.js';
import type { Principal } from '../../auth/principal.js';
import type { Services } from '../../services.js';
import { beginAdminApiEnrolment, confirmAdminApiEnrolment, signInAdminForToken } from '../../usecases/admin-sign-in.js';
import { defineRoute } from '../route.js';
import { iso, TenantParams } from '../schemas.js';
import { loadTenant } from '../steps/load-tenant.js';

export const signInRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admin/sessions',
  operationId: 'adminSignIn',
  summary: 'Sign an admin in; returns a short-lived Bearer session token',
  tag: 'admin',
  auth: 'none',
  idempotency: {
    none: 'sign-in is not a write: it checks a password and issues a new session; a retry signs in again, on the sign-in limits',
  },
  params: TenantParams,
  body: z.object({
    login: z.string().min(1).max(128),
    password: PasswordSchema.min(1),
    totp: z
      .string()
      .regex(/^\d{6}$/)
      .optional(),
  }),
  responses: {
    201: {
      description: 'Signed in; `token` is shown only here',
      schema: z.object({
        token: z.string(),
        expiresAt: z.string(),
        admin: z.object({ id: z.string(), login: z.string(), role: z.enum(ADMIN_ROLES) }),
        secondFactor: z
          .enum(['active', 'enrolment_required'])
          .describe('enrolment_required: this session may only enrol an authenticator (or sign out)'),
      }),
    },
  },
  errors: [
    'invalid_request',
    'invalid_credentials',
    'second_factor_required',
    'rate_limited',
    'payload_too_large',
    'unsupported_media_type',
  ],
  async handle({ params, body, services, clientIp }) {
    const { admin, token, expiresAt, enrolOnly } = await signInAdminForToken(services, {
      tenantRef: params.tenant,
      login: body.login,
      password: body.password,
      totp: body.totp,
      clientIp,
    });
    return {
      status: 201,
      body: {
        token,
        expiresAt: iso(expiresAt),
        admin: { id: admin.id, login: admin.login, role: admin.role },
        secondFactor: enrolOnly ? 'enrolment_required' : 'active',
      },
    };
  },
});

export const signOutRoute = defineRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/admin/sessions/current',
  operationId: 'adminSignOut',
  summary: 'End the calling admin session',
  tag: 'admin',
  auth: 'bearer',
  idempotency: {
    none: 'the session it ends is its credential: once it has ended, a retry is answered 401 unauthorized, which says the same',
  },
  enrolOnlySessions: 'allowed',
  params: TenantParams,
  responses: { 204: { description: 'Signed out' } },
  errors: ['unauthorized', 'forbidden'],
  async handle({ principal, services }) {
    if (principal?.kind !== 'admin') throw new CloudError('forbidden', 'only an admin session can be ended');
    await revokeSession(services.db, principal.sessionId, services.now());
    return { status: 204 };
  },
});

/** The calling admin session's admin, in the tenant of the path (another tenant's path: 404). */
async function sessionAdmin(services: Services, principal: Principal | null, ref: string) {
  if (principal?.kind !== 'admin')
    throw new CloudError('forbidden', 'only an admin session enrols its own authenticator');
  const tenant = await loadTenant(services, ref);
  if (tenant.id !== principal.tenantId) throw new CloudError('not_found', 'no such tenant');
  return { tenant, admin: { id: principal.adminId, login: principal.login } };
}

const ENROL_ERRORS = ['unauthorized', 'forbidden', 'not_found', 'conflict'] as const;

export const beginEnrolmentRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admin/second-factor',
  operationId: 'adminBeginSecondFactorEnrolment',
  summary: "Start enrolling the calling admin's authenticator; returns its key once",
  description:
    'For an admin without an authenticator (the session from sign-in says secondFactor: enrolment_required, and may do nothing else). Returns a new TOTP key (RFC 6238, SHA-1, 6 digits, 30 s) and its otpauth URI, shown only here; calling again replaces a key not yet confirmed. 409 conflict when the admin has an authenticator already.',
  tag: 'admin',
  auth: 'bearer',
  idempotency: 'keyed',
  enrolOnlySessions: 'allowed',
  params: TenantParams,
  responses: {
    201: {
      description: 'Enrolment started; confirm it with a first code',
      schema: z.object({ secret: z.string(), otpauthUri: z.string() }),
    },
  },
  errors: ENROL_ERRORS,
  async handle({ principal, params, services }) {
    const who = await sessionAdmin(services, principal, params.tenant);
    return { status: 201, body: await beginAdminApiEnrolment(services, who) };
  },
});

export const confirmEnrolmentRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admin/second-factor/confirm',
  operationId: 'adminConfirmSecondFactorEnrolment',
  summary: "Confirm the calling admin's new authenticator with its first code",
  description:
    'After this the same session (and every session of the admin) has its full rights, and the next sign-in asks for a code. A wrong code is totp_invalid, a code used already totp_replayed; both count towards the admin sign-in limit (then 429 rate_limited). 409 conflict when no enrolment is under way.',
  tag: 'admin',
  auth: 'bearer',
  idempotency: 'keyed',
  enrolOnlySessions: 'allowed',
  params: TenantParams,
  body: z.object({ code: z.string().regex(/^\d{6}$/) }),
  responses: { 204: { description: 'Enrolled; the session is full' } },
  errors: [
    ...ENROL_ERRORS,
    'invalid_request',
    'totp_invalid',
    'totp_replayed',
    'rate_limited',
    'payload_too_large',
    'unsupported_media_type',
  ],
  async handle({ principal, params, body, services, clientIp }) {
    const who = await sessionAdmin(services, principal, params.tenant);
    await confirmAdminApiEnrolment(services, { ...who, code: body.code, clientIp });
    return { status: 204 };
  },
});
