/**
 * The relay hub: agents dial out to it over WebSocket, prove who they are, and receive sealed
 * requests on those connections. The hub routes by the envelope's (tenantId, agentId) only: it
 * cannot read a sealed secret, nor forge a request (signed by the cloud) or an answer (signed by
 * the agent).
 *
 * This module only composes the parts and keeps the public API in one place:
 * - `connection.ts`: one socket from challenge to close (handshake, frames, heartbeat, close policy);
 * - `registry.ts`: which agents are connected, presence events, remembered revocations;
 * - `router.ts`: the least-loaded healthy connection, and each request resolved exactly once;
 * - `admission.ts`: who may open an unauthenticated connection (per address and in total, fairly),
 *   and the refusal log that summarises instead of writing one line per refused connection.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_BYTES, createLogger, type Logger, type RequestEnvelope } from '@writeback/protocol';
import { Admission, RefusalLog, remoteKey } from './admission.js';
import type { AgentGate, AgentPresence, RelayAnswer, RelayClient } from './client.js';
import { Connection, Sockets } from './connection.js';
import { RelayError } from './errors.js';
import { Registry, type PresenceEvent } from './registry.js';
import { createRouter } from './router.js';

export type { PresenceEvent } from './registry.js';
export { sortPresence } from './presence.js';

/**
 * ws refuses frames above this before buffering them (close 1009, no error frame). It is set
 * above MAX_FRAME_BYTES on purpose, so a frame just over the protocol limit still gets a proper
 * `frame_too_large` error frame from parseFrame.
 */
export const WS_MAX_PAYLOAD = MAX_FRAME_BYTES * 2;

export interface RelayHubOptions {
  /** Identifies this relay node in challenges (bound into the agent's proof) and presence. */
  relayId?: string;
  /** The cloud's Ed25519 public key: agent certificates must verify with it. */
  cloudVerifyKey: KeyObject;
  /** Is this agent still honoured (not revoked)? Asked at every authentication. */
  gate: AgentGate;
  /** Interval between pings; a connection silent for twice this is dead. Default 10 000. */
  heartbeatMs?: number;
  /** Handshake deadline: time from the challenge to the welcome (auth sent and judged). Default 5 000. */
  authTimeoutMs?: number;
  /** Authenticated connections one agent may hold on this hub. Default 4. */
  maxConnectionsPerAgent?: number;
  /**
   * Connections still authenticating, all addresses together. At this cap a newcomer from an
   * address holding fewer than the busiest one takes the busiest one's oldest place. Default 1 024.
   */
  maxPendingAuth?: number;
  /**
   * Connections still authenticating from one remote address (IPv6: one /64); more are refused.
   * Behind a proxy that hides agents' addresses, raise it. Default 64.
   */
  maxPendingAuthPerIp?: number;
  /** Refusals before authentication: the first of each reason is logged, then one summary per window of this many ms. Default 60 000. */
  refusalLogIntervalMs?: number;
  log?: Logger;
  onPresence?: (event: PresenceEvent) => void;
  /** Clock (tests freeze it). Timers stay real. */
  now?: () => number;
}

export interface RelayHub {
  readonly relayId: string;
  /** Take over an HTTP upgrade request (use when the caller routes upgrades itself). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Serve agents on `path` of an HTTP(S) server. Returns a function that detaches. */
  attach(server: HttpServer | HttpsServer, path?: string): () => void;
  /** The in-process RelayClient. Its `close()` closes the hub. */
  client(): RelayClient;
  /** Send one sealed request to one of its agent's connections on this hub. */
  send(envelope: RequestEnvelope): Promise<RelayAnswer>;
  /** Connected agents on this hub (of one tenant when given), healthiest first. */
  presence(tenantId?: string): AgentPresence[];
  /** How many agents this hub holds (cheap: no list is built). */
  agentCount(): number;
  /** Whether this hub holds at least one authenticated connection of the agent. */
  holds(agentId: string): boolean;
  /** Close every connection of the agent with `agent_revoked` and refuse it from now on. Returns how many were closed. */
  revoke(agentId: string): number;
  /** Listen to agents connecting and disconnecting. Returns an unsubscribe function. */
  onPresence(listener: (event: PresenceEvent) => void): () => void;
  /** Close every connection (pending requests resolve `lost`) and stop accepting. Idempotent. */
  close(): Promise<void>;
}

function positiveInt(value: number | undefined, fallback: number, path: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v <= 0)
    throw new TypeError(`createRelayHub: option "${path}" must be a positive integer`);
  return v;
}

/** Create a relay hub. Misconfiguration throws TypeError naming the option. */
export function createRelayHub(options: RelayHubOptions): RelayHub {
  if (!options || typeof options !== 'object') throw new TypeError('createRelayHub: options are required');
  if (options.cloudVerifyKey?.type !== 'public' || options.cloudVerifyKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('createRelayHub: option "cloudVerifyKey" must be an Ed25519 public KeyObject');
  }
  if (typeof options.gate !== 'function') throw new TypeError('createRelayHub: option "gate" must be a function');
  const relayId = options.relayId ?? `relay-${randomUUID().slice(0, 8)}`;
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(relayId))
    throw new TypeError('createRelayHub: option "relayId" must match [A-Za-z0-9._:-]{1,128}');
  const heartbeatMs = positiveInt(options.heartbeatMs, 10_000, 'heartbeatMs');
  const authTimeoutMs = positiveInt(options.authTimeoutMs, 5_000, 'authTimeoutMs');
  const maxConnectionsPerAgent = positiveInt(options.maxConnectionsPerAgent, 4, 'maxConnectionsPerAgent');
  const maxPendingAuth = positiveInt(options.maxPendingAuth, 1_024, 'maxPendingAuth');
  const maxPendingAuthPerIp = positiveInt(options.maxPendingAuthPerIp, 64, 'maxPendingAuthPerIp');
  const refusalLogIntervalMs = positiveInt(options.refusalLogIntervalMs, 60_000, 'refusalLogIntervalMs');
  const now = options.now ?? Date.now;
  const log = (options.log ?? createLogger({ name: 'relay' })).child({ relayId });

  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, clientTracking: false });
  const registry = new Registry<Connection>({ relayId, heartbeatMs, maxConnectionsPerAgent, now, log });
  if (options.onPresence) registry.onPresence(options.onPresence);
  const sockets = new Sockets();
  const admission = new Admission({ maxPending: maxPendingAuth, maxPendingPerRemote: maxPendingAuthPerIp });
  const refusals = new RefusalLog({ log, intervalMs: refusalLogIntervalMs, now });
  const context = {
    relayId,
    cloudVerifyKey: options.cloudVerifyKey,
    gate: options.gate,
    heartbeatMs,
    authTimeoutMs,
    now,
    log,
    refusals,
    registry,
    sockets,
  };
  let closed = false;
  const send = createRouter({
    routes: (agentId, tenantId) => registry.routes(agentId, tenantId),
    closed: () => closed,
    now,
    log,
  });

  const heartbeat = setInterval(() => {
    const t = now();
    for (const conn of registry.members()) conn.beat(t);
    refusals.tick();
  }, heartbeatMs);
  heartbeat.unref();

  const presence = (tenantId?: string): AgentPresence[] => registry.presence(tenantId);

  const revoke = (agentId: string): number => {
    const conns = registry.revoke(agentId);
    for (const c of conns) c.fail('agent_revoked', 'agent has been revoked');
    if (conns.length > 0) log.info('agent revoked; connections closed', { agentId, connections: conns.length });
    return conns.length;
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (closed) {
      socket.destroy();
      return;
    }
    const remote = req.socket.remoteAddress ?? 'unknown';
    const ticket = admission.admit(remoteKey(remote), () => {
      refusals.note('evicted', { remote });
      socket.destroy();
    });
    if ('refused' in ticket) {
      refusals.note(ticket.refused, { remote });
      socket.destroy();
      return;
    }
    // Released by the connection once it authenticates; here too when the upgrade itself fails.
    socket.once('close', () => ticket.release());
    wss.handleUpgrade(req, socket, head, (ws) => new Connection(ws, remote, context, ticket));
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    refusals.flush();
    for (const c of [...sockets.all]) c.shutdown();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };

  return {
    relayId,
    handleUpgrade,
    attach(server, path = '/agent') {
      if (closed) throw new RelayError('hub_closed', 'the hub is closed');
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const pathname = new URL(req.url ?? '/', 'http://relay.invalid').pathname;
        if (pathname === path) return handleUpgrade(req, socket, head);
        // Nobody else will answer this upgrade: do not leave the socket hanging.
        if (server.listenerCount('upgrade') === 1) socket.destroy();
      };
      server.on('upgrade', onUpgrade);
      return () => {
        server.off('upgrade', onUpgrade);
      };
    },
    client() {
      return {
        listAgents: async (tenantId) => presence(tenantId),
        allAgents: async () => presence(),
        send,
        revoke: async (agentId) => {
          revoke(agentId);
        },
        close,
      };
    },
    send,
    presence,
    agentCount: () => registry.agentCount(),
    holds: (agentId) => registry.holds(agentId),
    revoke,
    onPresence: (listener) => registry.onPresence(listener),
    close,
  };
}
