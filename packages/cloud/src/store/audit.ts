/**
 * The audit repository: one record per writeback request (and per admin action), written
 * `pending` first and moved to `done` once, by one conditional UPDATE, whoever gets there first
 * (the request or the sweep). The readers' queries are here too: the API's keyset pages, the admin
 * pages' filtered offset pages, a user's recent events and the charts' minimal rows. What a record
 * means is audit/audit.ts's; filters arrive as values and become SQL only in this module.
 */
import { z } from 'zod';
import { OutcomeCodeSchema, PolicyReasonSchema, type OutcomeCode, type PolicyReason } from '@writeback/protocol';
import { changedOne, rowOf, selectAll, type Db, type SqlValue } from './db.js';

export type AuditState = 'pending' | 'done';

/** Who did something, as the log records it (auth/principal.ts's Actor). */
export interface AuditActor {
  kind: 'api_key' | 'admin' | 'user' | 'system';
  id: string;
}

export interface AuditRecord {
  id: string;
  tenantId: string;
  requestId: string;
  actor: AuditActor;
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

const Records = rowOf({
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
  latency_ms: z.coerce.number().nullable(),
  started_at: z.coerce.number(),
  deadline_at: z.coerce.number(),
  finished_at: z.coerce.number().nullable(),
  state: z.enum(['pending', 'done']),
  client_ip: z.string().nullable(),
});

const Row = Records.schema.transform(
  ({ actorKind, actorId, ...r }): AuditRecord => ({ ...r, actor: { kind: actorKind, id: actorId } }),
);

async function select(db: Db, where: string, params: readonly SqlValue[], tail = ''): Promise<AuditRecord[]> {
  return selectAll(db, Row, `SELECT ${Records.columns} FROM audit WHERE ${where} ${tail}`, params);
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
function filterWhere(tenantId: string, f: AuditFilter): { sql: string; params: SqlValue[] } {
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

// ---- writing -------------------------------------------------------------------------------

/** What a record holds from the start (the rest is set when it is done). */
export type PendingRecord = Pick<
  AuditRecord,
  'id' | 'tenantId' | 'requestId' | 'actor' | 'action' | 'targetUser' | 'clientIp' | 'startedAt' | 'deadlineAt'
>;

/** Write a pending record; a duplicate request id is a `conflict`. */
export async function insertPendingRecord(db: Db, p: PendingRecord): Promise<void> {
  await db.exec(
    `INSERT INTO audit (id, tenant_id, request_id, actor_kind, actor_id, action, target_user, started_at, deadline_at, state, client_ip)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    [
      p.id,
      p.tenantId,
      p.requestId,
      p.actor.kind,
      p.actor.id,
      p.action,
      p.targetUser,
      p.startedAt,
      p.deadlineAt,
      p.clientIp,
    ],
  );
}

export interface DoneFields {
  outcome: OutcomeCode;
  reasons: readonly PolicyReason[] | null;
  detail: string | null;
  agentId: string | null;
  latencyMs: number;
  finishedAt: number;
}

/** Set a record done with `f`, where `where` holds (its parameters after f's). */
function setDone(db: Db, f: DoneFields, where: string, params: readonly SqlValue[]): Promise<boolean> {
  return changedOne(
    db,
    `UPDATE audit SET state = 'done', outcome = ?, reasons = ?, detail = ?, agent_id = ?, latency_ms = ?, finished_at = ?
     WHERE ${where}`,
    [
      f.outcome,
      f.reasons?.length ? JSON.stringify(f.reasons) : null,
      f.detail,
      f.agentId,
      f.latencyMs,
      f.finishedAt,
      ...params,
    ],
  );
}

/** Move the pending record of a request to done; false when it was done already. */
export async function markRecordDone(db: Db, requestId: string, f: DoneFields): Promise<boolean> {
  return setDone(db, f, "request_id = ? AND state = 'pending'", [requestId]);
}

/**
 * Move a request's record to done even when a sweep closed it first as `outcome_unknown` with
 * `sweptDetail` (and no agent): for a completion the request's own process held back because the
 * store failed, which knows what the sweep could only call unknown. Any other done record stays.
 */
export async function markRecordDoneOverSweep(
  db: Db,
  requestId: string,
  f: DoneFields,
  sweptDetail: string,
): Promise<boolean> {
  return setDone(
    db,
    f,
    `request_id = ? AND (state = 'pending'
       OR (state = 'done' AND outcome = 'outcome_unknown' AND agent_id IS NULL AND detail = ?))`,
    [requestId, sweptDetail],
  );
}

/**
 * Close, as `outcome_unknown` with `detail`, the pending records whose deadline is before
 * `before`, except those of the request ids in `except` (their completion is still on its way).
 */
export async function closeAbandonedRecords(
  db: Db,
  before: number,
  now: number,
  detail: string,
  except: readonly string[] = [],
): Promise<number> {
  const keep = except.length > 0 ? ` AND request_id NOT IN (${except.map(() => '?').join(', ')})` : '';
  const r = await db.exec(
    `UPDATE audit SET state = 'done', outcome = 'outcome_unknown', detail = ?, finished_at = ?, latency_ms = ? - started_at
     WHERE state = 'pending' AND deadline_at < ?${keep}`,
    [detail, now, now, before, ...except],
  );
  return r.changes;
}

// ---- reading -------------------------------------------------------------------------------

export async function getRecordByRequestId(db: Db, requestId: string): Promise<AuditRecord | undefined> {
  return (await select(db, 'request_id = ?', [requestId]))[0];
}

/** Where a keyset page goes on: the (startedAt, id) of the previous page's last record. */
export interface AuditPosition {
  startedAt: number;
  id: string;
}

/** Up to `limit` of the tenant's matching records, newest first, strictly after `after` when given. */
export async function listRecordsAfter(
  db: Db,
  tenantId: string,
  f: AuditFilter,
  limit: number,
  after?: AuditPosition,
): Promise<AuditRecord[]> {
  const w = filterWhere(tenantId, f);
  if (after !== undefined) {
    w.sql += ' AND (started_at < ? OR (started_at = ? AND id < ?))';
    w.params.push(after.startedAt, after.startedAt, after.id);
  }
  return select(db, w.sql, [...w.params, limit], 'ORDER BY started_at DESC, id DESC LIMIT ?');
}

/** One page of the tenant's matching records, newest first, and how many match in all. */
export async function pageRecords(
  db: Db,
  tenantId: string,
  f: AuditFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: AuditRecord[]; total: number }> {
  const w = filterWhere(tenantId, f);
  const count = await db.one(`SELECT COUNT(*) AS n FROM audit WHERE ${w.sql}`, w.params);
  const rows = await select(
    db,
    w.sql,
    [...w.params, page.limit, page.offset],
    'ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?',
  );
  return { rows, total: Number(count?.n ?? 0) };
}

/** The newest records whose target is any of `names` (case-insensitive). */
export async function recordsForTargets(
  db: Db,
  tenantId: string,
  names: readonly string[],
  limit: number,
): Promise<AuditRecord[]> {
  const keys = [...new Set(names.filter((n) => n.length > 0).map((n) => n.toLowerCase()))];
  if (keys.length === 0) return [];
  const marks = keys.map(() => '?').join(', ');
  return select(
    db,
    `tenant_id = ? AND LOWER(target_user) IN (${marks})`,
    [tenantId, ...keys, limit],
    'ORDER BY started_at DESC, id DESC LIMIT ?',
  );
}

/** Actions present in the tenant's log, sorted. */
export async function distinctActions(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.query('SELECT DISTINCT action FROM audit WHERE tenant_id = ? ORDER BY action', [tenantId]);
  return rows.map((r) => String(r.action));
}

export interface ChartPoint {
  startedAt: number;
  action: string;
  outcome: OutcomeCode | null;
}

const Points = rowOf({
  started_at: z.coerce.number(),
  action: z.string(),
  outcome: OutcomeCodeSchema.nullable().catch(null),
});

/** At most `limit` minimal rows of the matching records, newest first. */
export async function chartRows(db: Db, tenantId: string, f: AuditFilter, limit: number): Promise<ChartPoint[]> {
  const w = filterWhere(tenantId, f);
  return selectAll(
    db,
    Points.schema,
    `SELECT ${Points.columns} FROM audit WHERE ${w.sql} ORDER BY started_at DESC LIMIT ?`,
    [...w.params, limit],
  );
}
