/**
 * Reading the audit log for the admin pages: filtered, paged listing (outcome, action, user,
 * UTC date range), a user's recent events, and the rows behind the charts. Read-only; the writing
 * side is audit/audit.ts, the queries are store/audit.ts's.
 */
import type { Db } from '../../store/index.js';
import { adminLoginsOfTenant } from '../../store/admins.js';
import {
  chartRows,
  distinctActions,
  pageRecords,
  recordsForTargets,
  type AuditFilter,
  type AuditRecord,
  type ChartPoint,
} from '../../store/audit.js';

export type { AuditFilter, AuditRecord, ChartPoint };

/** One page of the tenant's records matching the filter, and how many match in all. */
export { pageRecords as queryAudit };

/** The newest records about any of the user's names (login, UPN, mail). */
export async function auditForUser(
  db: Db,
  tenantId: string,
  names: readonly string[],
  limit: number,
): Promise<AuditRecord[]> {
  return recordsForTargets(db, tenantId, names, limit);
}

/** Actions present in the tenant's log (for the filter's choices). */
export async function auditActions(db: Db, tenantId: string): Promise<string[]> {
  return distinctActions(db, tenantId);
}

/** Minimal rows for the charts (capped; the chart says when the cap was hit). */
export async function chartPoints(
  db: Db,
  tenantId: string,
  f: AuditFilter,
  cap = 50_000,
): Promise<{ points: ChartPoint[]; capped: boolean }> {
  const rows = await chartRows(db, tenantId, f, cap + 1);
  return { points: rows.slice(0, cap), capped: rows.length > cap };
}

/** The tenant's admin logins by id (to show who acted, instead of an id). */
export async function adminLogins(db: Db, tenantId: string): Promise<Map<string, string>> {
  return adminLoginsOfTenant(db, tenantId);
}
