/**
 * The writeback service: turns one operation into one sealed, signed request to one of the
 * tenant's agents through the relay, waits for the agent's signed answer and returns a single
 * outcome, with exactly one audit record per request (pending before sending, done after).
 *
 * Failover rules (nothing may be reported as done unless an agent signed it):
 * - `unavailable`: nothing was sent, so the next agent is tried while the deadline allows;
 * - `lost` or an answer that fails verification: for a writing op the write may have happened
 *   (the relay could be lying too), so the outcome is `outcome_unknown`; a read is retried on the
 *   next agent;
 * - `timeout` → `timeout`; `rejected` → `request_rejected` (the agent refused before acting).
 */
import { randomUUID } from 'node:crypto';
import {
  EphemeralPool,
  OPERATION_SCHEMAS,
  publicKeyObject,
  sealRequest,
  verifyParsedResponse,
  type Logger,
  type OperationRequest,
  type OperationResult,
  type RequestEnvelope,
  type UserRef,
} from '@writeback/protocol';
import type { AgentPresence, RelayAnswer, RelayClient } from '@writeback/relay';
import { listTenantAgents, type RegisteredAgent } from '../agents/registry.js';
import { finishRecord, insertPending, sweepPending } from '../audit/audit.js';
import type { Actor } from '../auth/principal.js';
import type { CloudSigningKey } from '../keys/cloud-key.js';
import { CloudError } from '../errors.js';
import type { Db } from '../store/index.js';
import type { CloudUser } from '../users/directory-users.js';
import type { UserResolver } from '../users/resolve.js';

export interface WritebackDeps {
  db: Db;
  relay: RelayClient;
  /** Loaded once at start-up; never read from the store per request. */
  cloudKey: CloudSigningKey;
  deadlineMs: number;
  now: () => number;
  log: Logger;
  /**
   * How long past the deadline the service still waits for the relay's own answer before it stops
   * waiting itself (a relay that never answers must not hold a request forever). Default 2 000.
   */
  relayGraceMs?: number;
  /** Grace past a deadline before the sweep closes a pending record. Default 30 000. */
  pendingGraceMs?: number;
  /**
   * Resolves the user a request names through the synced users (by anchor once the tenant has
   * synced) and records the cloud side of successful writes. Absent: requests go as given.
   */
  users?: UserResolver;
}

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
  clientIp?: string | null;
  /**
   * false: no audit record (only for read-only operations such as sync pulls, which would otherwise
   * fill the audit log every few seconds); the result is logged at debug level. Default true.
   */
  audit?: boolean;
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
}

interface Final {
  result: OperationResult;
  agentId: string | null;
  /** Internal detail for the audit record when the result has none of its own. */
  detail?: string;
}

const settleAfter = (ms: number): { promise: Promise<RelayAnswer>; cancel: () => void } => {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<RelayAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(timer) };
};

export function createWritebackService(deps: WritebackDeps): WritebackService {
  const { db, relay, cloudKey, now, log } = deps;
  const relayGraceMs = deps.relayGraceMs ?? 2_000;
  const pendingGraceMs = deps.pendingGraceMs ?? 30_000;
  if (!Number.isInteger(deps.deadlineMs) || deps.deadlineMs <= 0)
    throw new TypeError('createWritebackService: deadlineMs must be a positive integer');
  // The next request's ephemeral key agreement per agent, computed while waiting for this one.
  const ephemeral = new EphemeralPool();

  async function send(envelope: RequestEnvelope): Promise<RelayAnswer> {
    const guard = settleAfter(envelope.deadline - now() + relayGraceMs);
    try {
      return await Promise.race([relay.send(envelope), guard.promise]);
    } catch (err) {
      // We cannot tell whether the relay delivered it before failing: treat it as sent and lost.
      log.error('relay send failed', { requestId: envelope.requestId, agentId: envelope.agentId, err });
      return { kind: 'lost' };
    } finally {
      guard.cancel();
    }
  }

  async function candidates(tenantId: string): Promise<{ presence: AgentPresence; agent: RegisteredAgent }[]> {
    let presence: AgentPresence[];
    try {
      presence = await relay.listAgents(tenantId);
    } catch (err) {
      log.error('relay listAgents failed', { tenantId, err });
      return [];
    }
    const registered = new Map((await listTenantAgents(db, tenantId)).map((a) => [a.id, a]));
    const seen = new Set<string>();
    const out: { presence: AgentPresence; agent: RegisteredAgent }[] = [];
    for (const p of presence) {
      const agent = registered.get(p.agentId);
      // Only agents this store knows, of this tenant, not revoked: the relay's list is not trusted for that.
      if (!agent || p.tenantId !== tenantId || seen.has(p.agentId)) continue;
      seen.add(p.agentId);
      out.push({ presence: p, agent });
    }
    return out;
  }

  async function run(input: ExecuteInput, requestId: string, deadline: number): Promise<Final> {
    const { request, tenantId } = input;
    const writes = OPERATION_SCHEMAS[request.op].writes;
    const list = await candidates(tenantId);
    if (list.length === 0)
      return {
        result: { outcome: 'agent_unavailable' },
        agentId: null,
        detail: 'no registered agent of the tenant is connected',
      };
    let sent = false;
    let lastAgent: string | null = null;
    for (const { agent } of list) {
      if (now() >= deadline) break;
      let envelope: RequestEnvelope;
      try {
        envelope = sealRequest({
          request,
          tenantId,
          agentId: agent.id,
          agentEncryptionKey: agent.encryptionKey,
          cloudSigningKey: cloudKey.privateKey,
          deadline,
          now: now(),
          requestId,
          ephemeral,
        });
      } catch (err) {
        log.error('could not seal a request for an agent; trying the next', { requestId, agentId: agent.id, err });
        continue;
      }
      lastAgent = agent.id;
      const answer = await send(envelope);
      switch (answer.kind) {
        case 'response': {
          try {
            const env = verifyParsedResponse(answer.envelope, {
              requestId,
              tenantId,
              agentId: agent.id,
              op: request.op,
              agentVerifyKey: publicKeyObject('Ed25519', agent.signingKey),
            });
            return { result: env.result, agentId: agent.id };
          } catch (err) {
            log.error('agent answer failed verification', { requestId, agentId: agent.id, err });
            if (writes)
              return {
                result: { outcome: 'outcome_unknown' },
                agentId: agent.id,
                detail: 'the answer did not verify with the agent key',
              };
            sent = true;
            continue;
          }
        }
        case 'rejected':
          return {
            result: { outcome: 'request_rejected' },
            agentId: agent.id,
            detail: `the agent refused the request (${answer.code})`,
          };
        case 'unavailable':
          continue;
        case 'timeout':
          return { result: { outcome: 'timeout' }, agentId: agent.id, detail: 'no answer before the deadline' };
        case 'lost':
          if (writes)
            return {
              result: { outcome: 'outcome_unknown' },
              agentId: agent.id,
              detail: 'the connection to the agent was lost after sending',
            };
          sent = true;
          continue;
      }
    }
    if (sent && now() >= deadline)
      return { result: { outcome: 'timeout' }, agentId: lastAgent, detail: 'no agent answered before the deadline' };
    return {
      result: { outcome: 'agent_unavailable' },
      agentId: lastAgent,
      detail: sent ? 'every agent lost the request' : 'no agent could take the request',
    };
  }

  return {
    async executeOperation(given) {
      let input = given;
      let cloudUser: CloudUser | null = null;
      let unknownUser = false;
      const ref = userOf(given.request);
      if (ref && deps.users) {
        const r = await deps.users.resolve(given.tenantId, ref);
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
      let final: Final;
      try {
        final = unknownUser
          ? { result: { outcome: 'user_not_found' }, agentId: null, detail: 'not among the synced users' }
          : await run(input, requestId, deadline);
      } catch (err) {
        // A bug or a store failure mid-flight: a write may have been sent, so never claim otherwise.
        log.error('writeback failed unexpectedly', { requestId, err });
        final = {
          result: { outcome: OPERATION_SCHEMAS[input.request.op].writes ? 'outcome_unknown' : 'agent_unavailable' },
          agentId: null,
          detail: 'internal error',
        };
      }
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
      try {
        const applied = await finishRecord(db, requestId, {
          outcome: r.outcome,
          reasons: r.reasons,
          detail: r.detail ?? final.detail,
          agentId: final.agentId,
          latencyMs,
          finishedAt,
        });
        if (!applied) log.warn('audit record was closed by the sweep before the answer arrived', { requestId });
      } catch (err) {
        log.error('could not finish the audit record; the sweep will close it', { requestId, err });
      }
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
    async sweepPending() {
      const t = now();
      const n = await sweepPending(db, t - pendingGraceMs, t);
      if (n > 0) log.warn('closed abandoned pending audit records as outcome_unknown', { count: n });
      return n;
    },
  };
}
