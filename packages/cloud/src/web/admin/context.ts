/**
 * What a signed-in admin page knows about its request: the tenant, the admin account (role read
 * afresh on every request) and the web session. Its own module so that the guard (which makes it)
 * and the layout (which renders navigation from it) both import it without importing each other.
 */
import type { AdminRole } from '../../auth/admins.js';
import type { Tenant } from '../../tenants/tenants.js';
import type { WebSession } from '../session.js';

export interface AdminAccount {
  id: string;
  login: string;
  role: AdminRole;
}

export interface AdminContext {
  tenant: Tenant;
  admin: AdminAccount;
  session: WebSession;
  /** `/t/<slug>/admin` */
  base: string;
}
