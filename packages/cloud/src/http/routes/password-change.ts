/**
 * Self-service password change: unauthenticated, because the directory checks the current
 * password in the same write that sets the new one. That makes it a password-guessing oracle, so
 * it is rate limited per user and per client IP; an attempt counts when it tested the current
 * password (wrong_current_password, succeeded) or may have (timeout, outcome_unknown), or probed
 * for a user (user_not_found). Attempts refused before reaching the directory are not counted.
 */
import { z } from 'zod';
import { MAX_USER_REF_LENGTH, PasswordSchema, type OutcomeCode } from '@writeback/protocol';
import { outcomeAnswer } from '../../outcomes/http.js';
import { defineRoute } from '../route.js';
import { TenantParams } from '../schemas.js';
import { checkRateLimit } from '../steps/check-rate-limit.js';
import { loadTenant } from '../steps/load-tenant.js';
import { outcomeResponses } from './users.js';

const COUNTED: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'succeeded',
  'wrong_current_password',
  'user_not_found',
  'timeout',
  'outcome_unknown',
]);

export const changePasswordRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/password/change',
  operationId: 'changePassword',
  summary: 'Change your own password (current + new)',
  description: 'Unauthenticated; rate limited per user and per client IP (429 rate_limited with Retry-After).',
  tag: 'self-service',
  auth: 'none',
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
    const { limiters } = services;
    const release = checkRateLimit([
      [limiters.changePerUser, `${tenant.id}:${body.username.normalize('NFC').toLowerCase()}`],
      [limiters.changePerIp, clientIp],
    ]);
    let counted = true;
    try {
      const r = await services.writeback.executeOperation({
        tenantId: tenant.id,
        request: {
          op: 'password.change',
          params: { user: { by: 'login', value: body.username } },
          secret: { currentPassword: body.currentPassword, newPassword: body.newPassword },
        },
        actor: { kind: 'user', id: body.username },
        target: body.username,
        clientIp,
      });
      counted = COUNTED.has(r.result.outcome);
      return outcomeAnswer(r.result, r.requestId, { op: 'password.change', now: services.now() });
    } finally {
      if (!counted) release();
    }
  },
});
