/**
 * Admin sign-in: login + password (+ the TOTP code once the admin has enrolled a factor on the
 * admin pages) → a short-lived session token usable as Bearer. Unknown tenant, unknown login,
 * wrong password and disabled account give the same answer after the same scrypt work. Failed
 * attempts are rate limited per login and per client IP. The second factor is checked here as on
 * the pages, with the same replay protection, so the API is no way around it.
 */
import { z } from 'zod';
import { checkAdminCode, getAdminTotp } from '../../auth/admin-totp.js';
import { ADMIN_ROLES, createSession, revokeSession, verifyAdminCredentials } from '../../auth/admins.js';
import { dummyPasswordHash, verifyPassword } from '../../auth/passwords.js';
import { CloudError } from '../../errors.js';
import { findTenant } from '../../tenants/tenants.js';
import { defineRoute } from '../route.js';
import { iso, TenantParams } from '../schemas.js';
import { checkRateLimit } from '../steps/check-rate-limit.js';

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
    password: z.string().min(1).max(256),
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
    const { limiters } = services;
    const release = checkRateLimit([
      [limiters.signInPerLogin, `${params.tenant}:${body.login.toLowerCase()}`],
      [limiters.signInPerIp, clientIp],
    ]);
    const tenant = await findTenant(services.db, params.tenant);
    let admin = null;
    if (tenant) admin = await verifyAdminCredentials(services.db, tenant.id, body.login, body.password);
    else await verifyPassword(body.password, await dummyPasswordHash());
    if (!tenant || !admin) {
      services.log.warn('admin sign-in failed', { tenant: params.tenant, clientIp });
      throw new CloudError('invalid_credentials', 'the login or password is not correct');
    }
    const factor = await getAdminTotp(services.db, admin.id);
    if (factor?.confirmed) {
      if (body.totp === undefined)
        throw new CloudError(
          'second_factor_required',
          'this admin signs in with an authenticator code: send it as totp',
        );
      const check = await checkAdminCode(
        services.db,
        services.cloudKey.privateKey,
        admin.id,
        body.totp,
        services.now(),
        { enrolling: false },
      );
      if (check !== 'ok') {
        services.log.warn('admin sign-in failed: second factor', { tenant: params.tenant, clientIp, check });
        throw new CloudError('invalid_credentials', 'the login, password or authenticator code is not correct');
      }
    }
    // Only failures count towards the limit.
    release();
    const session = await createSession(services.db, admin, services.config.sessionTtlSeconds * 1000, services.now());
    services.log.info('admin signed in', { tenantId: tenant.id, adminId: admin.id });
    return {
      status: 201,
      body: {
        token: session.token,
        expiresAt: iso(session.expiresAt),
        admin: { id: admin.id, login: admin.login, role: admin.role },
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
  params: TenantParams,
  responses: { 204: { description: 'Signed out' } },
  errors: ['unauthorized', 'forbidden'],
  async handle({ principal, services }) {
    if (principal?.kind !== 'admin') throw new CloudError('forbidden', 'only an admin session can be ended');
    await revokeSession(services.db, principal.sessionId, services.now());
    return { status: 204 };
  },
});
