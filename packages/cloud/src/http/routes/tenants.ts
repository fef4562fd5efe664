/** Setting tenants up: tenants (operator), their API keys and admin accounts (operator or tenant admin). */
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import { ADMIN_ROLES } from '../../auth/admins.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKey } from '../../auth/api-keys.js';
import { CloudError } from '../../errors.js';
import { createTenant, listTenants, TenantSlugSchema, type Tenant } from '../../tenants/tenants.js';
import { defineRoute } from '../route.js';
import { AdminIdParams, iso, isoOrNull, TenantRef } from '../schemas.js';
import { checkOperator } from '../steps/check-auth.js';
import { defineTenantRoute } from '../tenant-route.js';
import { resetAdminSecondFactor } from '../../usecases/admin-sign-in.js';
import { createTenantAdmin } from '../../usecases/admins.js';

const TenantView = z.object({ id: z.string(), slug: z.string(), name: z.string(), createdAt: z.string() });
const tenantView = (t: Tenant) => ({ id: t.id, slug: t.slug, name: t.name, createdAt: iso(t.createdAt) });

const ApiKeyView = z.object({
  id: z.string(),
  name: z.string(),
  scope: z.enum(['operator', 'tenant']),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const apiKeyView = (k: ApiKey) => ({
  id: k.id,
  name: k.name,
  scope: k.scope,
  createdAt: iso(k.createdAt),
  lastUsedAt: isoOrNull(k.lastUsedAt),
  revokedAt: isoOrNull(k.revokedAt),
});

export const createTenantRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants',
  operationId: 'createTenant',
  summary: 'Create a tenant (operator)',
  tag: 'operator',
  auth: 'bearer',
  idempotency: 'keyed',
  body: z.object({ slug: TenantSlugSchema, name: z.string().trim().min(1).max(200) }),
  responses: { 201: { description: 'Created', schema: TenantView } },
  errors: ['unauthorized', 'forbidden', 'invalid_request', 'conflict', 'payload_too_large', 'unsupported_media_type'],
  async handle({ principal, body, services }) {
    checkOperator(principal);
    const tenant = await createTenant(services.db, body, services.now());
    services.log.info('tenant created', { tenantId: tenant.id, slug: tenant.slug });
    return { status: 201, body: tenantView(tenant) };
  },
});

export const listTenantsRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants',
  operationId: 'listTenants',
  summary: 'List tenants (operator)',
  tag: 'operator',
  auth: 'bearer',
  responses: { 200: { description: 'Tenants', schema: z.object({ tenants: z.array(TenantView) }) } },
  errors: ['unauthorized', 'forbidden'],
  async handle({ principal, services }) {
    checkOperator(principal);
    return { status: 200, body: { tenants: (await listTenants(services.db)).map(tenantView) } };
  },
});

export const createApiKeyRoute = defineTenantRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/api-keys',
  operationId: 'createTenantApiKey',
  summary: 'Create a tenant API key (shown once)',
  tag: 'operator',
  permission: 'keys.manage',
  idempotency: 'keyed',
  body: z.object({ name: z.string().trim().min(1).max(100).default('api key') }),
  bodyOptional: true,
  responses: {
    201: { description: 'Created; `key` is shown only here', schema: ApiKeyView.extend({ key: z.string() }) },
  },
  errors: ['invalid_request', 'payload_too_large', 'unsupported_media_type'],
  async handle({ tenant, actor, body, services }) {
    const { key, token } = await createApiKey(
      services.db,
      { scope: 'tenant', tenantId: tenant.id, name: body.name },
      services.now(),
    );
    services.log.info('tenant api key created', {
      tenantId: tenant.id,
      keyId: key.id,
      by: actor,
    });
    return { status: 201, body: { ...apiKeyView(key), key: token } };
  },
});

export const listApiKeysRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/api-keys',
  operationId: 'listTenantApiKeys',
  summary: "List a tenant's API keys (never the secrets)",
  tag: 'operator',
  permission: 'keys.manage',
  responses: { 200: { description: 'Keys', schema: z.object({ keys: z.array(ApiKeyView) }) } },
  errors: ['invalid_request'],
  async handle({ tenant, services }) {
    return { status: 200, body: { keys: (await listApiKeys(services.db, tenant.id)).map(apiKeyView) } };
  },
});

export const revokeApiKeyRoute = defineTenantRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/api-keys/:keyId',
  operationId: 'revokeTenantApiKey',
  summary: 'Revoke a tenant API key',
  tag: 'operator',
  permission: 'keys.manage',
  idempotency: 'keyed',
  params: z.object({ tenant: TenantRef, keyId: z.string().regex(/^[0-9a-f]{16}$/) }),
  responses: { 204: { description: 'Revoked' } },
  errors: ['invalid_request'],
  async handle({ tenant, params, services }) {
    if (!(await revokeApiKey(services.db, tenant.id, params.keyId, services.now())))
      throw new CloudError('not_found', 'no such live key');
    services.log.info('tenant api key revoked', { tenantId: tenant.id, keyId: params.keyId });
    return { status: 204 };
  },
});

export const createAdminRoute = defineTenantRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admins',
  operationId: 'createAdmin',
  summary: 'Create a tenant admin account',
  description:
    'Audited (admin.admin.create). A login is unique in the tenant, removed accounts included (409 conflict). Until the new admin enrols an authenticator, an API session of it may only enrol (POST .../admin/second-factor).',
  tag: 'operator',
  permission: 'admins.manage',
  idempotency: 'keyed',
  body: z.object({
    login: z
      .string()
      .trim()
      .min(1)
      .max(128)
      .regex(/^[^\s]+$/, 'no spaces'),
    password: PasswordSchema.min(12),
    role: z.enum(ADMIN_ROLES).default('admin'),
  }),
  responses: {
    201: {
      description: 'Created',
      schema: z.object({ id: z.string(), login: z.string(), role: z.enum(ADMIN_ROLES), createdAt: z.string() }),
    },
  },
  errors: ['invalid_request', 'conflict', 'payload_too_large', 'unsupported_media_type'],
  async handle({ tenant, actor, body, services, clientIp }) {
    const admin = await createTenantAdmin(services, {
      tenantId: tenant.id,
      actor,
      clientIp,
      login: body.login,
      password: body.password,
      role: body.role,
    });
    return {
      status: 201,
      body: { id: admin.id, login: admin.login, role: admin.role, createdAt: iso(admin.createdAt) },
    };
  },
});

export const resetAdminSecondFactorRoute = defineTenantRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/admins/:adminId/second-factor',
  operationId: 'resetAdminSecondFactor',
  summary: "Remove an admin's authenticator (lost device)",
  description:
    'For an admin who lost the authenticator (operator key, tenant key or a tenant admin; not the help desk): the factor is removed and every session of that admin ends (API and pages). At the next sign-in with the password the admin enrols a new authenticator, so check who is asking before calling this.',
  tag: 'operator',
  permission: 'admins.manage',
  idempotency: 'keyed',
  params: AdminIdParams,
  responses: { 204: { description: 'Removed; the sessions of the admin have ended' } },
  errors: ['invalid_request'],
  async handle({ tenant, actor, params, services }) {
    await resetAdminSecondFactor(services, { tenantId: tenant.id, adminId: params.adminId, by: actor });
    return { status: 204 };
  },
});
