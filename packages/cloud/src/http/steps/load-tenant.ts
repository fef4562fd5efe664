/**
 * load-tenant + check-tenant-access: find the `:tenant` of the path and decide whether the caller
 * may act in it. A tenant-scoped caller asking about another tenant gets the same 404 as for a
 * tenant that does not exist, so tenants cannot be discovered by probing.
 */
import { canInTenant, type Principal, type TenantPermission } from '../../auth/principal.js';
import { CloudError } from '../../errors.js';
import { findTenant, type Tenant } from '../../tenants/tenants.js';
import type { Services } from '../../services.js';
import { requirePrincipal } from './check-auth.js';

const notFound = (): CloudError => new CloudError('not_found', 'no such tenant');

export async function loadTenant(services: Services, ref: string): Promise<Tenant> {
  const tenant = await findTenant(services.db, ref);
  if (!tenant) throw notFound();
  return tenant;
}

export function checkTenantAccess(p: Principal | null, tenant: Tenant, perm: TenantPermission): void {
  switch (canInTenant(requirePrincipal(p), tenant.id, perm)) {
    case 'yes':
      return;
    case 'not_member':
      throw notFound();
    case 'not_allowed':
      throw new CloudError('forbidden', `this needs the ${perm} permission`);
  }
}

/** Load the tenant and check access in one step, checking membership before existence is revealed. */
export async function loadTenantFor(
  services: Services,
  p: Principal | null,
  ref: string,
  perm: TenantPermission,
): Promise<Tenant> {
  const caller = requirePrincipal(p);
  const tenant = await findTenant(services.db, ref);
  // A tenant-scoped caller learns nothing about other tenants: missing and foreign look the same.
  if (!tenant) throw notFound();
  checkTenantAccess(caller, tenant, perm);
  return tenant;
}
