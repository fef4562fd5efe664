/**
 * Who is calling: resolved from `Authorization: Bearer <token>` (an API key or an admin session),
 * and what each kind of caller may do in a tenant.
 */
import type { Db } from '../store/index.js';
import { authenticateApiKey } from './api-keys.js';
import { authenticateSession, type AdminRole } from './admins.js';
import { tokenPrefix } from './tokens.js';

export type Principal =
  | { kind: 'operator'; keyId: string }
  | { kind: 'tenant_key'; keyId: string; tenantId: string }
  | {
      kind: 'admin';
      sessionId: string;
      adminId: string;
      login: string;
      tenantId: string;
      role: AdminRole;
      /** No authenticator enrolled yet: the session may only enrol (http/steps/check-auth.ts checkEnrolled). */
      enrolOnly: boolean;
    };

/** Who did something, as the audit log records it. */
export type Actor = { kind: 'api_key' | 'admin' | 'user' | 'system'; id: string };

export function actorOf(p: Principal): Actor {
  return p.kind === 'admin' ? { kind: 'admin', id: p.adminId } : { kind: 'api_key', id: p.keyId };
}

export const TENANT_PERMISSIONS = [
  'users.reset',
  /** A reset that skips the password history (tenant admins only: it reopens old passwords). */
  'users.reset_without_history',
  'users.unlock',
  'users.policy',
  'audit.read',
  'agents.read',
  'agents.manage',
  'admins.manage',
  'keys.manage',
  'users.read',
  'users.manage',
  'sync.read',
  'sync.manage',
  'settings.manage',
] as const;
export type TenantPermission = (typeof TENANT_PERMISSIONS)[number];

const HELPDESK: ReadonlySet<TenantPermission> = new Set([
  'users.reset',
  'users.unlock',
  'users.policy',
  'audit.read',
  'agents.read',
  'users.read',
  'sync.read',
]);
/** The operator sets a tenant up (keys, admins) but does not act on its users. */
const OPERATOR: ReadonlySet<TenantPermission> = new Set(['admins.manage', 'keys.manage']);

export function canInTenant(
  p: Principal,
  tenantId: string,
  perm: TenantPermission,
): 'yes' | 'not_member' | 'not_allowed' {
  if (p.kind === 'operator') return OPERATOR.has(perm) ? 'yes' : 'not_allowed';
  if (p.tenantId !== tenantId) return 'not_member';
  if (p.kind === 'tenant_key') return 'yes';
  return roleAllows(p.role, perm) ? 'yes' : 'not_allowed';
}

/** What an admin role may do in its own tenant. */
export function roleAllows(role: AdminRole, perm: TenantPermission): boolean {
  return role === 'admin' || HELPDESK.has(perm);
}

/** Bearer value from an Authorization header, or null. */
export function bearerFrom(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer ([^\s]{1,512})$/i.exec(header.trim());
  return m?.[1] ?? null;
}

export async function authenticate(db: Db, token: string, now: number): Promise<Principal | null> {
  switch (tokenPrefix(token)) {
    case 'wbk': {
      const key = await authenticateApiKey(db, token, now);
      if (!key) return null;
      if (key.scope === 'operator') return { kind: 'operator', keyId: key.id };
      return key.tenantId ? { kind: 'tenant_key', keyId: key.id, tenantId: key.tenantId } : null;
    }
    case 'wbs': {
      const s = await authenticateSession(db, token, now);
      return s
        ? {
            kind: 'admin',
            sessionId: s.id,
            adminId: s.admin.id,
            login: s.admin.login,
            tenantId: s.admin.tenantId,
            role: s.admin.role,
            enrolOnly: s.enrolOnly,
          }
        : null;
    }
    default:
      return null;
  }
}
