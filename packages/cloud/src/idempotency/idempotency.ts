/**
 * Idempotency keys on the API's write routes (issue 11): a caller that lost the connection sends
 * the same request again with the same `Idempotency-Key` and gets the first attempt's answer,
 * never a second write.
 *
 *   no row ──claim──▶ running (claim token, lease renewed while it runs)
 *                        ├─answer──────────────▶ done (status + sealed answer) ─▶ replayed
 *                        ├─"try again later"───▶ (row deleted: as if never sent)
 *                        └─no answer (5xx, node died: lease runs out)
 *                              └─▶ answered from the audit record of its directory write, if it
 *                                  made one (`outcome_unknown` while that is pending), else 409
 *                                  `idempotency_outcome_unknown`; never run again
 *
 * Only the claim runs the request: a second request with the key waits for the answer (in this
 * process on the claim's promise, across nodes by reading the row), and answers 409 `conflict`
 * with Retry-After once it has waited long enough. A request that differs (route, path, query or
 * body) answers 422 `idempotency_key_reused`. Keys are per tenant and caller (an API key, an
 * admin: not the session, so a new session sees its earlier answers; unauthenticated routes share
 * one caller and rely on the fingerprint, which covers the credentials in their body).
 *
 * Secrets: the fingerprint is an HMAC (a key derived from the cloud signing key) of the canonical
 * JSON of the parsed request, so the store holds nothing a password can be guessed against
 * offline; the answer is sealed (AES-256-GCM, keys/sealing.ts) bound to its tenant, caller, key
 * and fingerprint, because answers may carry what is shown once (a generated temporaryPassword, a
 * new API key, an agent token, an authenticator key). A replay shows it again, to the same caller
 * with the same request, within 24 h.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, OperationNameSchema, type Logger } from '@writeback/protocol';
import { getAuditByRequestId } from '../audit/audit.js';
import { CloudError } from '../errors.js';
import type { CloudSigningKey } from '../keys/cloud-key.js';
import { macOf, seal, unseal } from '../keys/sealing.js';
import { outcomeAnswer } from '../outcomes/http.js';
import {
  abandonIdempotencyKey,
  claimIdempotencyKey,
  finishIdempotencyKey,
  getIdempotencyKey,
  linkIdempotencyWrite,
  releaseIdempotencyKey,
  renewIdempotencyLease,
  sweepIdempotencyKeys,
  type IdempotencyRecord,
  type IdempotencyScope,
} from '../store/idempotency-keys.js';
import type { Db } from '../store/index.js';
import { withWriteHook } from './write-hook.js';

export type { IdempotencyScope } from '../store/idempotency-keys.js';

/** How long a key and its answer are kept. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;
/** A running claim's lease; renewed every third of it while the request runs. */
export const IDEMPOTENCY_LEASE_MS = 10_000;
/** The header value: 1 to 255 visible ASCII characters (a UUID is the usual choice). */
export const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7E]+$/);

/** An answer as the route gave it (and as it is kept, sealed). */
export interface KeptAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const KeptAnswerSchema = z.object({
  status: z.number().int(),
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

export interface IdempotencyDeps {
  db: Db;
  cloudKey: CloudSigningKey;
  now: () => number;
  log: Logger;
  /** How long (real time) a second request waits for the first one's answer before 409. */
  waitMs: number;
  leaseMs?: number;
  /** How often a waiting request reads the row (another node's claim). Default 100 ms. */
  pollMs?: number;
}

export interface IdempotentRequest {
  scope: IdempotencyScope;
  /** The route's operation id. */
  route: string;
  /** What makes two requests the same: path parameters, query and body as the route parsed them. */
  request: unknown;
}

/** A claim this request holds: run the request inside `run`, then end it with exactly one of the others. */
export interface RunningClaim {
  /** Run the request; its directory write (if any) is noted on the key before it is recorded. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Keep the answer for replays. */
  finish(answer: KeptAnswer): Promise<void>;
  /** Forget the key (the request was refused with "try again later" and wrote nothing). */
  release(): Promise<void>;
  /** The request ended without an answer to keep (an internal error): replays answer from the audit. */
  abandon(): Promise<void>;
}

export type Begun = { kind: 'replay'; answer: KeptAnswer } | { kind: 'run'; claim: RunningClaim };

/** Drop the keys older than their lifetime (the periodic maintenance). Returns how many. */
export function sweepExpiredIdempotencyKeys(db: Db, now: number): Promise<number> {
  return sweepIdempotencyKeys(db, now - IDEMPOTENCY_KEY_TTL_MS);
}

/** The keyed hash of the request: equal for the same route, parameters, query and body. */
export function fingerprintOf(cloudKey: CloudSigningKey, route: string, request: unknown): string {
  return macOf(cloudKey.privateKey, `writeback/idempotency/v1|${route}|${canonicalJson(request)}`);
}

const sealContext = (s: IdempotencyScope, fingerprint: string): string =>
  `writeback/idempotency/v1|${s.tenantId}|${s.caller}|${s.key}|${fingerprint}`;

/** Claims running in this process, by key: their end wakes this process's waiters at once. */
const localClaims = new WeakMap<Db, Map<string, Promise<void>>>();
const localKey = (s: IdempotencyScope): string => JSON.stringify([s.tenantId, s.caller, s.key]);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Start a keyed request: either this request runs it (`run`, holding the claim), or the answer
 * to give is already known (`replay`). Throws 422 `idempotency_key_reused` for a different
 * request with the same key, 409 `conflict` (Retry-After) when the first request is still running
 * after `waitMs`, 409 `idempotency_outcome_unknown` when it ended without an answer or directory write.
 */
export async function beginIdempotent(deps: IdempotencyDeps, req: IdempotentRequest): Promise<Begun> {
  const { db, now } = deps;
  const leaseMs = deps.leaseMs ?? IDEMPOTENCY_LEASE_MS;
  const fingerprint = fingerprintOf(deps.cloudKey, req.route, req.request);
  const waitUntil = performance.now() + deps.waitMs;
  const claim = async (): Promise<string | null> => {
    const token = randomUUID();
    const t = now();
    const claimed = await claimIdempotencyKey(db, {
      ...req.scope,
      route: req.route,
      fingerprint,
      claim: token,
      leaseUntil: t + leaseMs,
      createdAt: t,
      expiredBefore: t - IDEMPOTENCY_KEY_TTL_MS,
    });
    return claimed ? token : null;
  };
  // Claim first; after that only read the row, and claim again only if it went away (released).
  let mayClaim = true;
  let claimsLeft = 3;
  for (;;) {
    if (mayClaim) {
      if (claimsLeft-- === 0)
        throw new CloudError('conflict', 'this Idempotency-Key keeps changing hands; retry later', {
          retryAfterSeconds: 1,
        });
      const token = await claim();
      if (token !== null) return { kind: 'run', claim: runningClaim(deps, req.scope, fingerprint, token, leaseMs) };
    }
    const rec = await getIdempotencyKey(db, req.scope);
    mayClaim = rec === undefined;
    if (!rec) continue;
    if (rec.route !== req.route || rec.fingerprint !== fingerprint)
      throw new CloudError(
        'idempotency_key_reused',
        'this Idempotency-Key was used for a different request; use a new key for a new request',
      );
    if (rec.state === 'done') return { kind: 'replay', answer: replay(deps, rec) };
    if (rec.leaseUntil <= now()) return { kind: 'replay', answer: await unanswered(deps, rec) };
    const left = waitUntil - performance.now();
    if (left <= 0)
      throw new CloudError('conflict', 'a request with this Idempotency-Key is still running; retry later', {
        retryAfterSeconds: Math.min(5, Math.max(1, Math.ceil((rec.leaseUntil - now()) / 1000))),
      });
    // Wait for the running request: its end in this process, or the next look at the row (another node's).
    const local = localClaims.get(db)?.get(localKey(req.scope));
    await Promise.race([local ?? new Promise<never>(() => {}), sleep(Math.min(left, deps.pollMs ?? 100))]);
  }
}

function replay(deps: IdempotencyDeps, rec: IdempotencyRecord): KeptAnswer {
  const plain =
    rec.answerSealed === null
      ? null
      : unseal(deps.cloudKey.privateKey, rec.answerSealed, sealContext(rec, rec.fingerprint));
  const parsed = plain === null ? null : KeptAnswerSchema.safeParse(JSON.parse(plain));
  if (!parsed?.success)
    throw new CloudError(
      'idempotency_outcome_unknown',
      'the answer kept for this Idempotency-Key cannot be read any more (the cloud key changed); look the request up in the audit log',
    );
  const a = parsed.data;
  return {
    status: a.status,
    ...(a.body !== undefined ? { body: a.body } : {}),
    ...(a.headers ? { headers: a.headers } : {}),
  };
}

/**
 * The first request ended without an answer kept (its node died, or it failed inside): the audit
 * record of its directory write says what happened, else nobody can tell.
 */
async function unanswered(deps: IdempotencyDeps, rec: IdempotencyRecord): Promise<KeptAnswer> {
  const audit = rec.requestId === null ? undefined : await getAuditByRequestId(deps.db, rec.requestId);
  if (!audit)
    throw new CloudError(
      'idempotency_outcome_unknown',
      'the first request with this Idempotency-Key ended without an answer and made no directory write; whether it changed anything else is unknown: check, then use a new key',
    );
  const op = OperationNameSchema.safeParse(audit.action);
  // A record still pending may yet be written by the agent: not a success, not a failure.
  const result =
    audit.state === 'done' && audit.outcome !== null
      ? { outcome: audit.outcome, ...(audit.reasons ? { reasons: audit.reasons } : {}) }
      : { outcome: 'outcome_unknown' as const };
  const a = outcomeAnswer(result, audit.requestId, {
    op: op.success ? op.data : 'password.reset',
    now: deps.now(),
  });
  deps.log.info('idempotency key answered from the audit record', {
    requestId: audit.requestId,
    outcome: result.outcome,
  });
  return { status: a.status, body: a.body };
}

function runningClaim(
  deps: IdempotencyDeps,
  scope: IdempotencyScope,
  fingerprint: string,
  token: string,
  leaseMs: number,
): RunningClaim {
  const { db, log, now } = deps;
  let ended = false;
  let done: () => void = () => {};
  const ending = new Promise<void>((r) => {
    done = r;
  });
  const local = localClaims.get(db) ?? new Map<string, Promise<void>>();
  localClaims.set(db, local);
  const lk = localKey(scope);
  local.set(lk, ending);
  const timer = setInterval(
    () => {
      renewIdempotencyLease(db, scope, token, now() + leaseMs).then(
        (held) => {
          if (!held) clearInterval(timer);
        },
        (err: unknown) => log.warn('idempotency key lease not renewed', { err }),
      );
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  /** Never throws: the caller's answer goes out whatever the store does now. */
  const end = async (what: string, step: () => Promise<unknown>) => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    try {
      await step();
    } catch (err) {
      // The row keeps its lease until it runs out; replays then answer from the audit.
      log.error(`idempotency key could not be ${what}`, { err });
    } finally {
      if (local.get(lk) === ending) local.delete(lk);
      done();
    }
  };
  return {
    run: (fn) =>
      withWriteHook(async (requestId) => {
        if (!(await linkIdempotencyWrite(db, scope, token, requestId)))
          log.warn('a second directory write under one Idempotency-Key: the key answers for the first', {
            requestId,
          });
      }, fn),
    finish: (answer) =>
      end('finished', () =>
        finishIdempotencyKey(db, scope, token, {
          status: answer.status,
          answerSealed: seal(deps.cloudKey.privateKey, JSON.stringify(answer), sealContext(scope, fingerprint)),
          finishedAt: now(),
        }),
      ),
    release: () =>
      end('released', async () => {
        // A write was noted after all: keep the key, answered from the audit.
        if (!(await releaseIdempotencyKey(db, scope, token))) await abandonIdempotencyKey(db, scope, token);
      }),
    abandon: () => end('abandoned', () => abandonIdempotencyKey(db, scope, token)),
  };
}
