/**
 * Admin sign-in, for the API (one call: login, password and, once enrolled, the authenticator
 * code → a short-lived Bearer token) and the admin pages (two steps: password, then the code or
 * the enrolment of a first factor → a page session made by the page). Both draw on ONE attempt
 * budget per admin login in the tenant (usecases/attempts.ts: the tenant by id, whether the caller
 * typed its slug or its id) and one per client IP; only failures count.
 *
 * Unknown tenant, unknown login, wrong password and disabled account answer alike, after the same
 * scrypt work. Codes are replay-protected (auth/admin-totp.ts), so the API is no way around the
 * pages' second factor. Until an admin has enrolled an authenticator, an API session may only
 * enrol one (beginAdminApiEnrolment, confirmAdminApiEnrolment), like the pages' first sign-in.
 */
import {
  type Admin,
  adminOfTenant,
  createSession,
  revokeAdminSessions,
  verifyAdminCredentials,
} from '../auth/admins.js';
import { beginEnrolment, checkAdminCode, getAdminTotp, resetAdminTotp, type TotpCheck } from '../auth/admin-totp.js';
import { totpUri } from '../auth/totp.js';
import type { Actor } from '../auth/principal.js';
import { deleteSubjectSessions } from '../store/web-sessions.js';
import { dummyPasswordHash, verifyPassword } from '../auth/passwords.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { findTenant, type Tenant } from '../tenants/tenants.js';
import { accountBudget, adminBudgetKey, holdAttempt, withAttempt } from './attempts.js';
import { issueDeviceToken, knownDevice } from './devices.js';

export interface AdminPasswordInput {
  /** The tenant as the caller named it: slug or id. */
  tenantRef: string;
  login: string;
  password: string;
  clientIp: string | null;
  /** The browser's admin device cookie (usecases/devices.ts), pages only. */
  deviceToken?: string | null | undefined;
}

function budget(
  services: Services,
  tenant: Tenant | null,
  input: { tenantRef: string; login: string; clientIp: string | null; deviceToken?: string | null | undefined },
) {
  const account = adminBudgetKey(tenant, input.tenantRef, input.login);
  return accountBudget(services.limiters.adminSignIn, {
    account,
    ip: input.clientIp,
    device: knownDevice(services, account, input.deviceToken),
  });
}

/** A device token for the browser of an admin who passed both steps (its own budget next time). */
export const adminDeviceToken = (services: Services, tenant: Tenant, login: string): string =>
  issueDeviceToken(services, adminBudgetKey(tenant, tenant.id, login));

async function checkPassword(services: Services, tenant: Tenant | null, login: string, password: string) {
  if (tenant) return verifyAdminCredentials(services.db, tenant.id, login, password);
  await verifyPassword(password, await dummyPasswordHash());
  return null;
}

export interface SignedInAdmin {
  tenant: Tenant;
  admin: Admin;
  /** Whether the admin has a confirmed authenticator (else the pages enrol one next). */
  hasFactor: boolean;
}

/** The password step of the pages. Null: not signed in (same answer for every reason). */
export async function checkAdminPasswordStep(
  services: Services,
  input: AdminPasswordInput,
): Promise<SignedInAdmin | null> {
  const tenant = (await findTenant(services.db, input.tenantRef)) ?? null;
  return withAttempt(
    budget(services, tenant, input),
    (r: SignedInAdmin | null) => r === null,
    async () => {
      const admin = await checkPassword(services, tenant, input.login, input.password);
      if (!tenant || !admin) {
        services.log.warn('admin sign-in failed', { tenant: input.tenantRef, clientIp: input.clientIp });
        return null;
      }
      const factor = await getAdminTotp(services.db, admin.id);
      return { tenant, admin, hasFactor: factor?.confirmed === true };
    },
  );
}

/**
 * The code step of the pages: the code of the confirmed factor, or the first code of one being
 * enrolled (which confirms it). `no_factor`: enrolment has to start (again); not counted.
 */
export async function checkAdminCodeStep(
  services: Services,
  input: {
    tenant: Tenant;
    admin: Pick<Admin, 'id' | 'login'>;
    code: string;
    clientIp: string | null;
    deviceToken?: string | null | undefined;
  },
): Promise<{ check: TotpCheck; enrolled: boolean }> {
  const { tenant, admin } = input;
  return withAttempt(
    budget(services, tenant, {
      tenantRef: tenant.id,
      login: admin.login,
      clientIp: input.clientIp,
      deviceToken: input.deviceToken,
    }),
    (r: { check: TotpCheck }) => r.check !== 'ok' && r.check !== 'no_factor',
    async () => {
      const factor = await getAdminTotp(services.db, admin.id);
      const enrolling = !factor?.confirmed;
      const check = await checkAdminCode(
        services.db,
        services.cloudKey.privateKey,
        admin.id,
        input.code,
        services.now(),
        {
          enrolling,
        },
      );
      if (check !== 'ok' && check !== 'no_factor')
        services.log.warn('admin second factor refused', { tenantId: tenant.id, adminId: admin.id, code: check });
      return { check, enrolled: enrolling && check === 'ok' };
    },
  );
}

/**
 * The API's sign-in: both factors in one call, then a Bearer session token (shown once). An admin
 * without an enrolled authenticator gets a session that may only enrol one (`enrolOnly`, issue 10:
 * enforced on every request by http/steps/check-auth.ts checkEnrolled, from the factor's state).
 */
export async function signInAdminForToken(
  services: Services,
  input: AdminPasswordInput & { totp?: string | undefined },
): Promise<{ admin: Admin; token: string; expiresAt: number; enrolOnly: boolean }> {
  const tenant = (await findTenant(services.db, input.tenantRef)) ?? null;
  const release = await holdAttempt(budget(services, tenant, input));
  const admin = await checkPassword(services, tenant, input.login, input.password);
  if (!tenant || !admin) {
    services.log.warn('admin sign-in failed', { tenant: input.tenantRef, clientIp: input.clientIp });
    throw new CloudError('invalid_credentials', 'the login or password is not correct');
  }
  const factor = await getAdminTotp(services.db, admin.id);
  if (factor?.confirmed) {
    if (input.totp === undefined)
      throw new CloudError('second_factor_required', 'this admin signs in with an authenticator code: send it as totp');
    const check = await checkAdminCode(
      services.db,
      services.cloudKey.privateKey,
      admin.id,
      input.totp,
      services.now(),
      {
        enrolling: false,
      },
    );
    if (check !== 'ok') {
      services.log.warn('admin sign-in failed: second factor', {
        tenant: input.tenantRef,
        clientIp: input.clientIp,
        check,
      });
      throw new CloudError('invalid_credentials', 'the login, password or authenticator code is not correct');
    }
  }
  // Only failures count towards the budget.
  await release();
  const session = await createSession(services.db, admin, services.config.sessionTtlSeconds * 1000, services.now());
  const enrolOnly = factor?.confirmed !== true;
  services.log.info('admin signed in', { tenantId: tenant.id, adminId: admin.id, enrolOnly });
  return { admin, ...session, enrolOnly };
}

/** Who enrols through the API: the admin of an enrol-only (or any) API session, in its tenant. */
export interface ApiEnrolmentInput {
  tenant: Tenant;
  admin: Pick<Admin, 'id' | 'login'>;
}

/**
 * API enrolment, step 1: a new authenticator key for the admin, shown once (the secret and its
 * otpauth URI); calling again replaces a key not yet confirmed. `conflict` when the admin has a
 * confirmed factor already (replacing one is the lost-authenticator reset, never a side effect).
 */
export async function beginAdminApiEnrolment(
  services: Services,
  input: ApiEnrolmentInput,
): Promise<{ secret: string; otpauthUri: string }> {
  const { tenant, admin } = input;
  const secret = await beginEnrolment(
    services.db,
    services.cloudKey.privateKey,
    { id: admin.id, tenantId: tenant.id },
    services.now(),
  );
  if (!secret) throw new CloudError('conflict', 'this admin has an authenticator already');
  services.log.info('admin second factor enrolment started', { tenantId: tenant.id, adminId: admin.id, via: 'api' });
  return { secret, otpauthUri: totpUri({ secret, issuer: `${tenant.name} admin`, account: admin.login }) };
}

/**
 * API enrolment, step 2: the first code of the key being enrolled confirms it; from then on every
 * session of the admin is full, and sign-in asks for a code. Wrong or replayed codes count towards
 * the admin sign-in budget (the pages' code step, checkAdminCodeStep); `conflict` when no
 * enrolment is under way (or the factor is confirmed already).
 */
export async function confirmAdminApiEnrolment(
  services: Services,
  input: ApiEnrolmentInput & { code: string; clientIp: string | null },
): Promise<void> {
  const factor = await getAdminTotp(services.db, input.admin.id);
  if (!factor || factor.confirmed)
    throw new CloudError(
      'conflict',
      factor ? 'this admin has an authenticator already' : 'no enrolment under way: start one first',
    );
  const { check } = await checkAdminCodeStep(services, { ...input, admin: input.admin });
  switch (check) {
    case 'ok':
      services.log.info('admin second factor enrolled', {
        tenantId: input.tenant.id,
        adminId: input.admin.id,
        via: 'api',
      });
      return;
    case 'invalid':
      throw new CloudError('totp_invalid', 'the code is not correct');
    case 'replayed':
      throw new CloudError('totp_replayed', 'the code was used already: wait for the next one');
    case 'no_factor':
      throw new CloudError('conflict', 'no enrolment under way: start one first');
  }
}

/**
 * An admin lost the authenticator: the factor is removed and every session of that admin ends,
 * API tokens and page sessions alike; the next sign-in with the password enrols a new one.
 */
export async function resetAdminSecondFactor(
  services: Services,
  input: { tenantId: string; adminId: string; by: Actor | null },
): Promise<void> {
  const { tenantId, adminId } = input;
  if (!(await adminOfTenant(services.db, tenantId, adminId)))
    throw new CloudError('not_found', 'no such admin in this tenant');
  if (!(await resetAdminTotp(services.db, adminId)))
    throw new CloudError('not_found', 'this admin has no authenticator enrolled');
  const api = await revokeAdminSessions(services.db, adminId, services.now());
  const web = await deleteSubjectSessions(services.db, tenantId, 'admin', adminId);
  services.log.info('admin second factor removed', { tenantId, adminId, by: input.by, sessionsEnded: api + web });
}
