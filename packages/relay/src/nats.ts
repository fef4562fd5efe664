/**
 * Several relay nodes over NATS. Each node holding an agent's connection subscribes (in one queue
 * group, so exactly one node takes a request) to that agent's request subject; the cloud sends a
 * request with NATS request/reply, where "no responders" means no node holds the agent. Presence is
 * asked per tenant on `<prefix>.presence.tenant.<tenant id>` (each node answers with that tenant's
 * agents only, in parts of at most half NATS's max_payload, so no message grows with the fleet),
 * all agents on `<prefix>.presence` (in parts), and the roster of nodes on `<prefix>.presence.relays`;
 * each node's answer is kept per node by the client (a late answer never empties the list). Nodes
 * announce changes on `<prefix>.presence.changed` so clients ask again at once. Every publish of a
 * node is guarded: a failure is logged, counted for its /healthz and never thrown into NATS's
 * reader. Revocations are broadcast on
 * `<prefix>.control.revoke`; the cloud answers the agent gate on `<prefix>.control.agent-allowed`.
 *
 * Everything that arrives over NATS is parsed with a schema: a NATS account is not a trust root.
 */
import { ErrorCode, NatsError, StringCodec, createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';
import {
  DirectoryHealthReportSchema,
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
import { mergePresence, presenceParts, sortPresence } from './presence.js';

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
  /** Optional: relays older than issue 12 do not send it. */
  directoryHealth: DirectoryHealthReportSchema.optional(),
});

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

/** What this node's NATS publishes that failed (an answer, a presence part, an announcement). */
export interface PublishFailures {
  /** Failed publishes since the start. */
  count: number;
  /** The last one: when, what it was for, NATS's code (e.g. MAX_PAYLOAD_EXCEEDED). */
  last: { at: number; what: PublishKind; code: string } | null;
  /** When a presence answer or an announcement last failed (the relay's agents are then unheard). */
  lastPresenceFailureAt: number | null;
}

/** What a publish was for, in logs and health. */
export type PublishKind = 'answer' | 'presence' | 'presence-changed' | 'revoke-ack';

export interface NatsBridge {
  /** Unsubscribe everything this node subscribed (the hub and the NATS connection stay open). */
  stop(): Promise<void>;
  /** Publishes that failed, for the node's health (never thrown into NATS's reader). */
  publishFailures(): PublishFailures;
}

/** A failure kind is logged at its first occurrence, then at most once per this many ms, with the count. */
const PUBLISH_LOG_EVERY_MS = 30_000;
/** Presence parts never exceed this, whatever NATS allows (a large message delays every other on the link). */
const MAX_PRESENCE_PART_BYTES = 256 * 1024;

/**
 * Make a hub reachable by every cloud node through NATS: requests for agents it holds, presence
 * questions (per tenant, all agents, and the roster) and revocations. Every publish goes through
 * one guard: an error (payload over NATS's max_payload, connection closed) is logged, counted for
 * health and never thrown into NATS's reader, so one failure cannot silence the node.
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
    now?: () => number;
  } = {},
): NatsBridge {
  const prefix = checkPrefix(options.prefix ?? 'wb', 'startNatsBridge');
  const log = (options.log ?? createLogger({ name: 'relay-nats' })).child({ relayId: hub.relayId });
  const now = options.now ?? Date.now;
  const agentSubs = new Map<string, Subscription>();
  let stopped = false;
  let answerSeq = 0;
  const failures: PublishFailures = { count: 0, last: null, lastPresenceFailureAt: null };
  const logged = new Map<PublishKind, { at: number; suppressed: number }>();

  /** Publish, or count, log and return false: never throws. */
  const publish = (what: PublishKind, subject: string | undefined, data: Uint8Array | string): boolean => {
    if (!subject) return false;
    try {
      nc.publish(subject, typeof data === 'string' ? sc.encode(data) : data);
      return true;
    } catch (err) {
      const t = now();
      const code = natsCode(err) ?? (err instanceof Error ? err.name : 'error');
      failures.count++;
      failures.last = { at: t, what, code };
      if (what !== 'answer') failures.lastPresenceFailureAt = t;
      const seen = logged.get(what);
      if (!seen || t - seen.at >= PUBLISH_LOG_EVERY_MS) {
        log.error('NATS publish failed', {
          what,
          code,
          bytes: data.length,
          ...(seen?.suppressed ? { alsoFailedSinceLastLine: seen.suppressed } : {}),
          err,
        });
        logged.set(what, { at: t, suppressed: 0 });
      } else seen.suppressed++;
      return false;
    }
  };

  /** The largest presence message: half of what the server accepts, so headers and growth never tip it over. */
  const partBudget = () =>
    Math.max(1_024, Math.min(MAX_PRESENCE_PART_BYTES, Math.floor((nc.info?.max_payload ?? 1_048_576) / 2)));

  /** Answer a presence question with `agents`, in as many parts as it takes. */
  const answerPresence = (reply: string | undefined, tenantId: string | null, agents: AgentPresence[]) => {
    const header = { kind: 'list', relayId: hub.relayId, tenantId, answerId: `${hub.relayId}:${++answerSeq}` };
    for (const part of presenceParts(header, agents, partBudget())) if (!publish('presence', reply, part)) return;
  };

  const onPresenceQuestion = (answer: (msg: Msg) => void) => (err: Error | null, msg: Msg) => {
    if (err) return log.warn('presence subscription error', { err });
    void Promise.resolve(options.beforePresenceReply?.())
      .then(() => answer(msg))
      .catch((e: unknown) => log.error('answering a presence question failed', { err: e }));
  };

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
      if (!msg.reply) return log.warn('request over NATS had no reply subject', { agentId });
      // An answer NATS refuses (larger than max_payload) still ends the request now, truthfully:
      // the agent acted, its answer cannot travel, so its fate is unknown to the cloud.
      if (!publish('answer', msg.reply, encode(answer)) && answer.kind === 'response')
        publish('answer', msg.reply, encode({ kind: 'lost' } satisfies RelayAnswer));
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
    else if (e.type === 'disconnected' && e.connections === 0) release(e.agentId);
    if (!stopped)
      publish(
        'presence-changed',
        `${prefix}.presence.changed`,
        encode({ relayId: hub.relayId, type: e.type, agentId: e.agentId, tenantId: e.tenantId }),
      );
  });
  for (const p of hub.presence()) hold(p.agentId);

  // One tenant's agents: what a cloud asks before routing a request (the answer grows with the tenant, not the fleet).
  const tenantSub = nc.subscribe(`${prefix}.presence.tenant.*`, {
    callback: onPresenceQuestion((msg) => {
      const token = msg.subject.slice(`${prefix}.presence.tenant.`.length);
      const tenantId = token.replaceAll('%2E', '.');
      if (!Id.safeParse(tenantId).success) return log.warn('presence question for a malformed tenant id ignored');
      answerPresence(msg.reply, tenantId, hub.presence(tenantId));
    }),
  });
  // Every agent (health counts, the clouds' periodic last-seen), in parts.
  const allSub = nc.subscribe(`${prefix}.presence`, {
    callback: onPresenceQuestion((msg) => answerPresence(msg.reply, null, hub.presence())),
  });
  // Who is there and how many agents each holds: the clouds' roster, asked every second (a few bytes).
  const rosterSub = nc.subscribe(`${prefix}.presence.relays`, {
    callback: onPresenceQuestion((msg) =>
      publish('presence', msg.reply, encode({ kind: 'roster', relayId: hub.relayId, agents: hub.agentCount() })),
    ),
  });
  const revokeSub = nc.subscribe(`${prefix}.control.revoke`, {
    callback: (err, msg) => {
      if (err) return log.warn('revoke subscription error', { err });
      const body = parseJson(msg.data, RevokeSchema);
      if (!body) return log.warn('malformed revocation ignored');
      try {
        const closed = hub.revoke(body.agentId);
        if (msg.reply) publish('revoke-ack', msg.reply, encode({ relayId: hub.relayId, closed }));
      } catch (e) {
        log.error('revoking an agent failed', { agentId: body.agentId, err: e });
      }
    },
  });

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      offPresence();
      for (const id of [...agentSubs.keys()]) release(id);
      for (const sub of [tenantSub, allSub, rosterSub, revokeSub]) sub.unsubscribe();
      if (!nc.isClosed() && (options.link?.isUp() ?? true)) await nc.flush();
    },
    publishFailures: () => ({ ...failures, last: failures.last ? { ...failures.last } : null }),
  };
}

export interface NatsRelayClientOptions extends NatsSubjectOptions {
  /**
   * How long a presence question waits for relays that have not answered yet (it ends sooner
   * once every relay of the roster has answered). Default 100 ms. A late answer is not lost:
   * it is kept whenever it arrives.
   */
  presenceWindowMs?: number;
  /**
   * The roster (which relays are there, how many agents each holds) is asked this often, and a
   * tenant's presence older than this is asked again in the background when next used. Default 1 000 ms.
   */
  refreshMs?: number;
  /** Extra wait past the deadline for the node's own `timeout` answer. Default 250 ms. */
  graceMs?: number;
  /** A relay not heard from for this long is forgotten with its agents. Default 60 000 ms. */
  forgetRelayMs?: number;
  /**
   * When nothing is known of a tenant's agents, listAgents asks again and waits up to this long
   * for the relays to answer before saying none (a relay answering late, a node just started).
   * Default 1 000 ms.
   */
  emptyWaitMs?: number;
  /** The link of `nc` (made with its `connectOptions`). Without it the client follows `nc` itself. */
  link?: NatsLink;
  log?: Logger;
  now?: () => number;
}

/** What one relay last said it holds (of one tenant, or of all), and when. */
interface HeardRelay {
  answeredAt: number;
  agents: AgentPresence[];
}

/** The presence of one scope (a tenant, or every agent) as the relays last told it. */
interface View {
  byRelay: Map<string, HeardRelay>;
  merged: AgentPresence[] | null;
  /** When it was last asked (0: never). */
  askedAt: number;
  /** A relay announced a change since: ask before answering. */
  dirty: boolean;
  usedAt: number;
  asking: Promise<void> | null;
  /** The question in progress: who answered in full; how to end it early. */
  round: { answered: Set<string>; end: () => void } | null;
  /** Called on every complete answer (waits for an empty tenant). */
  waiters: Set<() => void>;
}

/** A tenant's view not used for this long is dropped (the next use asks again). */
const DROP_UNUSED_VIEW_MS = 10 * 60_000;
/** Parts of an answer not completed within this long are dropped. */
const PART_TIMEOUT_MS = 30_000;

const PresenceListPartSchema = z.object({
  kind: z.literal('list'),
  relayId: Id,
  tenantId: Id.nullable(),
  answerId: z.string().min(1).max(200),
  part: z.number().int().nonnegative(),
  parts: z.number().int().positive().max(100_000),
  agents: z.array(AgentPresenceSchema),
});
const RosterReplySchema = z.object({ kind: z.literal('roster'), relayId: Id, agents: z.number().int().nonnegative() });
const PresenceReplySchema = z.discriminatedUnion('kind', [PresenceListPartSchema, RosterReplySchema]);
const PresenceChangedSchema = z.object({ relayId: Id, tenantId: Id, agentId: Id });

/** The subject a tenant's presence question travels on ('.' escaped, as in agent subjects). */
export function tenantPresenceSubject(prefix: string, tenantId: string): string {
  return `${prefix}.presence.tenant.${tenantId.replaceAll('.', '%2E')}`;
}

/**
 * A RelayClient for a cloud node talking to relay nodes over NATS. Presence is asked per tenant
 * (`<prefix>.presence.tenant.<id>`): each relay answers with that tenant's agents only, in parts
 * when large, so no message grows with the fleet (issue 11 item 2). What each relay said is kept
 * per tenant and per relay: a relay that answers late keeps its agents (its answer is taken
 * whenever it arrives, on a reply subject of this client), so a slow answer never empties the
 * list (stale-but-known beats empty: a wrong guess costs one NATS "no responders", and the
 * gateway fails over). A tenant is asked on first use and after a relay announced a change of
 * it; otherwise its list is answered at once and asked again in the background once older than
 * `refreshMs`. The roster (`<prefix>.presence.relays`: each relay's id and agent count, a few
 * bytes) is asked every `refreshMs`: it says whom a question waits for, and a relay silent for
 * `forgetRelayMs` is forgotten with its agents. `allAgents` asks every relay for everything
 * (`<prefix>.presence`, in parts) at most once per `refreshMs` unless something changed.
 * While the NATS link is down nothing is asked and requests fail at once as `unavailable`; a
 * request already sent when the link is lost ends at once as `lost` (the agent may have acted).
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
  /** The roster: every relay heard from (any answer), when, and how many agents it holds. */
  const relays = new Map<string, { heardAt: number; agents: number }>();
  const tenants = new Map<string, View>();
  const everyone = newView();
  /** Answers arriving in parts: relay + scope → the parts so far. */
  const assembling = new Map<string, { answerId: string; parts: AgentPresence[][]; got: number; startedAt: number }>();
  let closed = false;
  let rosterRound: Promise<void> | null = null;

  function newView(): View {
    return {
      byRelay: new Map(),
      merged: null,
      askedAt: 0,
      dirty: false,
      usedAt: now(),
      asking: null,
      round: null,
      waiters: new Set(),
    };
  }
  const viewOf = (tenantId: string): View => {
    let view = tenants.get(tenantId);
    if (!view) {
      view = newView();
      tenants.set(tenantId, view);
    }
    view.usedAt = now();
    return view;
  };

  const known = (view: View): AgentPresence[] => {
    if (view.merged) return view.merged;
    const byAgent = new Map<string, AgentPresence>();
    for (const heard of view.byRelay.values()) {
      for (const p of heard.agents) {
        const q: AgentPresence = { ...p, reportedAt: heard.answeredAt };
        const prior = byAgent.get(p.agentId);
        byAgent.set(
          p.agentId,
          prior ? { ...mergePresence(prior, q), reportedAt: Math.max(prior.reportedAt ?? 0, heard.answeredAt) } : q,
        );
      }
    }
    view.merged = sortPresence([...byAgent.values()]);
    return view.merged;
  };

  /** A relay's complete answer for one view. */
  const heardList = (view: View, relayId: string, agents: AgentPresence[]) => {
    view.byRelay.set(relayId, { answeredAt: now(), agents });
    view.merged = null;
    for (const w of [...view.waiters]) w();
    const round = view.round;
    if (round) {
      round.answered.add(relayId);
      if ([...relays.keys()].every((r) => round.answered.has(r))) round.end();
    }
  };

  const inbox = createInbox();
  const replySub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return log.warn('presence reply subscription error', { err });
      // An empty message is NATS's own status ("no responders", e.g. while the relays reconnect
      // after NATS came back): no relay answered it, nothing to merge, nothing malformed.
      if (msg.data.length === 0) return;
      const body = parseJson(msg.data, PresenceReplySchema);
      if (!body) return log.warn('malformed presence reply ignored');
      const t = now();
      if (body.kind === 'roster') {
        relays.set(body.relayId, { heardAt: t, agents: body.agents });
        return;
      }
      const roster = relays.get(body.relayId);
      relays.set(body.relayId, { heardAt: t, agents: roster?.agents ?? 0 });
      const view = body.tenantId === null ? everyone : tenants.get(body.tenantId);
      if (!view) return; // a tenant dropped meanwhile
      let agents = body.agents;
      if (body.parts > 1) {
        const key = `${body.relayId}\n${body.tenantId ?? ''}`;
        let pending = assembling.get(key);
        if (!pending || pending.answerId !== body.answerId) {
          // A newer answer replaces an unfinished older one.
          pending = { answerId: body.answerId, parts: new Array(body.parts), got: 0, startedAt: t };
          assembling.set(key, pending);
        }
        if (body.part >= pending.parts.length || pending.parts[body.part]) return;
        pending.parts[body.part] = body.agents;
        pending.got++;
        if (pending.got < pending.parts.length) return;
        assembling.delete(key);
        agents = pending.parts.flat();
      }
      if (body.tenantId !== null && agents.some((p) => p.tenantId !== body.tenantId))
        return log.warn('presence answer lists agents of another tenant; ignored', { relayId: body.relayId });
      heardList(view, body.relayId, agents);
    },
  });

  /** One question: ends after the window, or once every relay of the roster has answered in full. */
  const ask = (view: View, subject: string, waitMs = windowMs): Promise<void> => {
    if (view.asking) return view.asking;
    view.dirty = false;
    view.askedAt = now();
    view.asking = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const end = () => {
        clearTimeout(timer);
        if (view.round?.end === end) view.round = null;
        view.asking = null;
        resolve();
      };
      view.round = { answered: new Set(), end };
      timer = setTimeout(end, waitMs);
      try {
        nc.publish(subject, undefined, { reply: inbox });
      } catch (err) {
        view.dirty = true;
        log.warn('presence question could not be sent', { err });
        end();
      }
    });
    return view.asking;
  };
  const askTenant = (tenantId: string, view: View) => ask(view, tenantPresenceSubject(prefix, tenantId));

  /** The roster, and the housekeeping that goes with it: forget silent relays, drop unused views, stale parts. */
  const askRoster = (): Promise<void> => {
    if (rosterRound) return rosterRound;
    rosterRound = new Promise<void>((resolve) => {
      try {
        nc.publish(`${prefix}.presence.relays`, undefined, { reply: inbox });
      } catch (err) {
        log.warn('presence roster question could not be sent', { err });
      }
      setTimeout(resolve, windowMs);
    }).finally(() => {
      rosterRound = null;
      housekeeping();
    });
    return rosterRound;
  };

  const housekeeping = () => {
    const t = now();
    for (const [relayId, heard] of relays) {
      if (t - heard.heardAt <= forgetRelayMs) continue;
      log.warn('relay forgotten: no presence answer', { relayId, silentForMs: t - heard.heardAt });
      relays.delete(relayId);
      for (const view of [everyone, ...tenants.values()]) {
        if (view.byRelay.delete(relayId)) view.merged = null;
      }
    }
    for (const [tenantId, view] of tenants) {
      if (t - view.usedAt > DROP_UNUSED_VIEW_MS && !view.asking && view.waiters.size === 0) tenants.delete(tenantId);
    }
    for (const [key, pending] of assembling) if (t - pending.startedAt > PART_TIMEOUT_MS) assembling.delete(key);
  };

  /** No node subscribes to the agent's subject: it is connected nowhere, whatever a relay said before. */
  const forgetAgent = (agentId: string, tenantId?: string) => {
    const views = tenantId === undefined ? [everyone, ...tenants.values()] : [everyone, tenants.get(tenantId)];
    for (const view of views) {
      if (!view) continue;
      for (const heard of view.byRelay.values()) {
        const rest = heard.agents.filter((p) => p.agentId !== agentId);
        if (rest.length !== heard.agents.length) {
          heard.agents = rest;
          view.merged = null;
          view.dirty = true;
        }
      }
    }
  };

  /** Everything may have changed (a change we could not read, the link back): ask before the next answer. */
  const allDirty = () => {
    everyone.dirty = true;
    for (const view of tenants.values()) view.dirty = true;
  };

  const changedSub = nc.subscribe(`${prefix}.presence.changed`, {
    callback: (err, msg) => {
      if (err) return log.warn('presence change subscription error', { err });
      everyone.dirty = true;
      const body = parseJson(msg.data, PresenceChangedSchema);
      if (!body) return allDirty();
      const view = tenants.get(body.tenantId);
      if (!view) return;
      view.dirty = true;
      // A tenant in use is asked at once, so its next request does not wait for the answer.
      if (link.isUp() && now() - view.usedAt < forgetRelayMs) void askTenant(body.tenantId, view);
    },
  });
  /** Requests waiting for an answer: each ends `lost` the moment the link is lost (see send). */
  const inFlight = new Set<() => void>();
  const offLink = link.onChange((state) => {
    if (state.status !== 'up') {
      for (const end of [...inFlight]) end();
      return;
    }
    allDirty();
    void askRoster();
  });
  const timer = setInterval(() => {
    if (link.isUp()) void askRoster();
    else housekeeping();
  }, refreshMs);
  timer.unref();
  if (link.isUp()) void askRoster();

  /** The tenant's list, asking first when never asked or changed since; a list older than refreshMs is asked again in the background. */
  const current = async (tenantId: string, view: View): Promise<AgentPresence[]> => {
    if (closed) return [];
    if (link.isUp()) {
      if (view.askedAt === 0 || view.dirty) await askTenant(tenantId, view);
      else if (now() - view.askedAt > refreshMs) void askTenant(tenantId, view);
    }
    return known(view);
  };

  /**
   * Ask again and wait, at most `emptyWaitMs`, until the tenant has an agent or every relay of
   * the roster has answered it again (at least one answer).
   */
  const waitForTenant = (tenantId: string, view: View): Promise<void> =>
    new Promise<void>((resolve) => {
      const since = now();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        view.waiters.delete(check);
        resolve();
      };
      const check = () => {
        const answered = (relayId: string) => (view.byRelay.get(relayId)?.answeredAt ?? -1) >= since;
        if (
          closed ||
          known(view).length > 0 ||
          (relays.size > 0 && [...relays.keys()].every(answered)) ||
          (relays.size === 0 && [...view.byRelay.keys()].some(answered))
        )
          done();
      };
      timer = setTimeout(done, emptyWaitMs);
      view.waiters.add(check);
      view.dirty = true;
      void askTenant(tenantId, view);
    });

  return {
    async listAgents(tenantId) {
      const view = viewOf(tenantId);
      const list = await current(tenantId, view);
      // Empty is the one answer a late relay can make wrong: before saying it, give the relays one more chance.
      if (list.length > 0 || closed || !link.isUp() || emptyWaitMs === 0) return list;
      await waitForTenant(tenantId, view);
      return known(view);
    },
    async allAgents() {
      if (closed) return [];
      if (link.isUp() && (everyone.askedAt === 0 || everyone.dirty || now() - everyone.askedAt > refreshMs)) {
        // Waits for every relay of the roster (a long list takes a while: ~1 s for 5,000 agents),
        // up to emptyWaitMs, the first time only; after that the last complete lists are answered
        // at once and asked again in the background, so /healthz never waits for the fleet.
        const asking = ask(everyone, `${prefix}.presence`, Math.max(windowMs, emptyWaitMs));
        if (everyone.byRelay.size === 0) await asking;
      }
      return known(everyone);
    },
    async send(envelope: RequestEnvelope): Promise<RelayAnswer> {
      // A request published while the link is down would wait in nats.js's buffer until the
      // deadline: say at once that nothing can take it (nothing was sent).
      if (closed || nc.isClosed() || !link.isUp()) return { kind: 'unavailable' };
      const left = timeLeft(envelope.deadline, now());
      if (!left.ok) return left.answer;
      let msg: Msg;
      // The link lost with the request out: the answer cannot come while it is down, and the agent
      // may have acted. End it now as `lost` (a write is then outcome_unknown) rather than wait for
      // the deadline; an answer arriving after a reconnect finds no one waiting.
      let linkLost!: () => void;
      const lost = new Promise<null>((resolve) => {
        linkLost = () => resolve(null);
      });
      inFlight.add(linkLost);
      try {
        const asked = nc.request(agentRequestSubject(prefix, envelope.agentId), encode(envelope), {
          timeout: left.ms + graceMs,
        });
        const first = await Promise.race([asked, lost]);
        if (first === null) {
          asked.catch(() => {}); // it ends by itself at its timeout; nobody reads it
          log.warn('NATS link lost with a request in flight: its fate is unknown', {
            requestId: envelope.requestId,
            agentId: envelope.agentId,
          });
          return { kind: 'lost' };
        }
        msg = first;
      } catch (err) {
        if (natsCode(err) === ErrorCode.NoResponders) {
          forgetAgent(envelope.agentId, envelope.tenantId);
          return { kind: 'unavailable' };
        }
        if (natsCode(err) === ErrorCode.Timeout) return { kind: 'timeout' };
        // The request may have reached a node and the agent: its fate is unknown.
        log.warn('NATS request failed', { requestId: envelope.requestId, err });
        return { kind: 'lost' };
      } finally {
        inFlight.delete(linkLost);
      }
      const answer = parseJson(msg.data, RelayAnswerSchema);
      if (!answer) {
        log.error('malformed answer from a relay node', { requestId: envelope.requestId });
        return { kind: 'lost' };
      }
      if (answer.kind === 'unavailable') {
        const view = tenants.get(envelope.tenantId);
        if (view) view.dirty = true;
      }
      return answer;
    },
    async revoke(agentId: string) {
      nc.publish(`${prefix}.control.revoke`, encode({ agentId }));
      // While the link is down the revocation waits in nats.js's buffer and goes out on reconnect;
      // the store refuses the agent at the gate meanwhile. Flushing now would wait for the link.
      if (link.isUp()) await nc.flush();
      else log.warn('NATS link down: the revocation reaches the relays when it is back', { agentId });
      forgetAgent(agentId);
    },
    health() {
      const state = link.state();
      return {
        link: state.status === 'up' ? 'up' : state.status === 'closed' ? 'closed' : 'down',
        linkSince: state.since,
        reconnectAttempts: state.status === 'down' || state.status === 'connecting' ? state.attempts : 0,
        relays: [...relays].map(([relayId, heard]) => ({
          relayId,
          answeredAt: heard.heardAt,
          agents: heard.agents,
        })),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      offLink();
      for (const view of [everyone, ...tenants.values()]) {
        view.round?.end();
        for (const w of [...view.waiters]) w();
      }
      changedSub.unsubscribe();
      replySub.unsubscribe();
      if (!nc.isClosed() && link.isUp()) await nc.flush();
    },
  };
}

/**
 * The RelayClient of a node whose NATS connection is still being made (it started while NATS was
 * down; `NatsLink.connect`): until `client` resolves no agent is known, every request answers
 * `unavailable` at once (nothing was sent), a revocation waits and goes out once connected, and
 * health says the link is down with the attempts so far. From then on everything is `client`'s.
 */
export function createDeferredRelayClient(
  client: Promise<RelayClient | null>,
  options: { link: NatsLink; log?: Logger },
): RelayClient {
  const { link } = options;
  const log = options.log ?? createLogger({ name: 'relay-nats-client' });
  let inner: RelayClient | null = null;
  let closed = false;
  const revocations = new Set<string>();
  void client.then(
    async (made) => {
      if (!made) return;
      if (closed) return made.close();
      inner = made;
      for (const agentId of revocations)
        await made.revoke(agentId).catch((err: unknown) => log.error('a waiting revocation failed', { agentId, err }));
      revocations.clear();
    },
    (err: unknown) => log.error('the NATS relay client could not be made', { err }),
  );
  return {
    listAgents: async (tenantId) => (inner ? inner.listAgents(tenantId) : []),
    allAgents: async () => (inner ? inner.allAgents() : []),
    send: async (envelope) => (inner ? inner.send(envelope) : { kind: 'unavailable' }),
    async revoke(agentId) {
      if (inner) return inner.revoke(agentId);
      // The store refuses the agent at every relay's gate meanwhile; this cuts a live connection.
      revocations.add(agentId);
      log.warn('NATS not connected yet: the revocation reaches the relays once it is', { agentId });
    },
    health() {
      if (inner?.health) return inner.health();
      const state = link.state();
      return {
        link: state.status === 'closed' ? 'closed' : 'down',
        linkSince: state.since,
        reconnectAttempts: state.status === 'connecting' || state.status === 'down' ? state.attempts : 0,
        relays: [],
      };
    },
    async close() {
      closed = true;
      await inner?.close();
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
