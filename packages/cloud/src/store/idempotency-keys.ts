/**
 * The idempotency_keys repository (issue 11): one row per `Idempotency-Key` a caller sent on a
 * write route, scoped by tenant and caller, holding the request's fingerprint (a keyed hash, never
 * the body: bodies carry passwords), the claim that runs it (a random token, with a lease its node
 * renews while it runs), the audit request id of the directory write it made, if any, and at the
 * end the answer, sealed by the caller of this repository (idempotency/idempotency.ts).
 *
 * Claiming is one statement: an INSERT that only a row older than the key's lifetime can be
 * replaced by (`ON CONFLICT … DO UPDATE … WHERE created_at < ?`), so of any number of requests with
 * one key, on any number of nodes, exactly one gets RETURNING's row and runs. Every later change
 * names the claim token, so a claim that was replaced (or released) changes nothing.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectOne, type Db, type SqlValue } from './db.js';

/** Where a key lives: the tenant ('' for the operator's own routes) and the caller within it. */
export interface IdempotencyScope {
  tenantId: string;
  caller: string;
  key: string;
}

export interface IdempotencyRecord extends IdempotencyScope {
  /** The route's operation id. */
  route: string;
  fingerprint: string;
  state: 'running' | 'done';
  /** The claim that runs (or ran) the request. */
  claim: string;
  leaseUntil: number;
  /** The audit record of the directory write the request made, once it made one. */
  requestId: string | null;
  status: number | null;
  answerSealed: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface NewClaim extends IdempotencyScope {
  route: string;
  fingerprint: string;
  claim: string;
  leaseUntil: number;
  createdAt: number;
  /** A row created before this is past its lifetime: the claim replaces it. */
  expiredBefore: number;
}

const Keys = rowOf({
  tenant_id: z.string(),
  caller: z.string(),
  idem_key: z.string(),
  route: z.string(),
  fingerprint: z.string(),
  state: z.enum(['running', 'done']),
  claim: z.string(),
  lease_until: z.coerce.number(),
  request_id: z.string().nullable(),
  status: z.coerce.number().nullable(),
  answer_sealed: z.string().nullable(),
  created_at: z.coerce.number(),
  finished_at: z.coerce.number().nullable(),
});

const Row = Keys.schema.transform(({ idemKey, ...r }): IdempotencyRecord => ({ ...r, key: idemKey }));

const WHERE_KEY = 'tenant_id = ? AND caller = ? AND idem_key = ?';
const keyParams = (s: IdempotencyScope) => [s.tenantId, s.caller, s.key];
/** The claim still runs the request. */
const WHERE_RUNNING = `${WHERE_KEY} AND claim = ? AND state = 'running'`;

/**
 * Run `statement` (an UPDATE's SET or a DELETE, with `values` for its parameters) on the key's row
 * while `claim` runs it and `also` holds; false when the claim no longer runs (or `also` fails).
 */
function whileRunning(
  db: Db,
  s: IdempotencyScope,
  claim: string,
  statement: string,
  values: readonly SqlValue[] = [],
  also = '',
): Promise<boolean> {
  return changedOne(db, `${statement} WHERE ${WHERE_RUNNING}${also}`, [...values, ...keyParams(s), claim]);
}

/**
 * Take the key for this request. True: this claim runs the request (the key was free, or its row
 * was past its lifetime); false: another claim holds the key (read it with `get`).
 */
export async function claimIdempotencyKey(db: Db, c: NewClaim): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO idempotency_keys
       (tenant_id, caller, idem_key, route, fingerprint, state, claim, lease_until, request_id, status,
        answer_sealed, created_at, finished_at)
     VALUES (?, ?, ?, ?, ?, 'running', ?, ?, NULL, NULL, NULL, ?, NULL)
     ON CONFLICT (tenant_id, caller, idem_key) DO UPDATE SET
       route = excluded.route, fingerprint = excluded.fingerprint, state = 'running', claim = excluded.claim,
       lease_until = excluded.lease_until, request_id = NULL, status = NULL, answer_sealed = NULL,
       created_at = excluded.created_at, finished_at = NULL
     WHERE idempotency_keys.created_at < ?
     RETURNING claim`,
    [...keyParams(c), c.route, c.fingerprint, c.claim, c.leaseUntil, c.createdAt, c.expiredBefore],
  );
  return rows.length === 1 && rows[0]?.claim === c.claim;
}

export async function getIdempotencyKey(db: Db, s: IdempotencyScope): Promise<IdempotencyRecord | undefined> {
  return selectOne(db, Row, `SELECT ${Keys.columns} FROM idempotency_keys WHERE ${WHERE_KEY}`, keyParams(s));
}

/** Extend a running claim's lease; false when the claim no longer runs. */
export async function renewIdempotencyLease(
  db: Db,
  s: IdempotencyScope,
  claim: string,
  leaseUntil: number,
): Promise<boolean> {
  return whileRunning(db, s, claim, 'UPDATE idempotency_keys SET lease_until = ?', [leaseUntil]);
}

/**
 * Note the audit request id of the directory write the running claim is about to make (the first
 * one only). False: the claim does not run any more, or a write was noted already.
 */
export async function linkIdempotencyWrite(
  db: Db,
  s: IdempotencyScope,
  claim: string,
  requestId: string,
): Promise<boolean> {
  return whileRunning(
    db,
    s,
    claim,
    'UPDATE idempotency_keys SET request_id = ?',
    [requestId],
    ' AND request_id IS NULL',
  );
}

/** Record the answer of a running claim (sealed by the caller); false when the claim no longer runs. */
export async function finishIdempotencyKey(
  db: Db,
  s: IdempotencyScope,
  claim: string,
  a: { status: number; answerSealed: string; finishedAt: number },
): Promise<boolean> {
  return whileRunning(
    db,
    s,
    claim,
    "UPDATE idempotency_keys SET state = 'done', status = ?, answer_sealed = ?, finished_at = ?",
    [a.status, a.answerSealed, a.finishedAt],
  );
}

/**
 * Give the key back, as if it had never been sent: only while the claim runs and made no directory
 * write (a refusal that said "try again later").
 */
export async function releaseIdempotencyKey(db: Db, s: IdempotencyScope, claim: string): Promise<boolean> {
  return whileRunning(db, s, claim, 'DELETE FROM idempotency_keys', [], ' AND request_id IS NULL');
}

/** End a running claim's lease now: the request ended without an answer to keep. */
export async function abandonIdempotencyKey(db: Db, s: IdempotencyScope, claim: string): Promise<boolean> {
  return whileRunning(db, s, claim, 'UPDATE idempotency_keys SET lease_until = 0');
}

/** Drop the keys created before `before` (their lifetime ago). Returns how many. */
export async function sweepIdempotencyKeys(db: Db, before: number): Promise<number> {
  return (await db.exec('DELETE FROM idempotency_keys WHERE created_at < ?', [before])).changes;
}
