/** The tenant settings (usecases/settings.ts, shared with the admin pages' settings page). */
import { z } from 'zod';
import { actorOf } from '../../auth/principal.js';
import { CloudError } from '../../errors.js';
import { TenantSettingsSchema } from '../../tenants/settings.js';
import { readSettings, updateSettings } from '../../usecases/settings.js';
import { defineRoute } from '../route.js';
import { TenantParams } from '../schemas.js';
import { loadTenantFor } from '../steps/load-tenant.js';

export const getSettingsRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/settings',
  operationId: 'getTenantSettings',
  summary: 'Tenant settings: sign-in mode, sync cadence and mass-delete guard, self-service (admins only)',
  tag: 'tenants',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'The settings', schema: TenantSettingsSchema } },
  errors: ['unauthorized', 'forbidden', 'not_found'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'settings.manage');
    return { status: 200, body: await readSettings(services, tenant.id) };
  },
});

const Section = z.record(z.string(), z.unknown());

export const patchSettingsRoute = defineRoute({
  method: 'PATCH',
  url: '/api/v1/tenants/:tenant/settings',
  operationId: 'updateTenantSettings',
  summary: 'Change some tenant settings (nested objects merge, arrays are replaced)',
  tag: 'tenants',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
  body: z.object({ signIn: Section.optional(), sync: Section.optional(), sspr: Section.optional() }).strict(),
  responses: { 200: { description: 'The settings after the change', schema: TenantSettingsSchema } },
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request'],
  async handle({ principal, params, body, services, clientIp }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'settings.manage');
    const actor = principal ? actorOf(principal) : { kind: 'system' as const, id: 'unknown' };
    const r = await updateSettings(services, { tenantId: tenant.id, actor, clientIp, patch: body });
    if (!r.ok) throw new CloudError('invalid_request', 'invalid tenant settings', { details: r.problems });
    return { status: 200, body: r.settings };
  },
});
