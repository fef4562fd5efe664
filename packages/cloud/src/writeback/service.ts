/**
 * The writeback service: one operation through the cloud, with exactly one audit record per
 * request (pending before sending, done after). It resolves the user a request names (by anchor
 * once the tenant has synced, see users/resolve.ts), hands the request to the sending gateway
 * (gateway/gateway.ts: agent choice, sealing, signing, failover and the mapping of transport
 * failures to outcomes live there) and records the cloud side of a successful write afterwards.
 */
import { randomUUID } from 'node:crypto';
import {
  OPERATION_SCHEMAS,
  type Logger,
  type OperationRequest,
  type OperationResult,
  type OutcomeCode,
  type UserRef,
} from '@writeback/protocol';
import type { RelayClient } from '@writeback/relay';
import { insertPending, sweepPending } from '../audit/audit.js';
import { createAuditCompletions } from '../audit/completions.js';
import type { Actor } from '../auth/principal.js';
import { CloudError } from '../errors.js';
import { beforeDirectoryWrite } from '../idempotency/write-hook.js';
import { createAgentGateway, type AgentGateway, type GatewayAnswer } from '../gateway/gateway.js';
import type { CloudSigningKey } from '../keys/cloud-key.js';
import type { Db } from '../store/index.js';
import type { CloudUser } from '../users/directory-users.js';
import type { UserResolver } from '../users/resolve.js';

interface WritebackCommon {
  db: Db;
  deadlineMs: number;
  now: () => number;
  log: Logger;
  /** Grace past a deadline before the sweep closes a pending record. Default 30 000. */
  pendingGraceMs?: number;
  /**
   * Where completions the store refused are kept until written (audit/completions.ts); null or
   * absent: in memory only.
   */
  outboxFile?: string | null;
  /** Retry pacing of held completions (tests shorten it). */
  completionRetry?: { firstMs?: number; maxMs?: number; forMs?: number };
  /**
   * Resolves the user a request names through the synced users (by anchor once the tenant has
   * synced) and records the cloud side of successful writes. Absent: requests go as given.
   */
  users?: UserResolver;
}

/** What the service sends through when it builds its own gateway (tests, single-purpose set-ups). */
export interface OwnGatewayDeps {
  relay: RelayClient;
  /** Loaded once at start-up; never read from the store per request. */
  cloudKey: CloudSigningKey;
  /** See GatewayDeps.relayGraceMs. Default 2 000. */
  relayGraceMs?: number;
}

/**
 * Either the gateway to send through (the process's one, shared with sync, so one ephemeral-key
 * pool serves both), or the relay and key to build one from.
 */
export type WritebackDeps = WritebackCommon & ({ gateway: AgentGateway } | OwnGatewayDeps);

/** The user a request is about, if it names one. */
function userOf(req: OperationRequest): UserRef | undefined {
  switch (req.op) {
    case 'password.reset':
    case 'password.change':
    case 'account.unlock':
    case 'credentials.verify':
    case 'policy.get':
      return req.params.user;
    default:
      return undefined;
  }
}

/** The same request naming `user` instead (only for requests that name one). */
function withUser(req: OperationRequest, user: UserRef): OperationRequest {
  // Every operation userOf answers for has params.user of this one type.
  return userOf(req) === undefined ? req : ({ ...req, params: { ...req.params, user } } as OperationRequest);
}

export interface ExecuteInput {
  tenantId: string;
  request: OperationRequest;
  actor: Actor;
  /** The user the operation is about, as the caller named it (for the audit log). */
  target?: string | null;
  /**
   * The cloud's copy of that user when the caller looked it up already in this request (null: it
   * found none): the resolver does not ask the store again. Undefined: the resolver looks it up.
   */
  knownUser?: CloudUser | null;
  clientIp?: string | null;
  /**
   * false: no audit record (only for read-only operations such as sync pulls, which would otherwise
   * fill the audit log every few seconds); the result is logged at debug level. Default true.
   */
  audit?: boolean;
  /**
   * The code the caller is told for this result, when it is not the agent's outcome (sign-in: the
   * directory's wrong_current_password is the person's invalid_credentials). The audit record then
   * says that code, one code for one event (issue 12), and keeps the agent's in its detail.
   */
  auditOutcome?: (result: OperationResult) => OutcomeCode;
}

export interface ExecuteResult {
  requestId: string;
  result: OperationResult;
  /** The agent that answered (or was last tried), if any. */
  agentId: string | null;
  latencyMs: number;
}

export interface WritebackService {
  executeOperation(input: ExecuteInput): Promise<ExecuteResult>;
  /** Close pending audit records whose deadline (plus grace) passed. Returns how many. */
  sweepPending(): Promise<number>;
  /** Resolves once what a recent write recorded about this cloud user (its cloud hash) is stored. */
  userSettled(userId: string): Promise<void>;
  /** Resolves when no audit completion is held (all were written, or handed to the outbox). */
  auditSettled(): Promise<void>;
  /** Stop retrying held completions (one last attempt each; the outbox keeps the rest). */
  close(): Promise<void>;
}

/** More held completions than this and the sweep waits (its exception list would not fit one statement). */
const MAX_HELD_FOR_SWEEP = 1_000;

export function createWritebackService(deps: WritebackDeps): WritebackService {
  const { db, now, log } = deps;
  const pendingGraceMs = deps.pendingGraceMs ?? 30_000;
  const pace = deps.completionRetry ?? {};
  const completions = createAuditCompletions({
    db,
    log,
    outboxFile: deps.outboxFile ?? null,
    ...(pace.firstMs !== undefined ? { firstRetryMs: pace.firstMs } : {}),
    ...(pace.maxMs !== undefined ? { maxRetryMs: pace.maxMs } : {}),
    ...(pace.forMs !== undefined ? { retryForMs: pace.forMs } : {}),
  });
  if (!Number.isInteger(deps.deadlineMs) || deps.deadlineMs <= 0)
    throw new TypeError('createWritebackService: deadlineMs must be a positive integer');
  const gateway =
    'gateway' in deps
      ? deps.gateway
      : createAgentGateway({
          db,
          relay: deps.relay,
          cloudKey: deps.cloudKey,
          deadlineMs: deps.deadlineMs,
          now,
          log,
          ...(deps.relayGraceMs === undefined ? {} : { relayGraceMs: deps.relayGraceMs }),
        });

  return {
    async executeOperation(given) {
      let input = given;
      let cloudUser: CloudUser | null = null;
      let unknownUser = false;
      const ref = userOf(given.request);
      if (ref && deps.users) {
        const r = await deps.users.resolve(given.tenantId, ref, given.knownUser);
        if (r.kind === 'cloud_only')
          throw new CloudError(
            'not_synced_user',
            'this user exists only in the cloud: there is no directory account to write to',
          );
        if (r.kind === 'not_found') unknownUser = true;
        else {
          input = { ...given, request: withUser(given.request, r.ref) };
          cloudUser = r.user;
        }
      }
      const startedAt = now();
      const deadline = startedAt + deps.deadlineMs;
      const requestId = randomUUID();
      const audited = input.audit !== false;
      if (!audited && OPERATION_SCHEMAS[input.request.op].writes)
        throw new TypeError('executeOperation: a writing operation is always audited');
      // A keyed request (Idempotency-Key) notes this write first, so a retry after this process
      // died answers with this record's outcome instead of writing again (idempotency/).
      if (audited && OPERATION_SCHEMAS[input.request.op].writes) await beforeDirectoryWrite(requestId);
      // Audit first: if this process dies from here on, the sweep still closes the record.
      if (audited) {
        await insertPending(db, {
          tenantId: input.tenantId,
          requestId,
          actor: input.actor,
          action: input.request.op,
          targetUser: input.target ?? null,
          clientIp: input.clientIp ?? null,
          startedAt,
          deadlineAt: deadline,
        });
      }
      // The gateway never throws: a failure mid-flight is already an outcome.
      const final: Omit<GatewayAnswer, 'requestId'> = unknownUser
        ? { result: { outcome: 'user_not_found' }, agentId: null, detail: 'not among the synced users' }
        : await gateway.send({ tenantId: input.tenantId, request: input.request, requestId, deadline });
      const finishedAt = now();
      const latencyMs = finishedAt - startedAt;
      const r = final.result;
      if (cloudUser && deps.users) deps.users.afterWrite(input.tenantId, cloudUser, input.request, r);
      if (!audited) {
        log.debug('writeback', {
          requestId,
          tenantId: input.tenantId,
          op: input.request.op,
          outcome: r.outcome,
          agentId: final.agentId,
          latencyMs,
        });
        return { requestId, result: r, agentId: final.agentId, latencyMs };
      }
      // Never throws: a completion the store refuses is held (outbox + retries) until written, so the
      // record ends with the outcome this caller is told (issue 11: it used to end outcome_unknown).
      const told = input.auditOutcome?.(r) ?? r.outcome;
      const detail = r.detail ?? final.detail;
      const completed = await completions.complete(requestId, {
        outcome: told,
        reasons: r.reasons,
        detail: told === r.outcome ? detail : `answered ${r.outcome}${detail ? `: ${detail}` : ''}`,
        agentId: final.agentId,
        latencyMs,
        finishedAt,
      });
      if (completed === 'already_done')
        log.warn('audit record was closed by the sweep before the answer arrived', { requestId });
      // Logged once the caller has sent its answer (it does in this turn): a log write is not on the answer's path.
      setImmediate(() =>
        log.info('writeback', {
          requestId,
          tenantId: input.tenantId,
          op: input.request.op,
          outcome: r.outcome,
          agentId: final.agentId,
          latencyMs,
        }),
      );
      return { requestId, result: r, agentId: final.agentId, latencyMs };
    },
    async userSettled(userId) {
      await deps.users?.settled(userId);
    },
    auditSettled: () => completions.settled(),
    close: () => completions.close(),
    async sweepPending() {
      // What a previous run left in the outbox is written before anything is called abandoned.
      await completions.recover();
      const held = completions.held();
      if (held.length > MAX_HELD_FOR_SWEEP) {
        log.warn('sweep skipped: too many audit completions held', { held: held.length });
        return 0;
      }
      const t = now();
      const n = await sweepPending(db, t - pendingGraceMs, t, held);
      if (n > 0) log.warn('closed abandoned pending audit records as outcome_unknown', { count: n });
      return n;
    },
  };
}
