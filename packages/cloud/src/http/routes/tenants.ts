/** Setting tenants up: tenants (operator), their API keys and admin accounts (operator or tenant admin). */
import { PasswordSchema } from '@writeback/protocol';
import { z } from 'zod';
import { actorOf } from '../../auth/principal.js';
import { ADMIN_ROLES } from '../../auth/admins.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKey } from '../../auth/api-keys.js';
import { CloudError } from '../../errors.js';
import { createTenant, listTenants, TenantSlugSchema, type Tenant } from '../../tenants/tenants.js';
import { defineRoute } from '../route.js';
import { iso, isoOrNull, TenantParams, TenantRef } from '../schemas.js';
import { checkOperator } from '../steps/check-auth.js';
import { loadTenantFor } from '../steps/load-tenant.js';
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

const AUTH_ERRORS = ['unauthorized', 'forbidden', 'not_found', 'invalid_request'] as const;

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

export const createApiKeyRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/api-keys',
  operationId: 'createTenantApiKey',
  summary: 'Create a tenant API key (shown once)',
  tag: 'operator',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
  body: z.object({ name: z.string().trim().min(1).max(100).default('api key') }),
  bodyOptional: true,
  responses: {
    201: { description: 'Created; `key` is shown only here', schema: ApiKeyView.extend({ key: z.string() }) },
  },
  errors: [...AUTH_ERRORS, 'payload_too_large', 'unsupported_media_type'],
  async handle({ principal, params, body, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'keys.manage');
    const { key, token } = await createApiKey(
      services.db,
      { scope: 'tenant', tenantId: tenant.id, name: body.name },
      services.now(),
    );
    services.log.info('tenant api key created', {
      tenantId: tenant.id,
      keyId: key.id,
      by: principal ? actorOf(principal) : null,
    });
    return { status: 201, body: { ...apiKeyView(key), key: token } };
  },
});

export const listApiKeysRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/api-keys',
  operationId: 'listTenantApiKeys',
  summary: "List a tenant's API keys (never the secrets)",
  tag: 'operator',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Keys', schema: z.object({ keys: z.array(ApiKeyView) }) } },
  errors: AUTH_ERRORS,
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'keys.manage');
    return { status: 200, body: { keys: (await listApiKeys(services.db, tenant.id)).map(apiKeyView) } };
  },
});

export const revokeApiKeyRoute = defineRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/api-keys/:keyId',
  operationId: 'revokeTenantApiKey',
  summary: 'Revoke a tenant API key',
  tag: 'operator',
  auth: 'bearer',
  idempotency: 'keyed',
  params: z.object({ tenant: TenantRef, keyId: z.string().regex(/^[0-9a-f]{16}$/) }),
  responses: { 204: { description: 'Revoked' } },
  errors: AUTH_ERRORS,
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'keys.manage');
    if (!(await revokeApiKey(services.db, tenant.id, params.keyId, services.now())))
      throw new CloudError('not_found', 'no such live key');
    services.log.info('tenant api key revoked', { tenantId: tenant.id, keyId: params.keyId });
    return { status: 204 };
  },
});

export const createAdminRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/admins',
  operationId: 'createAdmin',
  summary: 'Create a tenant admin account',
  description:
    'Audited (admin.admin.create). A login is unique in the tenant, removed accounts included (409 conflict). Until the new admin enrols an authenticator, an API session of it may only enrol (POST .../admin/second-factor).',
  tag: 'operator',
  auth: 'bearer',
  idempotency: 'keyed',
  params: TenantParams,
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
  errors: [...AUTH_ERRORS, 'conflict', 'payload_too_large', 'unsupported_media_type'],
  async handle({ principal, params, body, services, clientIp }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'admins.manage');
    const admin = await createTenantAdmin(services, {
      tenantId: tenant.id,
      actor: principal ? actorOf(principal) : { kind: 'system', id: 'unknown' },
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

export const resetAdminSecondFactorRoute = defineRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/admins/:adminId/second-factor',
  operationId: 'resetAdminSecondFactor',
  summary: "Remove an admin's authenticator (lost device)",
  description:
    'For an admin who lost the authenticator (operator key, tenant key or a tenant admin; not the help desk): the factor is removed and every session of that admin ends (API and pages). At the next sign-in with the password the admin enrols a new authenticator, so check who is asking before calling this.',
  tag: 'operator',
  auth: 'bearer',
  idempotency: 'keyed',
  params: z.object({ tenant: TenantRef, adminId: z.string().regex(/^adm-[0-9a-f]{16}$/) }),
  responses: { 204: { description: 'Removed; the sessions of the admin have ended' } },
  errors: AUTH_ERRORS,
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'admins.manage');
    await resetAdminSecondFactor(services, {
      tenantId: tenant.id,
      adminId: params.adminId,
      by: principal ? actorOf(principal) : null,
    });
    return { status: 204 };
  },
});
