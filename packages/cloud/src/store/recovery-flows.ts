/**
 * The recovery flow persister (table `web_flows`): the stored record of a self-service reset, its
 * secret kept only as a hash. State changes are compare-and-set on the state the caller saw, and a
 * guess is counted with one atomic increment-and-check before it is evaluated
 * (`UPDATE … SET failures = failures + 1 WHERE … AND failures < ? RETURNING failures`), so the
 * limit holds under concurrent submissions and across nodes. The state machine itself (which
 * transitions are allowed, `assertValid`) is in usecases/recovery/flow.ts.
 */
import { z } from 'zod';
import { changedOne, jsonColumn, parseRow, rowOf, selectOne, type Db } from './db.js';
import { METHOD_KINDS, type MethodKind } from './user-methods.js';

export const RECOVERY_FLOW_STATES = [
  'choose_method',
  'sent_code',
  'verifying',
  'verified',
  'done',
  'failed',
  'expired',
] as const;
export type RecoveryFlowState = (typeof RECOVERY_FLOW_STATES)[number];

export interface RecoveryFlowRecord {
  id: string;
  tenantId: string;
  /** The user's key in the pages' tables; null for an unknown or out-of-scope user name. */
  userKey: string | null;
  /** The user name as the directory is asked about it. */
  login: string;
  state: RecoveryFlowState;
  /** The method being answered (in `sent_code` / `verifying`). */
  method: MethodKind | null;
  /** The security questions asked, fixed per flow (ids; their vocabulary is the use case's). */
  questions: string[];
  /** Methods passed so far. */
  verified: MethodKind[];
  /** How many methods must pass. */
  required: number;
  csrfToken: string;
  /** Guesses counted (wrong answers, and answers being evaluated right now). */
  attempts: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

/** What a transition may change. */
export type RecoveryFlowChange = Pick<RecoveryFlowRecord, 'state' | 'method' | 'questions' | 'verified'>;

export interface RecoveryFlowPersister {
  create(flow: RecoveryFlowRecord, secretHash: string): Promise<void>;
  /** The flow and its secret's hash, or null. */
  get(id: string): Promise<{ flow: RecoveryFlowRecord; secretHash: string } | null>;
  /** Apply `change` only if the stored state is still `from` (compare-and-set); false otherwise. */
  transition(id: string, from: RecoveryFlowState, change: RecoveryFlowChange, now: number): Promise<boolean>;
  /**
   * Count one guess, atomically, only while the flow is in state `inState` and has fewer than
   * `limit` guesses counted. Returns the count including this guess, or null when none is left.
   */
  reserveAttempt(id: string, inState: RecoveryFlowState, limit: number, now: number): Promise<number | null>;
  /** Give a counted guess back (it was right: only wrong answers stay counted). */
  releaseAttempt(id: string, now: number): Promise<void>;
  /** Delete flows that expired before `before`. */
  deleteExpired(before: number): Promise<number>;
}

const Data = z.object({
  current: z.enum(METHOD_KINDS).optional(),
  questions: z.array(z.string()).optional(),
  endedBy: z.enum(['failures', 'time']).optional(),
});

/** States written before the state machine had `choose_method`/`sent_code`/`verifying`/`failed` (flows live 15 minutes). */
function currentState(stored: string, data: z.infer<typeof Data>): RecoveryFlowState | null {
  const known = z.enum(RECOVERY_FLOW_STATES).safeParse(stored);
  if (known.success) return known.data;
  if (stored === 'started')
    return data.current === undefined
      ? 'choose_method'
      : data.current === 'email' || data.current === 'sms'
        ? 'sent_code'
        : 'verifying';
  return null;
}

const Flows = rowOf({
  id: z.string(),
  secret_hash: z.string(),
  tenant_id: z.string(),
  user_key: z.string().nullable(),
  login: z.string(),
  state: z.string(),
  verified: jsonColumn(z.array(z.enum(METHOD_KINDS)), () => []),
  required: z.coerce.number(),
  csrf_token: z.string(),
  failures: z.coerce.number(),
  data: jsonColumn(Data, () => ({})),
  created_at: z.coerce.number(),
  updated_at: z.coerce.number(),
  expires_at: z.coerce.number(),
});

const FlowRow = Flows.schema.transform(({ secretHash, state, data, failures, ...r }) => {
  const legacyLocked = state === 'expired' && data.endedBy === 'failures';
  const flow: RecoveryFlowRecord = {
    ...r,
    // A state this code does not know reads as ended.
    state: legacyLocked ? 'failed' : (currentState(state, data) ?? 'expired'),
    method: data.current ?? null,
    questions: data.questions ?? [],
    attempts: failures,
  };
  return { flow, secretHash };
});

const AttemptsRow = z.object({ failures: z.coerce.number() });

const dataOf = (c: Pick<RecoveryFlowRecord, 'method' | 'questions'>): string =>
  JSON.stringify({
    ...(c.method ? { current: c.method } : {}),
    ...(c.questions.length > 0 ? { questions: c.questions } : {}),
  });

/** The persister on either engine (the SQL is the subset SQLite ≥ 3.35 and PostgreSQL share). */
export function recoveryFlowPersister(db: Db): RecoveryFlowPersister {
  return {
    async create(f, secretHash) {
      await db.exec(
        `INSERT INTO web_flows (id, secret_hash, tenant_id, kind, user_key, login, state, verified, required, csrf_token, failures, data, created_at, updated_at, expires_at)
         VALUES (?, ?, ?, 'reset', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          f.id,
          secretHash,
          f.tenantId,
          f.userKey,
          f.login,
          f.state,
          JSON.stringify(f.verified),
          f.required,
          f.csrfToken,
          f.attempts,
          dataOf(f),
          f.createdAt,
          f.updatedAt,
          f.expiresAt,
        ],
      );
    },

    async get(id) {
      const sql = `SELECT ${Flows.columns} FROM web_flows WHERE id = ? AND kind = 'reset'`;
      return (await selectOne(db, FlowRow, sql, [id])) ?? null;
    },

    async transition(id, from, change, now) {
      return changedOne(
        db,
        'UPDATE web_flows SET state = ?, verified = ?, data = ?, updated_at = ? WHERE id = ? AND state = ?',
        [change.state, JSON.stringify(change.verified), dataOf(change), now, id, from],
      );
    },

    async reserveAttempt(id, inState, limit, now) {
      const row = await db.one(
        'UPDATE web_flows SET failures = failures + 1, updated_at = ? WHERE id = ? AND state = ? AND failures < ? RETURNING failures',
        [now, id, inState, limit],
      );
      return row ? parseRow(AttemptsRow, row).failures : null;
    },

    async releaseAttempt(id, now) {
      await db.exec('UPDATE web_flows SET failures = failures - 1, updated_at = ? WHERE id = ? AND failures > 0', [
        now,
        id,
      ]);
    },

    async deleteExpired(before) {
      return (await db.exec('DELETE FROM web_flows WHERE expires_at <= ?', [before])).changes;
    },
  };
}
