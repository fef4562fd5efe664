/**
 * Self-service password change: unauthenticated, because the directory checks the current
 * password in the same write that sets the new one. The use case (usecases/password-change.ts,
 * shared with the My Account page) owns the common-password check, the attempt budgets (per
 * account and per client IP: 429 rate_limited with Retry-After) and the notification.
 */
import { z } from 'zod';
import { MAX_USER_REF_LENGTH, PasswordSchema } from '@writeback/protocol';
import { changeOwnPassword } from '../../usecases/password-change.js';
import { defineRoute } from '../route.js';
import { TenantParams } from '../schemas.js';
import { loadTenant } from '../steps/load-tenant.js';
import { answer, outcomeResponses } from './users.js';

export const changePasswordRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/password/change',
  operationId: 'changePassword',
  summary: 'Change your own password (current + new)',
  description: 'Unauthenticated; rate limited per user and per client IP (429 rate_limited with Retry-After).',
  tag: 'self-service',
  auth: 'none',
  idempotency: 'keyed',
  params: TenantParams,
  body: z.object({
    username: z.string().min(1).max(MAX_USER_REF_LENGTH),
    currentPassword: PasswordSchema.min(1),
    newPassword: PasswordSchema.min(1),
  }),
  responses: outcomeResponses(),
  errors: ['invalid_request', 'not_found', 'rate_limited', 'payload_too_large', 'unsupported_media_type'],
  async handle({ params, body, services, clientIp }) {
    const tenant = await loadTenant(services, params.tenant);
    const a = await changeOwnPassword(services, {
      tenantId: tenant.id,
      user: body.username,
      currentPassword: body.currentPassword,
      newPassword: body.newPassword,
      clientIp,
    });
    return answer(services, a);
  },
});
