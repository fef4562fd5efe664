/**
 * Several relay nodes over NATS. Each node holding an agent's connection subscribes (in one queue
 * group, so exactly one node takes a request) to that agent's request subject; the cloud sends a
 * request with NATS request/reply, where "no responders" means no node holds the agent. Presence is
 * asked on `<prefix>.presence` and each node's answer kept per node by the client (a late answer
 * never empties the list); nodes announce changes on `<prefix>.presence.changed` so clients ask
 * again at once. Revocations are broadcast on
 * `<prefix>.control.revoke`; the cloud answers the agent gate on `<prefix>.control.agent-allowed`.
 *
 * Everything that arrives over NATS is parsed with a schema: a NATS account is not a trust root.
 */
import { ErrorCode, NatsError, StringCodec, createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';
import {
  PROTOCOL_ERROR_CODES,
  RequestEnvelopeSchema,
  ResponseEnvelopeSchema,
  createLogger,
  type Logger,
  type RequestEnvelope,
} from '@writeback/protocol';
import type { AgentGate, AgentPresence, RelayAnswer, RelayClient } from './client.js';
import { timeLeft } from './deadline.js';
import { RelayError } from './errors.js';
import type { RelayHub } from './hub.js';
import { createNatsLink, type NatsLink } from './nats-link.js';
import { mergePresence, sortPresence } from './presence.js';

const sc = StringCodec();
const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/);

export const AgentPresenceSchema = z.object({
  agentId: Id,
  tenantId: Id,
  name: z.string().max(128),
  agentVersion: z.string().max(64),
  directory: z.string().max(32),
  capabilities: z.record(z.string(), z.boolean()),
  relayId: Id,
  connections: z.number().int().nonnegative(),
  connectedAt: z.number(),
  lastSeenAt: z.number(),
  rttMs: z.number().nonnegative().nullable(),
  inFlight: z.number().int().nonnegative(),
});

const PresenceReplySchema = z.object({ relayId: Id, agents: z.array(AgentPresenceSchema) });

export const RelayAnswerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('response'), envelope: ResponseEnvelopeSchema }),
  z.object({ kind: z.literal('rejected'), code: z.enum(PROTOCOL_ERROR_CODES), message: z.string().max(1024) }),
  z.object({ kind: z.literal('unavailable') }),
  z.object({ kind: z.literal('timeout') }),
  z.object({ kind: z.literal('lost') }),
]);

const RevokeSchema = z.object({ agentId: Id });
const GateRequestSchema = z.object({ agentId: Id, tenantId: Id });
/**
 * `unavailable`: the cloud could not check the agent right now (its store failed); the relay tells
 * the agent `auth_unavailable` (retry soon) instead of a refusal. Older relays ignore the field and
 * read `allowed: false`, as before.
 */
const GateReplySchema = z.object({ allowed: z.boolean(), unavailable: z.boolean().optional() });

export interface NatsSubjectOptions {
  /** Subject prefix, so several deployments can share one NATS. Default `wb`. */
  prefix?: string;
}

function checkPrefix(prefix: string, fn: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix))
    throw new TypeError(`${fn}: option "prefix" must be dot-separated [A-Za-z0-9_-] tokens`);
  return prefix;
}

/**
 * The subject an agent's requests travel on. Agent ids may contain '.', which NATS reads as a
 * token separator; it is escaped (ids never contain '%'), keeping the mapping one-to-one.
 */
export function agentRequestSubject(prefix: string, agentId: string): string {
  return `${prefix}.agent.${agentId.replaceAll('.', '%2E')}.req`;
}

function parseJson<T>(data: Uint8Array, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(sc.decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The NATS error code of an error, if it is one. */
const natsCode = (err: unknown): string | undefined => (err instanceof NatsError ? err.code : undefined);

const encode = (value: unknown): Uint8Array => sc.encode(JSON.stringify(value));

export interface NatsBridge {
  /** Unsubscribe everything this node subscribed (the hub and the NATS connection stay open). */
  stop(): Promise<void>;
}

/**
 * Make a hub reachable by every cloud node through NATS: requests for agents it holds, presence
 * scatter requests and revocations.
 */
export function startNatsBridge(
  hub: RelayHub,
  nc: NatsConnection,
  options: NatsSubjectOptions & {
    log?: Logger;
    /** The link of `nc`: stop() does not wait for a flush while it is down. */
    link?: NatsLink;
    /** Awaited before each presence answer (tests: a relay that answers late). */
    beforePresenceReply?: () => Promise<void> | void;
  } = {},
): NatsBridge {
  const prefix = checkPrefix(options.prefix ?? 'wb', 'startNatsBridge');
  const log = (options.log ?? createLogger({ name: 'relay-nats' })).child({ relayId: hub.relayId });
  const agentSubs = new Map<string, Subscription>();
  let stopped = false;

  const onRequest = (agentId: string) => (err: Error | null, msg: Msg) => {
    if (err) return log.warn('agent request subscription error', { agentId, err });
    void (async () => {
      const env = parseJson(msg.data, RequestEnvelopeSchema);
      let answer: RelayAnswer;
      if (!env)
        answer = { kind: 'rejected', code: 'malformed_frame', message: 'request envelope does not match the schema' };
      else if (env.agentId !== agentId)
        answer = { kind: 'rejected', code: 'wrong_agent', message: 'envelope is for another agent than its subject' };
      else answer = await hub.send(env);
      if (!msg.respond(encode(answer))) log.warn('request over NATS had no reply subject', { agentId });
    })().catch((e: unknown) => log.error('answering a NATS request failed', { agentId, err: e }));
  };

  const hold = (agentId: string) => {
    if (stopped || agentSubs.has(agentId)) return;
    // One queue group across nodes: a request reaches exactly one node, never two.
    agentSubs.set(
      agentId,
      nc.subscribe(agentRequestSubject(prefix, agentId), { queue: `${prefix}.relay`, callback: onRequest(agentId) }),
    );
  };
  const release = (agentId: string) => {
    const sub = agentSubs.get(agentId);
    if (!sub) return;
    agentSubs.delete(agentId);
    sub.unsubscribe();
  };

  const offPresence = hub.onPresence((e) => {
    if (e.type === 'connected') hold(e.agentId);
    else if (e.connections === 0) release(e.agentId);
    if (!stopped)
      nc.publish(
        `${prefix}.presence.changed`,
        encode({ relayId: hub.relayId, type: e.type, agentId: e.agentId, tenantId: e.tenantId }),
      );
  });
  for (const p of hub.presence()) hold(p.agentId);

  const presenceSub = nc.subscribe(`${prefix}.presence`, {
    callback: (err, msg) => {
      if (err) return log.warn('presence subscription error', { err });
      void Promise.resolve(options.beforePresenceReply?.())
        .then(() => msg.respond(encode({ relayId: hub.relayId, agents: hub.presence() })))
        .catch((e: unknown) => log.error('answering a presence question failed', { err: e }));
    },
  });
  const revokeSub = nc.subscribe(`${prefix}.control.revoke`, {
    callback: (err, msg) => {
      if (err) return log.warn('revoke subscription error', { err });
      const body = parseJson(msg.data, RevokeSchema);
      if (!body) return log.warn('malformed revocation ignored');
      const closed = hub.revoke(body.agentId);
      if (msg.reply) msg.respond(encode({ relayId: hub.relayId, closed }));
    },
  });

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      offPresence();
      for (const id of [...agentSubs.keys()]) release(id);
      presenceSub.unsubscribe();
      revokeSub.unsubscribe();
      if (!nc.isClosed() && (options.link?.isUp() ?? true)) await nc.flush();
    },
  };
}

export interface NatsRelayClientOptions extends NatsSubjectOptions {
  /**
   * How long a presence question waits for relays that have not answered yet (it ends sooner
   * once every relay heard from before has answered). Default 100 ms. A late answer is not lost:
   * it is kept whenever it arrives.
   */
  presenceWindowMs?: number;
  /** Background presence refresh interval; listAgents answers from what relays said. Default 1 000 ms. */
  refreshMs?: number;
  /** Extra wait past the deadline for the node's own `timeout` answer. Default 250 ms. */
  graceMs?: number;
  /** A relay not heard from for this long is forgotten with its agents. Default 60 000 ms. */
  forgetRelayMs?: number;
  /**
   * When nothing is known of a tenant's agents, listAgents asks again and waits up to this long
   * for the next relay's answer before saying none (a relay answering late, a node just started).
   * Default 1 000 ms.
   */
  emptyWaitMs?: number;
  /** The link of `nc` (made with its `connectOptions`). Without it the client follows `nc` itself. */
  link?: NatsLink;
  log?: Logger;
  now?: () => number;
}

/** What one relay last said it holds, and when. */
interface HeardRelay {
  answeredAt: number;
  agents: AgentPresence[];
}

/**
 * A RelayClient for a cloud node talking to relay nodes over NATS. Presence is what each relay
 * last said, kept per relay: a relay that answers a presence question late keeps its agents (its
 * answer is taken whenever it arrives, on a reply subject of this client), so a slow answer never
 * empties the list (stale-but-known beats empty: a wrong guess costs one NATS "no responders",
 * and the gateway fails over). An agent leaves the list when its relay's next answer omits it,
 * when a request for it finds no responder anywhere, or when its relay has not answered for
 * `forgetRelayMs`. listAgents only waits (up to one window) on first use or after a change.
 * While the NATS link is down nothing is asked and requests fail at once as `unavailable`.
 */
export function createNatsRelayClient(nc: NatsConnection, options: NatsRelayClientOptions = {}): RelayClient {
  const prefix = checkPrefix(options.prefix ?? 'wb', 'createNatsRelayClient');
  const windowMs = options.presenceWindowMs ?? 100;
  const refreshMs = options.refreshMs ?? 1_000;
  const graceMs = options.graceMs ?? 250;
  const forgetRelayMs = options.forgetRelayMs ?? 60_000;
  const emptyWaitMs = options.emptyWaitMs ?? 1_000;
  for (const [k, v] of Object.entries({ presenceWindowMs: windowMs, refreshMs, graceMs, forgetRelayMs, emptyWaitMs })) {
    if (!Number.isFinite(v) || v < 0)
      throw new TypeError(`createNatsRelayClient: option "${k}" must be a non-negative number`);
  }
  const now = options.now ?? Date.now;
  const log = options.log ?? createLogger({ name: 'relay-nats-client' });
  const link =
    options.link ??
    (() => {
      const own = createNatsLink({ log, now });
      own.watch(nc);
      return own;
    })();
  const relays = new Map<string, HeardRelay>();
  let merged: AgentPresence[] | null = null;
  let primed = false;
  let dirty = true;
  let refreshing: Promise<void> | null = null;
  /** The question in progress: who is expected, who answered, how to end it early. */
  let round: { expected: Set<string>; answered: Set<string>; end: () => void } | null = null;
  let closed = false;
  /** Who waits for the next presence answer of any relay. */
  const answerWaiters = new Set<() => void>();

  const changed = () => {
    merged = null;
  };
  const known = (): AgentPresence[] => {
    if (merged) return merged;
    const byAgent = new Map<string, AgentPresence>();
    for (const heard of relays.values()) {
      for (const p of heard.agents) {
        const q: AgentPresence = { ...p, reportedAt: heard.answeredAt };
        const prior = byAgent.get(p.agentId);
        byAgent.set(
          p.agentId,
          prior ? { ...mergePresence(prior, q), reportedAt: Math.max(prior.reportedAt ?? 0, heard.answeredAt) } : q,
        );
      }
    }
    merged = sortPresence([...byAgent.values()]);
    return merged;
  };

  const inbox = createInbox();
  const replySub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return log.warn('presence reply subscription error', { err });
      const body = parseJson(msg.data, PresenceReplySchema);
      if (!body) return log.warn('malformed presence reply ignored');
      relays.set(body.relayId, { answeredAt: now(), agents: body.agents });
      changed();
      for (const w of [...answerWaiters]) w();
      if (round) {
        round.answered.add(body.relayId);
        if (round.expected.size > 0 && [...round.expected].every((r) => round?.answered.has(r))) round.end();
      }
    },
  });

  /** One presence question: ends after the window, or once every relay heard from before has answered. */
  const ask = (): Promise<void> =>
    new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const end = () => {
        clearTimeout(timer);
        if (round?.end === end) round = null;
        const t = now();
        for (const [relayId, heard] of relays) {
          if (t - heard.answeredAt > forgetRelayMs) {
            log.warn('relay forgotten: no presence answer', { relayId, silentForMs: t - heard.answeredAt });
            relays.delete(relayId);
            changed();
          }
        }
        resolve();
      };
      round = { expected: new Set(relays.keys()), answered: new Set(), end };
      timer = setTimeout(end, windowMs);
      try {
        nc.publish(`${prefix}.presence`, undefined, { reply: inbox });
      } catch (err) {
        dirty = true;
        log.warn('presence question could not be sent', { err });
        end();
      }
    });

  const refresh = (): Promise<void> => {
    if (!refreshing) {
      dirty = false;
      primed = true;
      refreshing = ask().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  };

  const current = async (): Promise<AgentPresence[]> => {
    if (closed) return [];
    if (link.isUp() && (!primed || dirty)) await refresh();
    return known();
  };

  /** No node subscribes to the agent's subject: it is connected nowhere, whatever a relay said before. */
  const forgetAgent = (agentId: string) => {
    for (const heard of relays.values()) {
      const rest = heard.agents.filter((p) => p.agentId !== agentId);
      if (rest.length !== heard.agents.length) {
        heard.agents = rest;
        changed();
      }
    }
  };

  const changedSub = nc.subscribe(`${prefix}.presence.changed`, {
    callback: () => {
      dirty = true;
      if (link.isUp()) void refresh();
    },
  });
  const offLink = link.onChange((state) => {
    if (state.status !== 'up') return;
    dirty = true;
    void refresh();
  });
  const timer = setInterval(() => {
    if (link.isUp()) void refresh();
  }, refreshMs);
  timer.unref();

  const ofTenant = (list: AgentPresence[], tenantId: string) => list.filter((p) => p.tenantId === tenantId);

  /**
   * Ask again and wait, at most `emptyWaitMs`, until the tenant has an agent or every relay
   * heard from before has answered again (at least one answer).
   */
  const waitForTenant = (tenantId: string): Promise<void> =>
    new Promise<void>((resolve) => {
      const since = now();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        answerWaiters.delete(check);
        resolve();
      };
      const check = () => {
        const heard = [...relays.values()];
        if (
          closed ||
          ofTenant(known(), tenantId).length > 0 ||
          (heard.length > 0 && heard.every((h) => h.answeredAt >= since))
        )
          done();
      };
      timer = setTimeout(done, emptyWaitMs);
      answerWaiters.add(check);
      dirty = true;
      void refresh();
    });

  return {
    async listAgents(tenantId) {
      const list = ofTenant(await current(), tenantId);
      // Empty is the one answer a late relay can make wrong: before saying it, give the relays one more chance.
      if (list.length > 0 || closed || !link.isUp() || emptyWaitMs === 0) return list;
      await waitForTenant(tenantId);
      return ofTenant(known(), tenantId);
    },
    allAgents: current,
    async send(envelope: RequestEnvelope): Promise<RelayAnswer> {
      // A request published while the link is down would wait in nats.js's buffer until the
      // deadline: say at once that nothing can take it (nothing was sent).
      if (closed || nc.isClosed() || !link.isUp()) return { kind: 'unavailable' };
      const left = timeLeft(envelope.deadline, now());
      if (!left.ok) return left.answer;
      let msg: Msg;
      try {
        msg = await nc.request(agentRequestSubject(prefix, envelope.agentId), encode(envelope), {
          timeout: left.ms + graceMs,
        });
      } catch (err) {
        if (natsCode(err) === ErrorCode.NoResponders) {
          forgetAgent(envelope.agentId);
          dirty = true;
          return { kind: 'unavailable' };
        }
        if (natsCode(err) === ErrorCode.Timeout) return { kind: 'timeout' };
        // The request may have reached a node and the agent: its fate is unknown.
        log.warn('NATS request failed', { requestId: envelope.requestId, err });
        return { kind: 'lost' };
      }
      const answer = parseJson(msg.data, RelayAnswerSchema);
      if (!answer) {
        log.error('malformed answer from a relay node', { requestId: envelope.requestId });
        return { kind: 'lost' };
      }
      if (answer.kind === 'unavailable') dirty = true;
      return answer;
    },
    async revoke(agentId: string) {
      nc.publish(`${prefix}.control.revoke`, encode({ agentId }));
      // While the link is down the revocation waits in nats.js's buffer and goes out on reconnect;
      // the store refuses the agent at the gate meanwhile. Flushing now would wait for the link.
      if (link.isUp()) await nc.flush();
      else log.warn('NATS link down: the revocation reaches the relays when it is back', { agentId });
      forgetAgent(agentId);
      dirty = true;
    },
    health() {
      const state = link.state();
      return {
        link: state.status === 'up' ? 'up' : state.status === 'closed' ? 'closed' : 'down',
        linkSince: state.since,
        reconnectAttempts: state.status === 'down' ? state.attempts : 0,
        relays: [...relays].map(([relayId, heard]) => ({
          relayId,
          answeredAt: heard.answeredAt,
          agents: heard.agents.length,
        })),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      offLink();
      round?.end();
      for (const w of [...answerWaiters]) w();
      changedSub.unsubscribe();
      replySub.unsubscribe();
      if (!nc.isClosed() && link.isUp()) await nc.flush();
    },
  };
}

/**
 * An AgentGate for standalone relay nodes: asks the cloud over NATS. A refusal is only a real
 * `allowed: false`; no answer in time, no cloud listening, a malformed answer or a cloud that
 * could not check throws RelayError `gate_failed`, so the agent hears `auth_unavailable` (retry
 * soon) and never `agent_revoked` for a fault of ours (issue 11 item 6). Either way the agent is
 * not let in.
 */
export function createNatsGate(
  nc: NatsConnection,
  options: NatsSubjectOptions & { timeoutMs?: number; log?: Logger } = {},
): AgentGate {
  const prefix = checkPrefix(options.prefix ?? 'wb', 'createNatsGate');
  const timeout = options.timeoutMs ?? 2_000;
  return async (agentId, tenantId) => {
    let msg: Msg;
    try {
      msg = await nc.request(`${prefix}.control.agent-allowed`, encode({ agentId, tenantId }), { timeout });
    } catch (err) {
      throw new RelayError('gate_failed', 'the agent gate did not answer over NATS', { cause: err });
    }
    const reply = parseJson(msg.data, GateReplySchema);
    if (!reply) throw new RelayError('gate_failed', 'malformed gate reply');
    if (reply.unavailable) throw new RelayError('gate_failed', 'the cloud could not check the agent right now');
    return reply.allowed;
  };
}

/** Answer relay nodes' gate questions (called by the cloud). One queue group: each question is answered once. */
export function serveAgentGate(
  nc: NatsConnection,
  gate: AgentGate,
  options: NatsSubjectOptions & { log?: Logger } = {},
): { stop(): Promise<void> } {
  const prefix = checkPrefix(options.prefix ?? 'wb', 'serveAgentGate');
  const log = options.log ?? createLogger({ name: 'relay-gate' });
  const sub = nc.subscribe(`${prefix}.control.agent-allowed`, {
    queue: `${prefix}.gate`,
    callback: (err, msg) => {
      if (err) return log.warn('gate subscription error', { err });
      const body = parseJson(msg.data, GateRequestSchema);
      if (!body) {
        msg.respond(encode({ allowed: false }));
        return;
      }
      void Promise.resolve()
        .then(() => gate(body.agentId, body.tenantId))
        .then(
          (allowed) => msg.respond(encode({ allowed: allowed === true })),
          (e: unknown) => {
            log.error('gate could not check the agent; it is told to retry', { agentId: body.agentId, err: e });
            msg.respond(encode({ allowed: false, unavailable: true }));
          },
        );
    },
  });
  return {
    async stop() {
      sub.unsubscribe();
      if (!nc.isClosed()) await nc.flush();
    },
  };
}
