/**
 * The relay hub: agents dial out to it over WebSocket, prove who they are, and receive sealed
 * requests on those connections. The hub routes by the envelope's (tenantId, agentId) only: it
 * cannot read a sealed secret, nor forge a request (signed by the cloud) or an answer (signed by
 * the agent). Its job is liveness (challenge/auth, heartbeats), routing to the least-loaded
 * healthy connection, and resolving every request exactly once: response, rejected, unavailable,
 * timeout or lost.
 *
 * Policy on protocol violations: the offending connection gets an `error` frame with a code and
 * is closed. Requests pending on a closed connection resolve `lost` (the agent may have acted).
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import {
  AgentToRelayFrameSchema,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  createLogger,
  encodeFrame,
  parseFrame,
  verifyAgentCertificate,
  verifyAuthProof,
  type AgentToRelayFrame,
  type Logger,
  type RelayErrorCode,
  type RelayToAgentFrame,
  type RequestEnvelope,
} from '@writeback/protocol';
import type { AgentGate, AgentPresence, RelayAnswer, RelayClient } from './client.js';
import { RelayError } from './errors.js';

/** WebSocket close codes the hub uses (RFC 6455 §7.4.1). */
const CLOSE_POLICY = 1008;
const CLOSE_GOING_AWAY = 1001;

/**
 * ws refuses frames above this before buffering them (close 1009, no error frame). It is set
 * above MAX_FRAME_BYTES on purpose, so a frame just over the protocol limit still gets a proper
 * `frame_too_large` error frame from parseFrame.
 */
export const WS_MAX_PAYLOAD = MAX_FRAME_BYTES * 2;

/** Revoked agent ids remembered locally, so a reconnect racing a stale gate is still refused. */
const MAX_REMEMBERED_REVOCATIONS = 10_000;

export interface PresenceEvent {
  type: 'connected' | 'disconnected';
  agentId: string;
  tenantId: string;
  connectionId: string;
  /** Authenticated connections of this agent on this hub after the event. */
  connections: number;
}

export interface RelayHubOptions {
  /** Identifies this relay node in challenges (bound into the agent's proof) and presence. */
  relayId?: string;
  /** The cloud's Ed25519 public key: agent certificates must verify with it. */
  cloudVerifyKey: KeyObject;
  /** Is this agent still honoured (not revoked)? Asked at every authentication. */
  gate: AgentGate;
  /** Interval between pings; a connection silent for twice this is dead. Default 10 000. */
  heartbeatMs?: number;
  /** Time an agent has to send `auth` after the challenge. Default 5 000. */
  authTimeoutMs?: number;
  /** Authenticated connections one agent may hold on this hub. Default 4. */
  maxConnectionsPerAgent?: number;
  /** Connections still authenticating, all agents together; more are refused. Default 1 024. */
  maxPendingAuth?: number;
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
  /** Whether this hub holds at least one authenticated connection of the agent. */
  holds(agentId: string): boolean;
  /** Close every connection of the agent with `agent_revoked` and refuse it from now on. Returns how many were closed. */
  revoke(agentId: string): number;
  /** Listen to agents connecting and disconnecting. Returns an unsubscribe function. */
  onPresence(listener: (event: PresenceEvent) => void): () => void;
  /** Close every connection (pending requests resolve `lost`) and stop accepting. Idempotent. */
  close(): Promise<void>;
}

interface Pending {
  requestId: string;
  settle: (answer: RelayAnswer) => void;
}

interface AgentIdentity {
  agentId: string;
  tenantId: string;
  name: string;
  agentVersion: string;
  directory: string;
  capabilities: Record<string, boolean>;
}

/** A connection's lifecycle on the relay side. */
type ConnPhase =
  | { kind: 'challenged'; nonce: string; authTimer: NodeJS.Timeout }
  | { kind: 'verifying' }
  | { kind: 'ready'; identity: AgentIdentity; connectedAt: number }
  | { kind: 'closed' };

interface Conn {
  id: string;
  ws: WebSocket;
  remote: string;
  phase: ConnPhase;
  lastSeenAt: number;
  rttMs: number | null;
  lastPing: { ts: number; sentAt: number } | null;
  pending: Map<string, Pending>;
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
  const maxPerAgent = positiveInt(options.maxConnectionsPerAgent, 4, 'maxConnectionsPerAgent');
  const maxPendingAuth = positiveInt(options.maxPendingAuth, 1_024, 'maxPendingAuth');
  const now = options.now ?? Date.now;
  const log = (options.log ?? createLogger({ name: 'relay' })).child({ relayId });
  const cloudVerifyKey = options.cloudVerifyKey;
  const gate = options.gate;

  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, clientTracking: false });
  const conns = new Set<Conn>();
  /** agentId → its authenticated connections. */
  const byAgent = new Map<string, Set<Conn>>();
  /** tenantId → ids of its agents with a ready connection (a tenant's lookups do not walk every agent). */
  const byTenant = new Map<string, Set<string>>();
  const revoked = new Set<string>();
  const listeners = new Set<(e: PresenceEvent) => void>();
  if (options.onPresence) listeners.add(options.onPresence);
  let preAuth = 0;
  let closed = false;

  const emit = (event: PresenceEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        log.error('presence listener threw', { err });
      }
    }
  };

  const sendFrame = (conn: Conn, frame: RelayToAgentFrame, cb?: (err?: Error) => void): void => {
    if (conn.ws.readyState !== WebSocket.OPEN) {
      cb?.(new Error('socket not open'));
      return;
    }
    conn.ws.send(encodeFrame(frame), cb);
  };

  /** Tell the peer why, then close. Idempotent. */
  const fail = (conn: Conn, code: RelayErrorCode, message: string, requestId?: string): void => {
    if (conn.phase.kind === 'closed') return;
    log.warn('closing agent connection', {
      connectionId: conn.id,
      code,
      remote: conn.remote,
      ...(conn.phase.kind === 'ready' ? { agentId: conn.phase.identity.agentId } : {}),
    });
    sendFrame(conn, { v: PROTOCOL_VERSION, t: 'error', code, message, ...(requestId ? { requestId } : {}) });
    conn.ws.close(CLOSE_POLICY, code);
    // A peer that ignores the close handshake is cut off anyway.
    setTimeout(() => conn.ws.terminate(), 1_000).unref();
    cleanup(conn);
  };

  /** Forget a connection: every pending request on it resolves `lost`. Idempotent. */
  const cleanup = (conn: Conn): void => {
    const phase = conn.phase;
    if (phase.kind === 'closed') return;
    conn.phase = { kind: 'closed' };
    conns.delete(conn);
    if (phase.kind === 'challenged') clearTimeout(phase.authTimer);
    if (phase.kind === 'challenged' || phase.kind === 'verifying') preAuth--;
    const pending = [...conn.pending.values()];
    conn.pending.clear();
    for (const p of pending) p.settle({ kind: 'lost' });
    if (phase.kind === 'ready') {
      const { agentId, tenantId } = phase.identity;
      const set = byAgent.get(agentId);
      set?.delete(conn);
      const remaining = set?.size ?? 0;
      if (set && remaining === 0) byAgent.delete(agentId);
      if (![...(set ?? [])].some((c) => c.phase.kind === 'ready' && c.phase.identity.tenantId === tenantId)) {
        const agents = byTenant.get(tenantId);
        agents?.delete(agentId);
        if (agents?.size === 0) byTenant.delete(tenantId);
      }
      log.info('agent disconnected', { agentId, tenantId, connectionId: conn.id, connections: remaining });
      emit({ type: 'disconnected', agentId, tenantId, connectionId: conn.id, connections: remaining });
    }
  };

  const accept = (ws: WebSocket, req: IncomingMessage): void => {
    const nonce = randomBytes(32).toString('base64url');
    const conn: Conn = {
      id: randomUUID(),
      ws,
      remote: req.socket.remoteAddress ?? 'unknown',
      phase: { kind: 'closed' },
      lastSeenAt: now(),
      rttMs: null,
      lastPing: null,
      pending: new Map(),
    };
    const authTimer = setTimeout(() => fail(conn, 'auth_timeout', 'no auth frame in time'), authTimeoutMs);
    conn.phase = { kind: 'challenged', nonce, authTimer };
    conns.add(conn);
    preAuth++;
    ws.on('message', (data: RawData, isBinary: boolean) => onMessage(conn, data, isBinary));
    ws.on('close', () => cleanup(conn));
    ws.on('error', (err) => {
      log.warn('agent socket error', { connectionId: conn.id, err });
      cleanup(conn);
      ws.terminate();
    });
    sendFrame(conn, { v: PROTOCOL_VERSION, t: 'challenge', nonce, relayId, serverTime: now() });
  };

  const onMessage = (conn: Conn, data: RawData, isBinary: boolean): void => {
    if (conn.phase.kind === 'closed') return;
    conn.lastSeenAt = now();
    let frame: AgentToRelayFrame;
    try {
      if (isBinary) throw new ProtocolError('malformed_frame', 'binary frames are not part of the protocol');
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      frame = parseFrame(buf, AgentToRelayFrameSchema);
    } catch (err) {
      if (err instanceof ProtocolError) {
        fail(conn, err.code, err.message);
        return;
      }
      log.error('unexpected error parsing a frame', { err });
      fail(conn, 'malformed_frame', 'frame could not be parsed');
      return;
    }
    const phase = conn.phase;
    switch (phase.kind) {
      case 'challenged':
        if (frame.t !== 'auth') {
          fail(conn, 'unexpected_frame', `expected auth, got ${frame.t}`);
          return;
        }
        clearTimeout(phase.authTimer);
        conn.phase = { kind: 'verifying' };
        void authenticate(conn, phase.nonce, frame);
        return;
      case 'verifying':
        fail(conn, 'unexpected_frame', 'frame sent before welcome');
        return;
      case 'ready':
        onReadyFrame(conn, phase.identity, frame);
        return;
    }
  };

  const authenticate = async (
    conn: Conn,
    nonce: string,
    frame: Extract<AgentToRelayFrame, { t: 'auth' }>,
  ): Promise<void> => {
    const cert = frame.certificate;
    let proofOk = false;
    try {
      proofOk = verifyAgentCertificate(cert, cloudVerifyKey) && verifyAuthProof(nonce, relayId, cert, frame.sig);
    } catch {
      proofOk = false; // a certificate key that is not a point on the curve
    }
    if (!proofOk) {
      fail(conn, 'auth_failed', 'certificate or proof does not verify');
      return;
    }
    if (revoked.has(cert.agentId)) {
      fail(conn, 'agent_revoked', 'agent has been revoked');
      return;
    }
    let allowed: boolean;
    try {
      allowed = await gate(cert.agentId, cert.tenantId);
    } catch (err) {
      log.error('agent gate failed; refusing the agent', {
        agentId: cert.agentId,
        err: new RelayError('gate_failed', 'gate threw', { cause: err }),
      });
      fail(conn, 'auth_failed', 'agent could not be checked');
      return;
    }
    // The socket may have gone while the gate was asked.
    if (conn.phase.kind !== 'verifying') return;
    if (!allowed || revoked.has(cert.agentId)) {
      fail(conn, 'agent_revoked', 'agent has been revoked');
      return;
    }
    if (frame.probe === true) {
      // The doctor's check: the same verdict as the agent would get, and nothing else.
      cleanup(conn);
      conn.ws.send(encodeFrame({ v: PROTOCOL_VERSION, t: 'welcome', connectionId: conn.id, heartbeatMs }), () =>
        conn.ws.close(1000, 'probe done'),
      );
      setTimeout(() => conn.ws.terminate(), 1_000).unref();
      log.info('agent handshake probe answered', {
        agentId: cert.agentId,
        tenantId: cert.tenantId,
        connectionId: conn.id,
        remote: conn.remote,
      });
      return;
    }
    const set = byAgent.get(cert.agentId) ?? new Set<Conn>();
    if (set.size >= maxPerAgent) {
      // After a network blip the agent redials before its old sockets are declared dead: give the
      // slot of one already silent for a heartbeat to the proven-live newcomer.
      const t = now();
      const stale = [...set]
        .filter((c) => t - c.lastSeenAt > heartbeatMs)
        .sort((a, b) => a.lastSeenAt - b.lastSeenAt)[0];
      if (!stale) {
        fail(conn, 'overloaded', `agent already holds ${set.size} connections`);
        return;
      }
      log.info('replacing a silent connection of the agent', { agentId: cert.agentId, connectionId: stale.id });
      cleanup(stale);
      stale.ws.terminate();
    }
    const identity: AgentIdentity = {
      agentId: cert.agentId,
      tenantId: cert.tenantId,
      name: cert.name,
      agentVersion: frame.agentVersion,
      directory: frame.directory,
      capabilities: frame.capabilities ?? {},
    };
    preAuth--;
    conn.phase = { kind: 'ready', identity, connectedAt: now() };
    set.add(conn);
    byAgent.set(cert.agentId, set);
    const agents = byTenant.get(cert.tenantId) ?? new Set<string>();
    agents.add(cert.agentId);
    byTenant.set(cert.tenantId, agents);
    sendFrame(conn, { v: PROTOCOL_VERSION, t: 'welcome', connectionId: conn.id, heartbeatMs });
    log.info('agent connected', {
      agentId: identity.agentId,
      tenantId: identity.tenantId,
      connectionId: conn.id,
      connections: set.size,
      remote: conn.remote,
    });
    emit({
      type: 'connected',
      agentId: identity.agentId,
      tenantId: identity.tenantId,
      connectionId: conn.id,
      connections: set.size,
    });
  };

  const onReadyFrame = (conn: Conn, id: AgentIdentity, frame: AgentToRelayFrame): void => {
    switch (frame.t) {
      case 'auth':
        fail(conn, 'unexpected_frame', 'already authenticated');
        return;
      case 'pong': {
        const ping = conn.lastPing;
        // Only a pong echoing our last ping counts, so an agent cannot fake a low rtt.
        if (ping && frame.ts === ping.ts) conn.rttMs = Math.max(0, now() - ping.sentAt);
        return;
      }
      case 'response': {
        const env = frame.envelope;
        if (env.tenantId !== id.tenantId) {
          fail(conn, 'wrong_tenant', 'response claims another tenant', env.requestId);
          return;
        }
        if (env.agentId !== id.agentId) {
          fail(conn, 'wrong_agent', 'response claims another agent', env.requestId);
          return;
        }
        const p = conn.pending.get(env.requestId);
        if (!p) {
          // Normal after a timeout: the agent answers late.
          log.info('response for an unknown request ignored', { agentId: id.agentId, requestId: env.requestId });
          return;
        }
        conn.pending.delete(env.requestId);
        p.settle({ kind: 'response', envelope: env });
        return;
      }
      case 'reject': {
        const p = conn.pending.get(frame.requestId);
        if (!p) {
          log.info('reject for an unknown request ignored', { agentId: id.agentId, requestId: frame.requestId });
          return;
        }
        conn.pending.delete(frame.requestId);
        p.settle({ kind: 'rejected', code: frame.code, message: frame.message });
        return;
      }
    }
  };

  const heartbeat = setInterval(() => {
    const t = now();
    for (const conn of conns) {
      if (conn.phase.kind !== 'ready') continue;
      if (t - conn.lastSeenAt > 2 * heartbeatMs) {
        log.warn('agent connection silent for two heartbeats; terminating', {
          agentId: conn.phase.identity.agentId,
          connectionId: conn.id,
        });
        cleanup(conn);
        conn.ws.terminate();
        continue;
      }
      conn.lastPing = { ts: t, sentAt: t };
      sendFrame(conn, { v: PROTOCOL_VERSION, t: 'ping', ts: t });
    }
  }, heartbeatMs);
  heartbeat.unref();

  const readyConns = (agentId: string): Conn[] =>
    [...(byAgent.get(agentId) ?? [])].filter((c) => c.phase.kind === 'ready' && c.ws.readyState === WebSocket.OPEN);

  const send = (envelope: RequestEnvelope): Promise<RelayAnswer> => {
    if (closed) return Promise.resolve({ kind: 'unavailable' });
    const candidates = readyConns(envelope.agentId).filter(
      (c) => c.phase.kind === 'ready' && c.phase.identity.tenantId === envelope.tenantId,
    );
    if (candidates.length === 0) return Promise.resolve({ kind: 'unavailable' });
    const remaining = envelope.deadline - now();
    // Not sent: nothing can have been written, so this is a refusal, not a timeout.
    if (remaining <= 0)
      return Promise.resolve({
        kind: 'rejected',
        code: 'expired',
        message: 'deadline passed before the request was sent',
      });
    if (candidates.some((c) => c.pending.has(envelope.requestId))) {
      return Promise.resolve({
        kind: 'rejected',
        code: 'replayed',
        message: 'a request with this id is already in flight',
      });
    }
    const payload = encodeFrame({ v: PROTOCOL_VERSION, t: 'request', envelope });
    if (Buffer.byteLength(payload) > MAX_FRAME_BYTES)
      return Promise.resolve({ kind: 'rejected', code: 'frame_too_large', message: 'request exceeds the frame limit' });
    candidates.sort((a, b) => a.pending.size - b.pending.size || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity));
    const conn = candidates[0];
    if (!conn) return Promise.resolve({ kind: 'unavailable' });
    return new Promise<RelayAnswer>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        conn.pending.delete(envelope.requestId);
        settle({ kind: 'timeout' });
      }, remaining);
      const settle = (answer: RelayAnswer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(answer);
      };
      conn.pending.set(envelope.requestId, { requestId: envelope.requestId, settle });
      conn.ws.send(payload, (err) => {
        if (!err) return;
        log.warn('request could not be written to the agent socket', { requestId: envelope.requestId, err });
        conn.pending.delete(envelope.requestId);
        // The bytes may or may not have left: the agent may have acted.
        settle({ kind: 'lost' });
      });
    });
  };

  const presence = (tenantId?: string): AgentPresence[] => {
    const out: AgentPresence[] = [];
    const ids = tenantId === undefined ? byAgent.keys() : (byTenant.get(tenantId) ?? new Set<string>()).values();
    for (const agentId of ids) {
      const set = byAgent.get(agentId);
      if (!set) continue;
      let p: AgentPresence | null = null;
      for (const c of set) {
        if (c.phase.kind !== 'ready') continue;
        const id = c.phase.identity;
        if (tenantId !== undefined && id.tenantId !== tenantId) continue;
        if (!p) {
          p = {
            agentId,
            tenantId: id.tenantId,
            name: id.name,
            agentVersion: id.agentVersion,
            directory: id.directory,
            capabilities: id.capabilities,
            relayId,
            connections: 0,
            connectedAt: c.phase.connectedAt,
            lastSeenAt: c.lastSeenAt,
            rttMs: null,
            inFlight: 0,
          };
        }
        p.connections++;
        p.connectedAt = Math.min(p.connectedAt, c.phase.connectedAt);
        p.lastSeenAt = Math.max(p.lastSeenAt, c.lastSeenAt);
        if (c.rttMs !== null) p.rttMs = p.rttMs === null ? c.rttMs : Math.min(p.rttMs, c.rttMs);
        p.inFlight += c.pending.size;
      }
      if (p) out.push(p);
    }
    return sortPresence(out);
  };

  const revoke = (agentId: string): number => {
    if (revoked.size >= MAX_REMEMBERED_REVOCATIONS) revoked.clear();
    revoked.add(agentId);
    const set = [...(byAgent.get(agentId) ?? [])];
    for (const c of set) fail(c, 'agent_revoked', 'agent has been revoked');
    if (set.length > 0) log.info('agent revoked; connections closed', { agentId, connections: set.length });
    return set.length;
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (closed || preAuth >= maxPendingAuth) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const c of [...conns]) {
      cleanup(c);
      c.ws.close(CLOSE_GOING_AWAY, 'relay shutting down');
      setTimeout(() => c.ws.terminate(), 1_000).unref();
    }
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };

  const hub: RelayHub = {
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
    holds: (agentId) => readyConns(agentId).length > 0,
    revoke,
    onPresence(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close,
  };
  return hub;
}

/** Healthiest first: fewest requests in flight, then lowest round trip, then a stable order. */
export function sortPresence(list: AgentPresence[]): AgentPresence[] {
  return list.sort(
    (a, b) =>
      a.inFlight - b.inFlight || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity) || a.agentId.localeCompare(b.agentId),
  );
}
