/**
 * A tenant's admin accounts after creation (issue 10, admin lifecycle): list, change the role,
 * disable or enable, remove. The operator key, the tenant's key or a tenant admin (`admins.manage`;
 * the help desk gets 403). The rules (never the last enabled admin, sessions ended, audit) are the
 * use case's (usecases/admins.ts), shared with the admin pages.
 */
import { z } from 'zod';
import { ADMIN_ROLES } from '../../auth/admins.js';
import { type AdminView as AdminViewOf, listAdmins, removeAdmin, updateAdmin } from '../../usecases/admins.js';
import { AdminIdParams, iso, isoOrNull } from '../schemas.js';
import { defineTenantRoute } from '../tenant-route.js';

const AdminView = z.object({
  id: z.string(),
  login: z.string(),
  role: z.enum(ADMIN_ROLES),
  createdAt: z.string(),
  disabled: z.boolean(),
  disabledAt: z.string().nullable(),
  secondFactor: z.boolean().describe('Whether the admin has enrolled an authenticator'),
});
const adminView = (a: AdminViewOf) => ({
  id: a.id,
  login: a.login,
  role: a.role,
  createdAt: iso(a.createdAt),
  disabled: a.disabledAt !== null,
  disabledAt: isoOrNull(a.disabledAt),
  secondFactor: a.secondFactor,
});

export const listAdminsRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/admins',
  operationId: 'listAdmins',
  summary: "List the tenant's admin accounts (removed ones are not listed)",
  tag: 'operator',
  permission: 'admins.manage',
  responses: { 200: { description: 'Admins, by login', schema: z.object({ admins: z.array(AdminView) }) } },
  errors: ['invalid_request'],
  async handle({ tenant, services }) {
    return { status: 200, body: { admins: (await listAdmins(services, tenant.id)).map(adminView) } };
  },
});

export const updateAdminRoute = defineTenantRoute({
  method: 'PATCH',
  url: '/api/v1/tenants/:tenant/admins/:adminId',
  operationId: 'updateAdmin',
  summary: "Change an admin's role, or disable or enable it",
  description:
    'Both fields or neither are applied. Disabling or demoting ends every session of that admin (API and pages). The last enabled admin of the tenant cannot be disabled or demoted: 409 last_admin, also when two such changes race.',
  tag: 'operator',
  permission: 'admins.manage',
  idempotency: 'keyed',
  params: AdminIdParams,
  body: z
    .strictObject({ role: z.enum(ADMIN_ROLES).optional(), disabled: z.boolean().optional() })
    .refine((b) => b.role !== undefined || b.disabled !== undefined, { message: 'role or disabled' }),
  responses: { 200: { description: 'The admin as changed', schema: AdminView } },
  errors: ['invalid_request', 'last_admin', 'payload_too_large', 'unsupported_media_type'],
  async handle({ tenant, actor, params, body, services, clientIp }) {
    const changed = await updateAdmin(services, {
      tenantId: tenant.id,
      actor,
      clientIp,
      adminId: params.adminId,
      role: body.role,
      disabled: body.disabled,
    });
    return { status: 200, body: adminView(changed) };
  },
});

export const removeAdminRoute = defineTenantRoute({
  method: 'DELETE',
  url: '/api/v1/tenants/:tenant/admins/:adminId',
  operationId: 'removeAdmin',
  summary: 'Remove an admin account',
  description:
    'The account is disabled and no longer listed; every session of it ends. Its record stays for the audit log, so its login is not available to a new account. The last enabled admin of the tenant cannot be removed: 409 last_admin.',
  tag: 'operator',
  permission: 'admins.manage',
  idempotency: 'keyed',
  params: AdminIdParams,
  responses: { 204: { description: 'Removed; the sessions of the admin have ended' } },
  errors: ['invalid_request', 'last_admin'],
  async handle({ tenant, actor, params, services, clientIp }) {
    await removeAdmin(services, { tenantId: tenant.id, actor, clientIp, adminId: params.adminId });
    return { status: 204 };
  },
});
