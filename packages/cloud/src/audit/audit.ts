/**
 * The audit log: exactly one record per writeback request. It is written `pending` before anything
 * is sent (so a crash mid-request leaves a trace), and moved to `done` once, by whoever gets there
 * first: the request itself or the sweep that closes records abandoned past their deadline. It
 * never holds a password: only the op, the target login, the outcome, reasons and a safe detail.
 *
 *   pending ──finish(outcome)──▶ done
 *      └─────sweep(deadline passed)──▶ done (outcome_unknown) ──held completion──▶ done (outcome)
 *
 * A completion the store refused when the answer came is held by its process (completions.ts)
 * and written later; the sweep leaves a held record alone, and a held completion overwrites a
 * sweep's `outcome_unknown` (another node's sweep could not know), nothing else.
 */
import { z } from 'zod';
import type { OutcomeCode, PolicyReason } from '@writeback/protocol';
import type { Actor } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import {
  closeAbandonedRecords,
  getRecordByRequestId,
  insertPendingRecord,
  listRecordsAfter,
  markRecordDone,
  markRecordDoneOverSweep,
  type AuditFilter,
  type AuditRecord,
} from '../store/audit.js';
import type { Db } from '../store/index.js';

export type { AuditFilter, AuditRecord, AuditState } from '../store/audit.js';

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
  await insertPendingRecord(db, {
    id,
    tenantId: p.tenantId,
    requestId: p.requestId,
    actor: { kind: p.actor.kind, id: p.actor.id.slice(0, 256) },
    action: p.action,
    targetUser: p.targetUser ?? null,
    clientIp: p.clientIp ?? null,
    startedAt: p.startedAt,
    deadlineAt: p.deadlineAt,
  });
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

/** What the sweep writes into the records it closes. */
export const ABANDONED_DETAIL = 'abandoned: no outcome was recorded before the deadline';

const doneFields = (f: FinishInput) => ({
  outcome: f.outcome,
  reasons: f.reasons ?? null,
  detail: f.detail?.slice(0, 1024) ?? null,
  agentId: f.agentId ?? null,
  latencyMs: Math.max(0, Math.round(f.latencyMs)),
  finishedAt: f.finishedAt,
});

/** Move a pending record to done. Returns false when it was already done (the sweep got there first). */
export async function finishRecord(db: Db, requestId: string, f: FinishInput): Promise<boolean> {
  return markRecordDone(db, requestId, doneFields(f));
}

/**
 * Write a held completion (one the store refused when the answer came): moves a pending record
 * to done, or corrects one the sweep closed as `outcome_unknown`. False when the record is done
 * with an outcome already, or gone.
 */
export async function finishHeldRecord(db: Db, requestId: string, f: FinishInput): Promise<boolean> {
  return markRecordDoneOverSweep(db, requestId, doneFields(f), ABANDONED_DETAIL);
}

/**
 * Close records still pending whose deadline passed before `before`: their process died (or lost
 * the store) mid-request, so whether anything was written is unknown. `except`: request ids whose
 * completion this process still holds.
 */
export async function sweepPending(
  db: Db,
  before: number,
  now: number,
  except: readonly string[] = [],
): Promise<number> {
  return closeAbandonedRecords(db, before, now, ABANDONED_DETAIL, except);
}

export interface AuditQuery extends AuditFilter {
  limit: number;
  cursor?: string | undefined;
}

const CursorSchema = z.tuple([z.number().int(), z.string().max(64)]);

function decodeCursor(cursor: string): { startedAt: number; id: string } {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return { startedAt: parsed.data[0], id: parsed.data[1] };
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
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
  const rows = await listRecordsAfter(db, tenantId, q, q.limit + 1, after);
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
}

export async function getAuditByRequestId(db: Db, requestId: string): Promise<AuditRecord | undefined> {
  return getRecordByRequestId(db, requestId);
}
