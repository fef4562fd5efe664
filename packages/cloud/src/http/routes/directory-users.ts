/**
 * The tenant's users as the cloud knows them (synced from the directory, or cloud-only), end-user
 * sign-in, the sync state and its controls, and the tenant settings.
 *
 * Before a tenant's first completed sync there are no user rows: the list is empty (`synced:
 * false`) and one user is looked up in the directory by login (policy.get, not audited).
 */
import { z } from 'zod';
import { MAX_USER_REF_LENGTH, PasswordSchema } from '@writeback/protocol';
import { hashPassword } from '../../auth/passwords.js';
import { actorOf } from '../../auth/principal.js';
import { CloudError } from '../../errors.js';
import type { SyncStatus } from '../../sync/engine.js';
import { TenantSettingsSchema } from '../../tenants/settings.js';
import { createCloudUser, findUserByLogin, listUsers, type CloudUser } from '../../users/directory-users.js';
import { readSettings, updateSettings } from '../../usecases/settings.js';
import { SIGN_IN_OUTCOMES, signInUser, type SignInOutcome } from '../../usecases/user-sign-in.js';
import { defineRoute, type ResponseDoc } from '../route.js';
import { isoOrNull, TenantParams, UserParams } from '../schemas.js';
import { loadTenant, loadTenantFor } from '../steps/load-tenant.js';

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

export const listUsersRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users',
  operationId: 'listUsers',
  summary: 'Users of the tenant (synced and cloud-only), by login',
  description:
    '`search` matches the start of login, UPN, mail or display name (case-insensitive). Before the first completed sync the list is empty and `synced` is false.',
  tag: 'users',
  auth: 'bearer',
  params: TenantParams,
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
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request'],
  async handle({ principal, params, query, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.read');
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

export const getUserRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/users/:login',
  operationId: 'getUser',
  summary: 'One user (by login, UPN or mail), and whether writeback is offered for them',
  tag: 'users',
  auth: 'bearer',
  params: UserParams,
  responses: {
    200: {
      description:
        'The user. Before the first completed sync: `user` is null and the directory was asked whether the login exists.',
      schema: z.object({ user: UserBody.nullable(), synced: z.boolean(), writeback: WritebackOffer }),
    },
  },
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.read');
    const synced = await services.sync.hasSynced(tenant.id);
    const user = await findUserByLogin(services.db, tenant.id, params.login);
    if (user) return { status: 200, body: { user: userBody(user), synced, writeback: writebackOffer(user) } };
    if (!synced) {
      const r = await services.writeback.executeOperation({
        tenantId: tenant.id,
        request: { op: 'policy.get', params: { user: { by: 'login', value: params.login } } },
        actor: principal ? actorOf(principal) : { kind: 'system', id: 'unknown' },
        target: params.login,
        audit: false,
      });
      if (r.result.outcome === 'user_not_found') throw new CloudError('not_found', 'no such user');
      return { status: 200, body: { user: null, synced: false, writeback: { offered: true } } };
    }
    throw new CloudError('not_found', 'no such user');
  },
});

export const createCloudUserRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/users',
  operationId: 'createCloudUser',
  summary: 'Create a cloud-only user with a local password (no directory account; no writeback)',
  tag: 'users',
  auth: 'bearer',
  params: TenantParams,
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
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request', 'conflict'],
  async handle({ principal, params, body, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'users.manage');
    if (await findUserByLogin(services.db, tenant.id, body.login))
      throw new CloudError('conflict', 'a user with this login exists');
    const user = await createCloudUser(
      services.db,
      tenant.id,
      {
        login: body.login,
        passwordHash: await hashPassword(body.password),
        ...(body.displayName ? { displayName: body.displayName } : {}),
        ...(body.mail ? { mail: body.mail } : {}),
        ...(body.mobile ? { mobile: body.mobile } : {}),
      },
      services.now(),
    );
    return { status: 201, body: { user: userBody(user) } };
  },
});

const SIGN_IN_STATUS: Record<SignInOutcome, number> = {
  succeeded: 200,
  must_change: 200,
  password_expired: 200,
  invalid_credentials: 401,
  account_locked: 403,
  account_disabled: 403,
  rate_limited: 429,
  agent_unavailable: 503,
  directory_unavailable: 503,
  timeout: 504,
};

function signInResponses(): Record<number, ResponseDoc> {
  const byStatus = new Map<number, string[]>();
  for (const [outcome, status] of Object.entries(SIGN_IN_STATUS))
    byStatus.set(status, [...(byStatus.get(status) ?? []), outcome]);
  const out: Record<number, ResponseDoc> = {};
  for (const [status, outcomes] of byStatus)
    out[status] = { description: `Outcome: ${outcomes.join(', ')}`, schema: SignInBody };
  return out;
}

const SignInBody = z.object({
  outcome: z.enum(SIGN_IN_OUTCOMES),
  via: z.enum(['cloud_hash', 'pass_through']).nullable(),
  requestId: z.string().optional(),
  user: z.object({ id: z.string(), login: z.string(), displayName: z.string().nullable() }).optional(),
});

export const userSignInRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sign-in',
  operationId: 'signInUser',
  summary: "Check a user's login and password (cloud hash or pass-through, per the tenant's settings)",
  description:
    'Makes no session. must_change / password_expired: the password is right but must be changed now (POST /password/change with it as the current one). Rate limited per login and per client IP (429 with Retry-After).',
  tag: 'self-service',
  auth: 'none',
  params: TenantParams,
  body: z.object({ login: z.string().min(1).max(MAX_USER_REF_LENGTH), password: PasswordSchema.min(1) }),
  responses: signInResponses(),
  errors: ['invalid_request', 'not_found', 'payload_too_large', 'unsupported_media_type'],
  async handle({ params, body, services, clientIp }) {
    const tenant = await loadTenant(services, params.tenant);
    const r = await signInUser(services, { tenantId: tenant.id, login: body.login, password: body.password, clientIp });
    const ok = r.outcome === 'succeeded' || r.outcome === 'must_change' || r.outcome === 'password_expired';
    return {
      status: SIGN_IN_STATUS[r.outcome],
      body: {
        outcome: r.outcome,
        via: r.via,
        ...(r.requestId ? { requestId: r.requestId } : {}),
        ...(ok && r.user ? { user: { id: r.user.id, login: r.user.login, displayName: r.user.displayName } } : {}),
      },
      ...(r.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(r.retryAfterSeconds) } } : {}),
    };
  },
});

const SyncStatusBody = z.object({
  phase: z.enum(['idle', 'full', 'incremental', 'blocked_mass_delete', 'error']),
  fullInProgress: z.boolean(),
  firstFullSyncAt: z.string().nullable(),
  lastRunAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastFullSyncAt: z.string().nullable(),
  lastAnchorsPassAt: z.string().nullable(),
  lastError: z.string().nullable(),
  agentId: z.string().nullable(),
  counts: z.object({ created: z.number(), updated: z.number(), deleted: z.number() }),
  total: z.number(),
  pendingDeletions: z.number(),
  pendingSince: z.string().nullable(),
});

function statusBody(s: SyncStatus): z.infer<typeof SyncStatusBody> {
  return {
    phase: s.phase,
    fullInProgress: s.fullInProgress,
    firstFullSyncAt: isoOrNull(s.firstFullSyncAt),
    lastRunAt: isoOrNull(s.lastRunAt),
    lastSuccessAt: isoOrNull(s.lastSuccessAt),
    lastFullSyncAt: isoOrNull(s.lastFullSyncAt),
    lastAnchorsPassAt: isoOrNull(s.lastAnchorsPassAt),
    lastError: s.lastError,
    agentId: s.agentId,
    counts: s.counts,
    total: s.total,
    pendingDeletions: s.pendingDeletions,
    pendingSince: isoOrNull(s.pendingSince),
  };
}

export const syncStatusRoute = defineRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/sync',
  operationId: 'getSyncStatus',
  summary: "The tenant's directory sync: phase, last run, counts, last error, held-back deletions",
  tag: 'sync',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Sync status', schema: SyncStatusBody } },
  errors: ['unauthorized', 'forbidden', 'not_found'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.read');
    return { status: 200, body: statusBody(await services.sync.status(tenant.id)) };
  },
});

export const syncRunRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/run',
  operationId: 'runSync',
  summary: 'Sync now (waits for the run); `full: true` starts a full sync',
  tag: 'sync',
  auth: 'bearer',
  params: TenantParams,
  body: z.object({ full: z.boolean().default(false) }),
  bodyOptional: true,
  responses: {
    200: { description: 'Status after the run (phase error with lastError when it failed)', schema: SyncStatusBody },
  },
  errors: ['unauthorized', 'forbidden', 'not_found', 'invalid_request'],
  async handle({ principal, params, body, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const r = await services.sync.runOnce(tenant.id, { full: body.full });
    return { status: 200, body: statusBody(r.status) };
  },
});

export const confirmDeletionsRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/deletions/confirm',
  operationId: 'confirmSyncDeletions',
  summary: 'Apply the deletions the mass-delete guard held back',
  tag: 'sync',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Applied', schema: z.object({ deleted: z.number(), status: SyncStatusBody }) } },
  errors: ['unauthorized', 'forbidden', 'not_found', 'conflict'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const deleted = await services.sync.confirmDeletions(tenant.id);
    return { status: 200, body: { deleted, status: statusBody(await services.sync.status(tenant.id)) } };
  },
});

export const rejectDeletionsRoute = defineRoute({
  method: 'POST',
  url: '/api/v1/tenants/:tenant/sync/deletions/reject',
  operationId: 'rejectSyncDeletions',
  summary:
    'Discard the deletions the mass-delete guard held back (the next anchors pass finds them again if they are still gone)',
  tag: 'sync',
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Discarded', schema: z.object({ discarded: z.number(), status: SyncStatusBody }) } },
  errors: ['unauthorized', 'forbidden', 'not_found', 'conflict'],
  async handle({ principal, params, services }) {
    const tenant = await loadTenantFor(services, principal, params.tenant, 'sync.manage');
    const discarded = await services.sync.rejectDeletions(tenant.id);
    return { status: 200, body: { discarded, status: statusBody(await services.sync.status(tenant.id)) } };
  },
});

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
