/**
 * Reading the audit log for the admin pages: filtered, paged listing (outcome, action, user,
 * UTC date range), a user's recent events, and the rows behind the charts. Read-only; the writing
 * side is audit/audit.ts.
 */
import { z } from 'zod';
import { OutcomeCodeSchema, type OutcomeCode } from '@writeback/protocol';
import { parseRows, type Db, type SqlValue } from '../../store/index.js';

export interface AuditRow {
  id: string;
  requestId: string;
  actorKind: string;
  actorId: string;
  action: string;
  targetUser: string | null;
  agentId: string | null;
  outcome: OutcomeCode | null;
  reasons: string[];
  detail: string | null;
  latencyMs: number | null;
  startedAt: number;
  finishedAt: number | null;
  state: 'pending' | 'done';
  clientIp: string | null;
}

const Reasons = z
  .string()
  .nullable()
  .transform((s): string[] => {
    if (!s) return [];
    try {
      const r = z.array(z.string()).safeParse(JSON.parse(s));
      return r.success ? r.data : [];
    } catch {
      return [];
    }
  });

const Row = z
  .object({
    id: z.string(),
    request_id: z.string(),
    actor_kind: z.string(),
    actor_id: z.string(),
    action: z.string(),
    target_user: z.string().nullable(),
    agent_id: z.string().nullable(),
    outcome: OutcomeCodeSchema.nullable().catch(null),
    reasons: Reasons,
    detail: z.string().nullable(),
    latency_ms: z.coerce.number().nullable(),
    started_at: z.coerce.number(),
    finished_at: z.coerce.number().nullable(),
    state: z.enum(['pending', 'done']),
    client_ip: z.string().nullable(),
  })
  .transform(
    (r): AuditRow => ({
      id: r.id,
      requestId: r.request_id,
      actorKind: r.actor_kind,
      actorId: r.actor_id,
      action: r.action,
      targetUser: r.target_user,
      agentId: r.agent_id,
      outcome: r.outcome,
      reasons: r.reasons,
      detail: r.detail,
      latencyMs: r.latency_ms,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      state: r.state,
      clientIp: r.client_ip,
    }),
  );

const COLUMNS = 'id, request_id, actor_kind, actor_id, action, target_user, agent_id, outcome, reasons, detail, latency_ms, started_at, finished_at, state, client_ip';

export interface AuditFilter {
  /** An outcome code, or `pending` for records without one yet. */
  outcome?: OutcomeCode | 'pending' | undefined;
  action?: string | undefined;
  /** Target user (exact, case-insensitive). */
  user?: string | undefined;
  /** Inclusive start, exclusive end (ms). */
  from?: number | undefined;
  to?: number | undefined;
}

function whereOf(tenantId: string, f: AuditFilter): { sql: string; params: SqlValue[] } {
  const where = ['tenant_id = ?'];
  const params: SqlValue[] = [tenantId];
  if (f.outcome === 'pending') where.push("state = 'pending'");
  else if (f.outcome) {
    where.push('outcome = ?');
    params.push(f.outcome);
  }
  if (f.action) {
    where.push('action = ?');
    params.push(f.action);
  }
  if (f.user) {
    where.push('LOWER(target_user) = ?');
    params.push(f.user.toLowerCase());
  }
  if (f.from !== undefined) {
    where.push('started_at >= ?');
    params.push(f.from);
  }
  if (f.to !== undefined) {
    where.push('started_at < ?');
    params.push(f.to);
  }
  return { sql: where.join(' AND '), params };
}

export async function queryAudit(db: Db, tenantId: string, f: AuditFilter, page: { limit: number; offset: number }): Promise<{ rows: AuditRow[]; total: number }> {
  const w = whereOf(tenantId, f);
  const count = await db.one(`SELECT COUNT(*) AS n FROM audit WHERE ${w.sql}`, w.params);
  const rows = parseRows(Row, await db.query(`SELECT ${COLUMNS} FROM audit WHERE ${w.sql} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, [...w.params, page.limit, page.offset]));
  return { rows, total: Number(count?.n ?? 0) };
}

/** The newest records about any of the user's names (login, UPN, mail). */
export async function auditForUser(db: Db, tenantId: string, names: readonly string[], limit: number): Promise<AuditRow[]> {
  const keys = [...new Set(names.filter((n) => n.length > 0).map((n) => n.toLowerCase()))];
  if (keys.length === 0) return [];
  const marks = keys.map(() => '?').join(', ');
  return parseRows(Row, await db.query(`SELECT ${COLUMNS} FROM audit WHERE tenant_id = ? AND LOWER(target_user) IN (${marks}) ORDER BY started_at DESC, id DESC LIMIT ?`, [tenantId, ...keys, limit]));
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

const PointRow = z.object({ started_at: z.coerce.number(), action: z.string(), outcome: OutcomeCodeSchema.nullable().catch(null) });

/** Minimal rows for the charts (capped; the chart says when the cap was hit). */
export async function chartPoints(db: Db, tenantId: string, f: AuditFilter, cap = 50_000): Promise<{ points: ChartPoint[]; capped: boolean }> {
  const w = whereOf(tenantId, f);
  const rows = parseRows(PointRow, await db.query(`SELECT started_at, action, outcome FROM audit WHERE ${w.sql} ORDER BY started_at DESC LIMIT ?`, [...w.params, cap + 1]));
  return { points: rows.slice(0, cap).map((r) => ({ startedAt: r.started_at, action: r.action, outcome: r.outcome })), capped: rows.length > cap };
}

/** The tenant's admin logins by id (to show who acted, instead of an id). */
export async function adminLogins(db: Db, tenantId: string): Promise<Map<string, string>> {
  const rows = await db.query('SELECT id, login FROM admins WHERE tenant_id = ?', [tenantId]);
  return new Map(rows.map((r) => [String(r.id), String(r.login)]));
}
