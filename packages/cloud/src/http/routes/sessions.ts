/**
 * Admin sign-in: login + password (+ the TOTP code once the admin has enrolled a factor on the
 * admin pages) → a short-lived session token usable as Bearer. Unknown tenant, unknown login,
 * wrong password and disabled account give the same answer after the same scrypt work. The use
 * case (usecases/admin-sign-in.ts) is the pages' too: one attempt budget per admin login in the
 * tenant however the tenant is spelled, the same second factor with the same replay protection.
 */
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import { ADMIN_ROLES, revokeSession } from '../../auth/admins.js';
import { CloudError } from '../../errors.js';
import { signInAdminForToken } from '../../usecases/admin-sign-in.js';
import { defineRoute } from '../route.js';
import { iso, TenantParams } from '../schemas.js';

export const signInRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admin/sessions',
  operationId: 'adminSignIn',
  summary: 'Sign an admin in; returns a short-lived Bearer session token',
  tag: 'admin',
  auth: 'none',
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
    const { admin, token, expiresAt } = await signInAdminForToken(services, {
      tenantRef: params.tenant,
      login: body.login,
      password: body.password,
      totp: body.totp,
      clientIp,
    });
    return {
      status: 201,
      body: { token, expiresAt: iso(expiresAt), admin: { id: admin.id, login: admin.login, role: admin.role } },
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
  params: TenantParams,
  responses: { 204: { description: 'Signed out' } },
  errors: ['unauthorized', 'forbidden'],
  async handle({ principal, services }) {
    if (principal?.kind !== 'admin') throw new CloudError('forbidden', 'only an admin session can be ended');
    await revokeSession(services.db, principal.sessionId, services.now());
    return { status: 204 };
  },
});
