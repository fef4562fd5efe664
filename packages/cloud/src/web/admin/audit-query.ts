/**
 * Reading the audit log for the admin pages: filtered, paged listing (outcome, action, user,
 * UTC date range), a user's recent events, and the rows behind the charts. Read-only; the writing
 * side is audit/audit.ts.
 */
import { z } from 'zod';
import { OutcomeCodeSchema, type OutcomeCode } from '@writeback/protocol';
import { auditWhere, selectAudit, type AuditFilter, type AuditRecord } from '../../audit/audit.js';
import { parseRows, type Db } from '../../store/index.js';

export type { AuditFilter, AuditRecord };

export async function queryAudit(
  db: Db,
  tenantId: string,
  f: AuditFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: AuditRecord[]; total: number }> {
  const w = auditWhere(tenantId, f);
  const count = await db.one(`SELECT COUNT(*) AS n FROM audit WHERE ${w.sql}`, w.params);
  const rows = await selectAudit(
    db,
    w.sql,
    [...w.params, page.limit, page.offset],
    'ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?',
  );
  return { rows, total: Number(count?.n ?? 0) };
}

/** The newest records about any of the user's names (login, UPN, mail). */
export async function auditForUser(
  db: Db,
  tenantId: string,
  names: readonly string[],
  limit: number,
): Promise<AuditRecord[]> {
  const keys = [...new Set(names.filter((n) => n.length > 0).map((n) => n.toLowerCase()))];
  if (keys.length === 0) return [];
  const marks = keys.map(() => '?').join(', ');
  return selectAudit(
    db,
    `tenant_id = ? AND LOWER(target_user) IN (${marks})`,
    [tenantId, ...keys, limit],
    'ORDER BY started_at DESC, id DESC LIMIT ?',
  );
}

/** Actions present in the tenant's log (for the filter's choices). */
export async function auditActions(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.query('SELECT DISTINCT action FROM audit WHERE tenant_id = ? ORDER BY action', [tenantId]);
  return rows.map((r) => String(r.action));
}

export interface ChartPoint {
  startedAt: number;
  action: string;
  outcome: OutcomeCode | null;
}

const PointRow = z.object({
  started_at: z.coerce.number(),
  action: z.string(),
  outcome: OutcomeCodeSchema.nullable().catch(null),
});

/** Minimal rows for the charts (capped; the chart says when the cap was hit). */
export async function chartPoints(
  db: Db,
  tenantId: string,
  f: AuditFilter,
  cap = 50_000,
): Promise<{ points: ChartPoint[]; capped: boolean }> {
  const w = auditWhere(tenantId, f);
  const rows = parseRows(
    PointRow,
    await db.query(`SELECT started_at, action, outcome FROM audit WHERE ${w.sql} ORDER BY started_at DESC LIMIT ?`, [
      ...w.params,
      cap + 1,
    ]),
  );
  return {
    points: rows.slice(0, cap).map((r) => ({ startedAt: r.started_at, action: r.action, outcome: r.outcome })),
    capped: rows.length > cap,
  };
}

/** The tenant's admin logins by id (to show who acted, instead of an id). */
export async function adminLogins(db: Db, tenantId: string): Promise<Map<string, string>> {
  const rows = await db.query('SELECT id, login FROM admins WHERE tenant_id = ?', [tenantId]);
  return new Map(rows.map((r) => [String(r.id), String(r.login)]));
}
