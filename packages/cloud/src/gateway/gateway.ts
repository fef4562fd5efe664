/**
 * The sending gateway: the one way the cloud talks to a tenant's agents. Given a tenant and an
 * operation, it picks a connected agent the store knows (presence from the relay, checked against
 * the registered, non-revoked agents of that tenant), seals the secret to that agent's key, signs
 * the request with the cloud key, sends it through the relay with a deadline, opens the answer
 * (sealed under the request's answer key for agents announcing `sealedAnswers`, signed by the
 * agent's key otherwise) and returns one outcome. It knows nothing of audit records or users: the writeback service
 * (audited writes) and the sync engine (unaudited reads) both sit on top of it.
 *
 * Failover rules (nothing may be reported as done unless the agent answered it):
 * - `unavailable`: nothing was sent, so the next agent is tried while the deadline allows;
 * - `lost` or an answer that fails verification: for a writing op the write may have happened
 *   (the relay could be lying too), so the outcome is `outcome_unknown`; a read is retried on the
 *   next agent;
 * - `timeout` → `timeout`; `rejected` → `request_rejected` (the agent refused before acting);
 * - `directory_unavailable` (the agent could not reach its directory: nothing was written, the
 *   protocol's NOTHING_WRITTEN) → the next agent is tried while the deadline allows; the answer
 *   stands when no other agent answers better (issue 12).
 * Agents that report their directory down are tried last, and only one of them (issue 12: one
 * agent pointed at a wrong port failed one request in seven): their report may be stale, so when
 * no agent with a reachable directory takes the request one of them still gets it.
 * - an unexpected failure (a bug, the store) → `outcome_unknown` for a write, `agent_unavailable`
 *   for a read: `send` never throws.
 * Every `agent_unavailable` is logged with why: the agents the relays listed for the tenant (from
 * which relay, how old that news was, whether the store honours them), what each one tried said,
 * and the relay link (issue 11 item 3).
 *
 * The next request's ephemeral X25519 agreement per agent is computed while waiting for this one
 * (EphemeralPool): one gateway per process, shared by everything that sends.
 */
import { randomUUID } from 'node:crypto';
import {
  EphemeralPool,
  OPERATION_SCHEMAS,
  publicKeyObject,
  SEALED_ANSWERS_CAPABILITY,
  sealRequest,
  sealRequestForSealedAnswer,
  verifyParsedResponse,
  type Logger,
  type OperationRequest,
  type OperationResult,
  type RequestEnvelope,
} from '@writeback/protocol';
import type { AgentPresence, RelayAnswer, RelayClient } from '@writeback/relay';
import { listTenantAgents, type RegisteredAgent } from '../agents/registry.js';
import type { CloudSigningKey } from '../keys/cloud-key.js';
import type { Db } from '../store/index.js';

export interface GatewayDeps {
  db: Db;
  relay: RelayClient;
  /** Loaded once at start-up; never read from the store per request. */
  cloudKey: CloudSigningKey;
  /** Deadline of a request sent without one. */
  deadlineMs: number;
  now: () => number;
  log: Logger;
  /**
   * How long past the deadline the gateway still waits for the relay's own answer before it stops
   * waiting itself (a relay that never answers must not hold a request forever). Default 2 000.
   */
  relayGraceMs?: number;
}

export interface SendInput {
  tenantId: string;
  request: OperationRequest;
  /** Default: a new UUID. The same id travels to every agent tried (one audit record per request). */
  requestId?: string;
  /** Epoch ms. Default: now + deadlineMs. */
  deadline?: number;
}

export interface GatewayAnswer {
  requestId: string;
  result: OperationResult;
  /** The agent that answered (or was last tried), if any. */
  agentId: string | null;
  /** Internal detail for the audit record when the result has none of its own. */
  detail?: string;
}

export interface AgentGateway {
  /** Send one operation to one of the tenant's connected agents; one outcome, never a throw. */
  send(input: SendInput): Promise<GatewayAnswer>;
}

interface Candidate {
  presence: AgentPresence;
  agent: RegisteredAgent;
}

/** What the relays listed for the tenant, and why an entry was not a candidate. */
interface Listed {
  presence: AgentPresence[];
  skipped: Map<string, 'not_registered_or_revoked' | 'other_tenant' | 'duplicate' | 'directory_down'>;
  /** listAgents threw. */
  failed: boolean;
}

const settleAfter = (ms: number): { promise: Promise<RelayAnswer>; cancel: () => void } => {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<RelayAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(timer) };
};

export function createAgentGateway(deps: GatewayDeps): AgentGateway {
  const { db, relay, cloudKey, now, log } = deps;
  const relayGraceMs = deps.relayGraceMs ?? 2_000;
  if (!Number.isInteger(deps.deadlineMs) || deps.deadlineMs <= 0)
    throw new TypeError('createAgentGateway: deadlineMs must be a positive integer');
  const ephemeral = new EphemeralPool();

  async function transmit(envelope: RequestEnvelope): Promise<RelayAnswer> {
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

  async function candidates(tenantId: string): Promise<{ list: Candidate[]; listed: Listed }> {
    const listed: Listed = { presence: [], skipped: new Map(), failed: false };
    try {
      listed.presence = await relay.listAgents(tenantId);
    } catch (err) {
      log.error('relay listAgents failed', { tenantId, err });
      listed.failed = true;
      return { list: [], listed };
    }
    const registered = new Map((await listTenantAgents(db, tenantId)).map((a) => [a.id, a]));
    const seen = new Set<string>();
    const out: Candidate[] = [];
    const directoryDown: Candidate[] = [];
    for (const p of listed.presence) {
      const agent = registered.get(p.agentId);
      // Only agents this store knows, of this tenant, not revoked: the relay's list is not trusted for that.
      if (!agent || p.tenantId !== tenantId || seen.has(p.agentId)) {
        listed.skipped.set(
          p.agentId,
          seen.has(p.agentId) ? 'duplicate' : p.tenantId !== tenantId ? 'other_tenant' : 'not_registered_or_revoked',
        );
        continue;
      }
      seen.add(p.agentId);
      (p.directoryHealth?.ok === false ? directoryDown : out).push({ presence: p, agent });
    }
    // The relay's order (healthiest first) within each group; one directory-down agent at the end.
    for (const c of directoryDown.slice(1)) listed.skipped.set(c.presence.agentId, 'directory_down');
    return { list: [...out, ...directoryDown.slice(0, 1)], listed };
  }

  /** One log line saying why a request ends `agent_unavailable`: what was known, from where, how old. */
  function logUnavailable(
    tenantId: string,
    requestId: string,
    detail: string,
    listed: Listed,
    tried: { agentId: string; answer: string }[],
  ) {
    const t = now();
    const health = relay.health?.();
    log.warn('agent_unavailable', {
      requestId,
      tenantId,
      detail,
      ...(listed.failed ? { presence: 'listAgents failed' } : {}),
      known: listed.presence.map((p) => ({
        agentId: p.agentId,
        relayId: p.relayId,
        connections: p.connections,
        // How old the news is: when the relay last said so (NATS), or live (in-process hub).
        ageMs: p.reportedAt === undefined ? 0 : t - p.reportedAt,
        ...(p.directoryHealth?.ok === false ? { directoryDownSince: p.directoryHealth.since } : {}),
        ...(listed.skipped.has(p.agentId) ? { skipped: listed.skipped.get(p.agentId) } : {}),
      })),
      tried,
      ...(health
        ? {
            relayLink: health.link,
            ...(health.link === 'up'
              ? {}
              : { linkDownForMs: t - health.linkSince, reconnectAttempts: health.reconnectAttempts }),
            relays: health.relays.map((r) => ({
              relayId: r.relayId,
              agents: r.agents,
              answeredAgoMs: t - r.answeredAt,
            })),
          }
        : {}),
    });
  }

  async function run(
    tenantId: string,
    request: OperationRequest,
    requestId: string,
    deadline: number,
  ): Promise<GatewayAnswer> {
    const writes = OPERATION_SCHEMAS[request.op].writes;
    const { list, listed } = await candidates(tenantId);
    const tried: { agentId: string; answer: string }[] = [];
    if (list.length === 0) {
      const detail = 'no registered agent of the tenant is connected';
      logUnavailable(tenantId, requestId, detail, listed, tried);
      return { requestId, result: { outcome: 'agent_unavailable' }, agentId: null, detail };
    }
    let sent = false;
    let lastAgent: string | null = null;
    /** An agent's `directory_unavailable`: the answer if no later agent gives a better one. */
    let unreachable: GatewayAnswer | null = null;
    for (const { agent, presence } of list) {
      if (now() >= deadline) break;
      let envelope: RequestEnvelope;
      // The agent seals its answer under a key only it and this process know, when it can.
      let answerKey: Buffer | undefined;
      try {
        const sealOptions = {
          request,
          tenantId,
          agentId: agent.id,
          agentEncryptionKey: agent.encryptionKey,
          cloudSigningKey: cloudKey.privateKey,
          deadline,
          now: now(),
          requestId,
          ephemeral,
        };
        if (presence.capabilities[SEALED_ANSWERS_CAPABILITY] === true)
          ({ envelope, answerKey } = sealRequestForSealedAnswer(sealOptions));
        else envelope = sealRequest(sealOptions);
      } catch (err) {
        log.error('could not seal a request for an agent; trying the next', { requestId, agentId: agent.id, err });
        tried.push({ agentId: agent.id, answer: 'not_sealed' });
        continue;
      }
      lastAgent = agent.id;
      const answer = await transmit(envelope);
      tried.push({ agentId: agent.id, answer: answer.kind });
      if (answer.kind !== 'response') answerKey?.fill(0);
      switch (answer.kind) {
        case 'response': {
          try {
            const verified = verifyParsedResponse(answer.envelope, {
              requestId,
              tenantId,
              agentId: agent.id,
              op: request.op,
              ...(answerKey ? { answerKey } : { agentVerifyKey: publicKeyObject('Ed25519', agent.signingKey) }),
            });
            if (verified.result.outcome === 'directory_unavailable') {
              // This agent could not reach its directory; nothing was written: another agent may.
              tried[tried.length - 1] = { agentId: agent.id, answer: 'directory_unavailable' };
              unreachable = { requestId, result: verified.result, agentId: agent.id };
              continue;
            }
            return { requestId, result: verified.result, agentId: agent.id };
          } catch (err) {
            log.error('agent answer failed verification', { requestId, agentId: agent.id, err });
            if (writes)
              return {
                requestId,
                result: { outcome: 'outcome_unknown' },
                agentId: agent.id,
                detail: 'the answer did not verify with the agent key',
              };
            sent = true;
            continue;
          } finally {
            answerKey?.fill(0);
          }
        }
        case 'rejected':
          return {
            requestId,
            result: { outcome: 'request_rejected' },
            agentId: agent.id,
            detail: `the agent refused the request (${answer.code})`,
          };
        case 'unavailable':
          continue;
        case 'timeout':
          return {
            requestId,
            result: { outcome: 'timeout' },
            agentId: agent.id,
            detail: 'no answer before the deadline',
          };
        case 'lost':
          if (writes)
            return {
              requestId,
              result: { outcome: 'outcome_unknown' },
              agentId: agent.id,
              detail: 'the connection to the agent was lost after sending',
            };
          sent = true;
          continue;
      }
    }
    if (unreachable) {
      if (tried.length > 1) log.warn('no agent could reach its directory', { requestId, tenantId, tried });
      return unreachable;
    }
    if (sent && now() >= deadline)
      return {
        requestId,
        result: { outcome: 'timeout' },
        agentId: lastAgent,
        detail: 'no agent answered before the deadline',
      };
    const detail = sent ? 'every agent lost the request' : 'no agent could take the request';
    logUnavailable(tenantId, requestId, detail, listed, tried);
    return { requestId, result: { outcome: 'agent_unavailable' }, agentId: lastAgent, detail };
  }

  return {
    send(input) {
      const requestId = input.requestId ?? randomUUID();
      const deadline = input.deadline ?? now() + deps.deadlineMs;
      return run(input.tenantId, input.request, requestId, deadline).catch((err: unknown): GatewayAnswer => {
        // A bug or a store failure mid-flight: a write may have been sent, so never claim otherwise.
        log.error('sending to an agent failed unexpectedly', { requestId, err });
        return {
          requestId,
          result: { outcome: OPERATION_SCHEMAS[input.request.op].writes ? 'outcome_unknown' : 'agent_unavailable' },
          agentId: null,
          detail: 'internal error',
        };
      });
    },
  };
}
