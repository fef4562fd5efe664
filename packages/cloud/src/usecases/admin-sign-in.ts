/**
 * Admin sign-in, for the API (one call: login, password and, once enrolled, the authenticator
 * code → a short-lived Bearer token) and the admin pages (two steps: password, then the code or
 * the enrolment of a first factor → a page session made by the page). Both draw on ONE attempt
 * budget per admin login in the tenant (usecases/attempts.ts: the tenant by id, whether the caller
 * typed its slug or its id) and one per client IP; only failures count.
 *
 * Unknown tenant, unknown login, wrong password and disabled account answer alike, after the same
 * scrypt work. Codes are replay-protected (auth/admin-totp.ts), so the API is no way around the
 * pages' second factor.
 */
import {
  type Admin,
  adminOfTenant,
  createSession,
  revokeAdminSessions,
  verifyAdminCredentials,
} from '../auth/admins.js';
import { checkAdminCode, getAdminTotp, resetAdminTotp, type TotpCheck } from '../auth/admin-totp.js';
import type { Actor } from '../auth/principal.js';
import { deleteSubjectSessions } from '../store/web-sessions.js';
import { dummyPasswordHash, verifyPassword } from '../auth/passwords.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { findTenant, type Tenant } from '../tenants/tenants.js';
import { accountBudget, adminBudgetKey, holdAttempt, withAttempt } from './attempts.js';

export interface AdminPasswordInput {
  /** The tenant as the caller named it: slug or id. */
  tenantRef: string;
  login: string;
  password: string;
  clientIp: string | null;
}

function budget(
  services: Services,
  tenant: Tenant | null,
  input: { tenantRef: string; login: string; clientIp: string | null },
) {
  return accountBudget(services.limiters.adminSignIn, {
    account: adminBudgetKey(tenant, input.tenantRef, input.login),
    ip: input.clientIp,
    device: null,
  });
}

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
  input: { tenant: Tenant; admin: Pick<Admin, 'id' | 'login'>; code: string; clientIp: string | null },
): Promise<{ check: TotpCheck; enrolled: boolean }> {
  const { tenant, admin } = input;
  return withAttempt(
    budget(services, tenant, { tenantRef: tenant.id, login: admin.login, clientIp: input.clientIp }),
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

/** The API's sign-in: both factors in one call, then a Bearer session token (shown once). */
export async function signInAdminForToken(
  services: Services,
  input: AdminPasswordInput & { totp?: string | undefined },
): Promise<{ admin: Admin; token: string; expiresAt: number }> {
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
  services.log.info('admin signed in', { tenantId: tenant.id, adminId: admin.id });
  return { admin, ...session };
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
