/**
 * The tenant's admin accounts, for the API and the admin pages alike (issue 10, admin lifecycle):
 * list, create, change the role, disable or enable, and remove. Each change
 * - never leaves the tenant without an enabled `admin` (`last_admin`, 409): the check and the
 *   write are one store transaction (store/admins.ts changeAdmin), so two concurrent demotions of
 *   the last two admins cannot both succeed;
 * - ends every session of that admin when it takes rights away (disabled, demoted, removed): API
 *   tokens and page sessions alike, so nothing granted before outlives the change;
 * - gets one audit record (usecases/admin-audit.ts), whichever door it came through.
 * Removal is soft: the row stays, disabled and marked removed, because audit records name actors
 * by id (and sessions and factors reference it); a removed admin is not listed and its login is
 * not given to anyone else, so the audit log keeps meaning one person per login.
 */
import { createAdmin, revokeAdminSessions, type Admin, type AdminRole } from '../auth/admins.js';
import { CloudError } from '../errors.js';
import type { Services } from '../services.js';
import { changeAdmin, listTenantAdmins, type AdminChange, type ListedAdmin } from '../store/admins.js';
import { deleteSubjectSessions } from '../store/web-sessions.js';
import { type AdminAction, type AdminActionInput, recordAdminAction } from './admin-audit.js';

/** One admin account as both doors show it (never a hash or a factor's key). */
export interface AdminView {
  id: string;
  login: string;
  role: AdminRole;
  createdAt: number;
  /** When it was disabled; null while enabled. */
  disabledAt: number | null;
  /** Whether the admin has enrolled an authenticator (until then an API session may only enrol). */
  secondFactor: boolean;
}

const view = (l: ListedAdmin): AdminView => ({
  id: l.admin.id,
  login: l.admin.login,
  role: l.admin.role,
  createdAt: l.admin.createdAt,
  disabledAt: l.disabledAt,
  secondFactor: l.secondFactor,
});

/** The tenant's admins that are not removed, by login. */
export async function listAdmins(services: Services, tenantId: string): Promise<AdminView[]> {
  return (await listTenantAdmins(services.db, tenantId)).map(view);
}

/** Create an admin account (a login taken in the tenant, by a removed admin too, is a `conflict`). */
export async function createTenantAdmin(
  services: Services,
  input: AdminActionInput & { login: string; password: string; role: AdminRole },
): Promise<Admin> {
  const admin = await createAdmin(
    services.db,
    { tenantId: input.tenantId, login: input.login, password: input.password, role: input.role },
    services.now(),
  );
  services.log.info('admin created', { tenantId: input.tenantId, adminId: admin.id, role: admin.role });
  await audit(services, input, 'admin.admin.create', `admin ${admin.id} ${admin.login} role ${admin.role}`);
  return admin;
}

/** What an update asks for: a new role, enabled or disabled, or both. */
export interface AdminUpdate {
  role?: AdminRole | undefined;
  disabled?: boolean | undefined;
}

/**
 * Change an admin's role and/or disable or enable it, in one guarded transaction (both parts or
 * neither); each part that changed something gets its audit record. `not_found` for an admin of
 * another tenant or a removed one.
 */
export async function updateAdmin(
  services: Services,
  input: AdminActionInput & { adminId: string } & AdminUpdate,
): Promise<AdminView> {
  const { before, after } = await apply(services, input, { role: input.role, disabled: input.disabled });
  const who = `admin ${after.admin.id} ${after.admin.login}`;
  if (after.admin.role !== before.admin.role)
    await audit(services, input, 'admin.admin.role', `${who} role ${after.admin.role}`);
  if ((after.disabledAt === null) !== (before.disabledAt === null))
    await audit(services, input, after.disabledAt === null ? 'admin.admin.enable' : 'admin.admin.disable', who);
  return view(after);
}

/** Remove an admin (soft: disabled and marked removed; see the module header). */
export async function removeAdmin(services: Services, input: AdminActionInput & { adminId: string }): Promise<void> {
  const { after } = await apply(services, input, { remove: true });
  await audit(services, input, 'admin.admin.remove', `admin ${after.admin.id} ${after.admin.login}`);
}

const notFound = (): CloudError => new CloudError('not_found', 'no such admin in this tenant');

/** One change through the store's guarded transaction; ends the admin's sessions when rights were taken away. */
async function apply(
  services: Services,
  input: AdminActionInput & { adminId: string },
  change: AdminChange,
): Promise<{ before: ListedAdmin; after: ListedAdmin }> {
  const r = await changeAdmin(services.db, input.tenantId, input.adminId, change, services.now());
  if (!r.ok) {
    if (r.reason === 'not_found') throw notFound();
    throw new CloudError('last_admin', 'the tenant would be left without an enabled admin');
  }
  const { before, after } = r;
  const demoted = before.admin.role === 'admin' && after.admin.role !== 'admin';
  const disabled = before.disabledAt === null && after.disabledAt !== null;
  if (demoted || disabled || 'remove' in change) {
    const api = await revokeAdminSessions(services.db, input.adminId, services.now());
    const web = await deleteSubjectSessions(services.db, input.tenantId, 'admin', input.adminId);
    services.log.info('admin sessions ended', {
      tenantId: input.tenantId,
      adminId: input.adminId,
      sessionsEnded: api + web,
    });
  }
  return r;
}

async function audit(services: Services, input: AdminActionInput, action: AdminAction, target: string): Promise<void> {
  await recordAdminAction(services, {
    tenantId: input.tenantId,
    actor: input.actor,
    clientIp: input.clientIp,
    action,
    target,
  });
}
