/** The tenant settings (usecases/settings.ts, shared with the admin pages' settings page). */
import { z } from 'zod';
import { CloudError } from '../../errors.js';
import { TenantSettingsSchema } from '../../tenants/settings.js';
import { readSettings, updateSettings } from '../../usecases/settings.js';
import { defineTenantRoute } from '../tenant-route.js';

export const getSettingsRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/settings',
  operationId: 'getTenantSettings',
  summary:
    'Tenant settings: sign-in mode, sync cadence and mass-delete guard, self-service, password-expiry reminders (admins only)',
  tag: 'tenants',
  permission: 'settings.manage',
  responses: { 200: { description: 'The settings', schema: TenantSettingsSchema } },
  async handle({ tenant, services }) {
    return { status: 200, body: await readSettings(services, tenant.id) };
  },
});

const Section = z.record(z.string(), z.unknown());

export const patchSettingsRoute = defineTenantRoute({
  method: 'PATCH',
  url: '/api/v1/tenants/:tenant/settings',
  operationId: 'updateTenantSettings',
  summary: 'Change some tenant settings (nested objects merge, arrays are replaced)',
  tag: 'tenants',
  permission: 'settings.manage',
  idempotency: 'keyed',
  body: z
    .object({
      signIn: Section.optional(),
      sync: Section.optional(),
      sspr: Section.optional(),
      expiry: Section.optional(),
    })
    .strict(),
  responses: { 200: { description: 'The settings after the change', schema: TenantSettingsSchema } },
  errors: ['invalid_request'],
  async handle({ tenant, actor, body, services, clientIp }) {
    const r = await updateSettings(services, { tenantId: tenant.id, actor, clientIp, patch: body });
    if (!r.ok) throw new CloudError('invalid_request', 'invalid tenant settings', { details: r.problems });
    return { status: 200, body: r.settings };
  },
});
