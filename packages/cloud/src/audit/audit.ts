/**
 * The audit log: exactly one record per writeback request. It is written `pending` before anything
 * is sent (so a crash mid-request leaves a trace), and moved to `done` once, by whoever gets there
 * first: the request itself or the sweep that closes records abandoned past their deadline. It
 * never holds a password: only the op, the target login, the outcome, reasons and a safe detail.
 *
 *   pending ──finish(outcome)──▶ done
 *      └─────sweep(deadline passed)──▶ done (outcome_unknown)
 */
import { z } from 'zod';
import { OutcomeCodeSchema, PolicyReasonSchema, type OutcomeCode, type PolicyReason } from '@writeback/protocol';
import type { Actor } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import { parseRows, type Db, type SqlValue } from '../store/index.js';

export type AuditState = 'pending' | 'done';

export interface AuditRecord {
  id: string;
  tenantId: string;
  requestId: string;
  actor: Actor;
  action: string;
  targetUser: string | null;
  agentId: string | null;
  outcome: OutcomeCode | null;
  reasons: PolicyReason[] | null;
  detail: string | null;
  latencyMs: number | null;
  startedAt: number;
  deadlineAt: number;
  finishedAt: number | null;
  state: AuditState;
  clientIp: string | null;
}

const ReasonsJson = z
  .string()
  .nullable()
  .transform((s, ctx): PolicyReason[] | null => {
    if (s === null) return null;
    try {
      const r = z.array(PolicyReasonSchema).safeParse(JSON.parse(s));
      if (r.success) return r.data;
    } catch {
      // fall through
    }
    ctx.addIssue({ code: 'custom', message: 'reasons is not a JSON list of reasons' });
    return z.NEVER;
  });

const Row = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    request_id: z.string(),
    actor_kind: z.enum(['api_key', 'admin', 'user', 'system']),
    actor_id: z.string(),
    action: z.string(),
    target_user: z.string().nullable(),
    agent_id: z.string().nullable(),
    outcome: OutcomeCodeSchema.nullable(),
    reasons: ReasonsJson,
    detail: z.string().nullable(),
    latency_ms: z.number().nullable(),
    started_at: z.number(),
    deadline_at: z.number(),
    finished_at: z.number().nullable(),
    state: z.enum(['pending', 'done']),
    client_ip: z.string().nullable(),
  })
  .transform(
    (r): AuditRecord => ({
      id: r.id,
      tenantId: r.tenant_id,
      requestId: r.request_id,
      actor: { kind: r.actor_kind, id: r.actor_id },
      action: r.action,
      targetUser: r.target_user,
      agentId: r.agent_id,
      outcome: r.outcome,
      reasons: r.reasons,
      detail: r.detail,
      latencyMs: r.latency_ms,
      startedAt: r.started_at,
      deadlineAt: r.deadline_at,
      finishedAt: r.finished_at,
      state: r.state,
      clientIp: r.client_ip,
    }),
  );

const COLUMNS =
  'id, tenant_id, request_id, actor_kind, actor_id, action, target_user, agent_id, outcome, reasons, detail, latency_ms, started_at, deadline_at, finished_at, state, client_ip';

/** Records matching `where` (an SQL condition over the audit table built by the caller with `?` parameters). */
export async function selectAudit(
  db: Db,
  where: string,
  params: readonly SqlValue[],
  tail = '',
): Promise<AuditRecord[]> {
  return parseRows(Row, await db.query(`SELECT ${COLUMNS} FROM audit WHERE ${where} ${tail}`, [...params]));
}

/** What the readers of the log filter on (the API and the admin pages). */
export interface AuditFilter {
  /** Inclusive start, exclusive end (ms). */
  from?: number | undefined;
  to?: number | undefined;
  /** An outcome code, or `pending` for records without one yet. */
  outcome?: OutcomeCode | 'pending' | undefined;
  action?: string | undefined;
  /** Target user (exact, case-insensitive). */
  user?: string | undefined;
}

/** The SQL condition of a filter, within one tenant. */
export function auditWhere(tenantId: string, f: AuditFilter): { sql: string; params: SqlValue[] } {
  const where = ['tenant_id = ?'];
  const params: SqlValue[] = [tenantId];
  if (f.from !== undefined) {
    where.push('started_at >= ?');
    params.push(f.from);
  }
  if (f.to !== undefined) {
    where.push('started_at < ?');
    params.push(f.to);
  }
  if (f.outcome === 'pending') where.push("state = 'pending'");
  else if (f.outcome !== undefined) {
    where.push('outcome = ?');
    params.push(f.outcome);
  }
  if (f.action !== undefined) {
    where.push('action = ?');
    params.push(f.action);
  }
  if (f.user !== undefined) {
    where.push('LOWER(target_user) = ?');
    params.push(f.user.toLowerCase());
  }
  return { sql: where.join(' AND '), params };
}

export interface PendingInput {
  tenantId: string;
  requestId: string;
  actor: Actor;
  action: string;
  targetUser?: string | null;
  clientIp?: string | null;
  startedAt: number;
  deadlineAt: number;
}

/** Write the pending record; a duplicate request id is a `conflict` (request ids are never reused). */
export async function insertPending(db: Db, p: PendingInput): Promise<string> {
  const id = newId('aud');
  await db.exec(
    `INSERT INTO audit (id, tenant_id, request_id, actor_kind, actor_id, action, target_user, started_at, deadline_at, state, client_ip)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    [
      id,
      p.tenantId,
      p.requestId,
      p.actor.kind,
      p.actor.id.slice(0, 256),
      p.action,
      p.targetUser ?? null,
      p.startedAt,
      p.deadlineAt,
      p.clientIp ?? null,
    ],
  );
  return id;
}

export interface FinishInput {
  outcome: OutcomeCode;
  reasons?: readonly PolicyReason[] | undefined;
  detail?: string | undefined;
  agentId?: string | null | undefined;
  latencyMs: number;
  finishedAt: number;
}

/** Move a pending record to done. Returns false when it was already done (the sweep got there first). */
export async function finishRecord(db: Db, requestId: string, f: FinishInput): Promise<boolean> {
  const r = await db.exec(
    `UPDATE audit SET state = 'done', outcome = ?, reasons = ?, detail = ?, agent_id = ?, latency_ms = ?, finished_at = ?
     WHERE request_id = ? AND state = 'pending'`,
    [
      f.outcome,
      f.reasons?.length ? JSON.stringify(f.reasons) : null,
      f.detail?.slice(0, 1024) ?? null,
      f.agentId ?? null,
      Math.max(0, Math.round(f.latencyMs)),
      f.finishedAt,
      requestId,
    ],
  );
  return r.changes === 1;
}

/**
 * Close records still pending whose deadline passed before `before`: their process died (or lost
 * the store) mid-request, so whether anything was written is unknown.
 */
export async function sweepPending(db: Db, before: number, now: number): Promise<number> {
  const r = await db.exec(
    `UPDATE audit SET state = 'done', outcome = 'outcome_unknown', detail = 'abandoned: no outcome was recorded before the deadline', finished_at = ?, latency_ms = ? - started_at
     WHERE state = 'pending' AND deadline_at < ?`,
    [now, now, before],
  );
  return r.changes;
}

export interface AuditQuery extends AuditFilter {
  limit: number;
  cursor?: string | undefined;
}

const CursorSchema = z.tuple([z.number().int(), z.string().max(64)]);

function decodeCursor(cursor: string): [number, string] {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  throw new CloudError('invalid_request', 'the cursor is not valid', {
    details: [{ path: 'cursor', issue: 'invalid_format' }],
  });
}

const encodeCursor = (r: AuditRecord): string => Buffer.from(JSON.stringify([r.startedAt, r.id])).toString('base64url');

/** A tenant's records, newest first, one page at a time. */
export async function listAudit(
  db: Db,
  tenantId: string,
  q: AuditQuery,
): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  const w = auditWhere(tenantId, q);
  if (q.cursor !== undefined) {
    const [t, id] = decodeCursor(q.cursor);
    w.sql += ' AND (started_at < ? OR (started_at = ? AND id < ?))';
    w.params.push(t, t, id);
  }
  const rows = await selectAudit(db, w.sql, [...w.params, q.limit + 1], 'ORDER BY started_at DESC, id DESC LIMIT ?');
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
}

export async function getAuditByRequestId(db: Db, requestId: string): Promise<AuditRecord | undefined> {
  return (await selectAudit(db, 'request_id = ?', [requestId]))[0];
}
