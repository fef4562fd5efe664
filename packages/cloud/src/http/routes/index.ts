/** Every route of the API, in one list: the server registers these and the OpenAPI document describes these. */
import { z } from 'zod';
import { buildOpenApi } from '../openapi.js';
import { defineRoute, type Route } from '../route.js';
import { listAdminsRoute, removeAdminRoute, updateAdminRoute } from './admins.js';
import { issueAgentTokenRoute, listAgentsRoute, registerAgentRoute, revokeAgentRoute } from './agents.js';
import { auditRoute } from './audit.js';
import { createCloudUserRoute, getUserRoute, listUsersRoute } from './directory-users.js';
import { getSettingsRoute, patchSettingsRoute } from './settings.js';
import { userSignInRoute } from './sign-in.js';
import { confirmDeletionsRoute, rejectDeletionsRoute, syncRunRoute, syncStatusRoute } from './sync.js';
import { healthRoute } from './health.js';
import { livenessRoute } from './livez.js';
import { changePasswordRoute } from './password-change.js';
import { passwordExpiryRoute } from './password-expiry.js';
import { beginEnrolmentRoute, confirmEnrolmentRoute, signInRoute, signOutRoute } from './sessions.js';
import {
  createAdminRoute,
  createApiKeyRoute,
  createTenantRoute,
  listApiKeysRoute,
  listTenantsRoute,
  resetAdminSecondFactorRoute,
  revokeApiKeyRoute,
} from './tenants.js';
import { policyRoute, resetPasswordRoute, unlockRoute } from './users.js';

const API_ROUTES: readonly Route[] = [
  healthRoute,
  livenessRoute,
  createTenantRoute,
  listTenantsRoute,
  createApiKeyRoute,
  listApiKeysRoute,
  revokeApiKeyRoute,
  createAdminRoute,
  listAdminsRoute,
  updateAdminRoute,
  removeAdminRoute,
  resetAdminSecondFactorRoute,
  signInRoute,
  signOutRoute,
  beginEnrolmentRoute,
  confirmEnrolmentRoute,
  issueAgentTokenRoute,
  registerAgentRoute,
  listAgentsRoute,
  revokeAgentRoute,
  resetPasswordRoute,
  unlockRoute,
  policyRoute,
  changePasswordRoute,
  auditRoute,
  listUsersRoute,
  getUserRoute,
  createCloudUserRoute,
  userSignInRoute,
  syncStatusRoute,
  syncRunRoute,
  confirmDeletionsRoute,
  rejectDeletionsRoute,
  getSettingsRoute,
  patchSettingsRoute,
  passwordExpiryRoute,
];

let cached: Record<string, unknown> | undefined;

const openApiRoute = defineRoute({
  method: 'GET',
  url: '/openapi.json',
  operationId: 'openapi',
  summary: 'This OpenAPI 3.1 document',
  tag: 'service',
  auth: 'none',
  responses: { 200: { description: 'The document', schema: z.object({ openapi: z.string() }).loose() } },
  errors: [],
  async handle() {
    cached ??= buildOpenApi(ALL_ROUTES.map((r) => r.doc));
    return { status: 200, body: cached };
  },
});

export const ALL_ROUTES: readonly Route[] = [...API_ROUTES, openApiRoute];
