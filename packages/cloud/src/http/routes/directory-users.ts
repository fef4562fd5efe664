/**
 * The tenant's users as the cloud knows them (synced from the directory, or cloud-only). End-user
 * sign-in is in sign-in.ts, the sync controls in sync.ts, the tenant settings in settings.ts.
 *
 * Before a tenant's first completed sync there are no user rows: the list is empty (`synced:
 * false`) and one user is looked up in the directory by login (policy.get, not audited).
 */
import { z } from 'zod';
import { PasswordSchema } from '@writeback/protocol';
import { listUsers, type CloudUser } from '../../users/directory-users.js';
import { createCloudOnlyUser, lookUpUser } from '../../usecases/users.js';
import { UserParams } from '../schemas.js';
import { defineTenantRoute } from '../tenant-route.js';

const WritebackOffer = z.object({
  offered: z.boolean(),
  /** Why not: not_synced_user (cloud-only), account_disabled, protected_account. */
  reason: z.enum(['not_synced_user', 'account_disabled', 'protected_account']).optional(),
});

const UserBody = z.object({
  id: z.string(),
  source: z.enum(['onprem', 'cloud']),
  anchor: z.string().nullable(),
  login: z.string(),
  userPrincipalName: z.string().nullable(),
  mail: z.string().nullable(),
  displayName: z.string().nullable(),
  mobile: z.string().nullable(),
  enabled: z.boolean(),
  locked: z.boolean(),
  mustChange: z.boolean(),
  protected: z.boolean(),
  passwordLastSetAt: z.string().nullable(),
  groups: z.array(z.string()),
  updatedAt: z.string(),
});

export function userBody(u: CloudUser): z.infer<typeof UserBody> {
  return {
    id: u.id,
    source: u.source,
    anchor: u.anchor,
    login: u.login,
    userPrincipalName: u.userPrincipalName,
    mail: u.mail,
    displayName: u.displayName,
    mobile: u.mobile,
    enabled: u.enabled,
    locked: u.locked,
    mustChange: u.mustChange,
    protected: u.protected,
    passwordLastSetAt: u.passwordLastSetAt,
    groups: u.groups,
    updatedAt: new Date(u.updatedAt).toISOString(),
  };
}

/** Whether the cloud offers password writeback for this user, and why not. */
export function writebackOffer(u: CloudUser): z.infer<typeof WritebackOffer> {
  if (u.source === 'cloud') return { offered: false, reason: 'not_synced_user' };
  if (!u.enabled) return { offered: false, reason: 'account_disabled' };
  if (u.protected) return { offered: false, reason: 'protected_account' };
  return { offered: true };
}

const QueryBool = z.enum(['true', 'false']).transform((v) => v === 'true');

export const listUsersRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users',
  operationId: 'listUsers',
  summary: 'Users of the tenant (synced and cloud-only), by login',
  description:
    '`search` matches the start of login, UPN, mail or display name (case-insensitive). Before the first completed sync the list is empty and `synced` is false.',
  tag: 'users',
  permission: 'users.read',
  query: z.object({
    search: z.string().max(256).optional(),
    source: z.enum(['onprem', 'cloud']).optional(),
    locked: QueryBool.optional(),
    mustChange: QueryBool.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  }),
  responses: {
    200: {
      description: 'One page',
      schema: z.object({
        users: z.array(UserBody),
        total: z.number(),
        limit: z.number(),
        offset: z.number(),
        synced: z.boolean(),
      }),
    },
  },
  errors: ['invalid_request'],
  async handle({ tenant, query, services }) {
    const page = await listUsers(services.db, tenant.id, {
      limit: query.limit,
      offset: query.offset,
      ...(query.search !== undefined ? { search: query.search } : {}),
      ...(query.source !== undefined ? { source: query.source } : {}),
      ...(query.locked !== undefined ? { locked: query.locked } : {}),
      ...(query.mustChange !== undefined ? { mustChange: query.mustChange } : {}),
    });
    return {
      status: 200,
      body: {
        users: page.users.map(userBody),
        total: page.total,
        limit: query.limit,
        offset: query.offset,
        synced: await services.sync.hasSynced(tenant.id),
      },
    };
  },
});

export const getUserRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users/:login',
  operationId: 'getUser',
  summary: 'One user (by login, UPN or mail), and whether writeback is offered for them',
  tag: 'users',
  permission: 'users.read',
  params: UserParams,
  responses: {
    200: {
      description:
        'The user. Before the first completed sync: `user` is null and the directory was asked whether the login exists.',
      schema: z.object({ user: UserBody.nullable(), synced: z.boolean(), writeback: WritebackOffer }),
    },
  },
  errors: ['invalid_request'],
  async handle({ tenant, actor, params, services }) {
    const { user, synced } = await lookUpUser(services, { tenantId: tenant.id, actor, login: params.login });
    if (user) return { status: 200, body: { user: userBody(user), synced, writeback: writebackOffer(user) } };
    return { status: 200, body: { user: null, synced, writeback: { offered: true } } };
  },
});

export const createCloudUserRoute = defineTenantRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users',
  operationId: 'createCloudUser',
  summary: 'Create a cloud-only user with a local password (no directory account; no writeback)',
  tag: 'users',
  permission: 'users.manage',
  idempotency: 'keyed',
  body: z.object({
    login: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'letters, digits, . _ @ -'),
    password: PasswordSchema.min(12),
    displayName: z.string().min(1).max(256).optional(),
    mail: z.email().max(256).optional(),
    mobile: z.string().max(64).optional(),
  }),
  responses: { 201: { description: 'Created', schema: z.object({ user: UserBody }) } },
  errors: ['invalid_request', 'conflict'],
  async handle({ tenant, body, services }) {
    const user = await createCloudOnlyUser(services, { tenantId: tenant.id, ...body });
    return { status: 201, body: { user: userBody(user) } };
  },
});
