/**
 * One agent's WebSocket on the relay, from challenge to close: the handshake, frame parsing, the
 * heartbeat and the close policy. Everything an agent sends is judged here, so the policy on
 * protocol violations lives in one place: the offending connection gets an `error` frame with a
 * code and is closed, and the requests pending on it resolve `lost` (the agent may have acted).
 *
 * It builds on the registry (where an authenticated connection is recorded) and the router (whose
 * in-flight table it resolves from `response` and `reject` frames); neither imports it.
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import {
  AgentToRelayFrameSchema,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeFrame,
  parseFrame,
  type AgentToRelayFrame,
  type Logger,
  type RelayErrorCode,
  type RelayToAgentFrame,
} from '@writeback/protocol';
import type { AdmissionTicket, RefusalLog } from './admission.js';
import type { AgentGate } from './client.js';
import { checkAuth, type AgentIdentity, type AuthFrame } from './handshake.js';
import type { Registry } from './registry.js';
import { InFlight } from './router.js';

/** WebSocket close codes (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
const CLOSE_POLICY = 1008;
const CLOSE_GOING_AWAY = 1001;
/** A peer that ignores the close handshake is cut off after this. */
const TERMINATE_AFTER_MS = 1_000;

/** Every socket of one hub, authenticated or not: closes all at shutdown. */
export class Sockets {
  readonly all = new Set<Connection>();
}

export interface ConnectionContext {
  relayId: string;
  cloudVerifyKey: KeyObject;
  gate: AgentGate;
  heartbeatMs: number;
  /** Deadline from the challenge to the welcome (auth frame sent and judged). */
  authTimeoutMs: number;
  now: () => number;
  log: Logger;
  /** Refusals before authentication are counted here, not written one line each. */
  refusals: RefusalLog;
  registry: Registry<Connection>;
  sockets: Sockets;
}

/** A connection's lifecycle on the relay side. */
type Phase =
  | { kind: 'challenged'; nonce: string }
  | { kind: 'verifying' }
  | { kind: 'ready'; identity: AgentIdentity }
  | { kind: 'closed' };

export class Connection {
  readonly id = randomUUID();
  readonly inFlight = new InFlight();
  readonly #ws: WebSocket;
  readonly #remote: string;
  readonly #ctx: ConnectionContext;
  /** Its place among the pending connections, given back once it authenticates or goes. */
  readonly #ticket: AdmissionTicket;
  /** The handshake deadline: challenged and verifying both count, so a stalled gate frees the place too. */
  #authTimer: NodeJS.Timeout | null;
  #phase: Phase = { kind: 'closed' };
  #lastSeenAt: number;
  #rttMs: number | null = null;
  #lastPing: { ts: number; sentAt: number } | null = null;

  /** Take over an upgraded socket (admitted with `ticket`) and challenge the agent. */
  constructor(ws: WebSocket, remote: string, ctx: ConnectionContext, ticket: AdmissionTicket) {
    this.#ws = ws;
    this.#remote = remote;
    this.#ctx = ctx;
    this.#ticket = ticket;
    // Let go without an error frame, as a refusal at the door is: `overloaded` means "this agent
    // holds every slot" to the agent and its doctor, which is not what happened.
    ticket.evict = () => {
      if (this.#phase.kind === 'closed') return;
      this.#ctx.refusals.note('evicted', { remote, connectionId: this.id });
      this.cut();
    };
    this.#lastSeenAt = ctx.now();
    const nonce = randomBytes(32).toString('base64url');
    this.#authTimer = setTimeout(() => this.fail('auth_timeout', 'no auth frame in time'), ctx.authTimeoutMs);
    this.#phase = { kind: 'challenged', nonce };
    ctx.sockets.all.add(this);
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#forget());
    ws.on('error', (err) => {
      const phase = this.#phase;
      if (phase.kind === 'ready') ctx.log.warn('agent socket error', { connectionId: this.id, err });
      else if (phase.kind !== 'closed') ctx.refusals.note('socket_error', { remote, connectionId: this.id, err });
      this.#forget();
      ws.terminate();
    });
    this.#send({ v: PROTOCOL_VERSION, t: 'challenge', nonce, relayId: ctx.relayId, serverTime: ctx.now() });
  }

  get lastSeenAt(): number {
    return this.#lastSeenAt;
  }

  /** Last heartbeat round trip, ms. */
  get rttMs(): number | null {
    return this.#rttMs;
  }

  isOpen(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Write an encoded frame (the router's requests). */
  write(payload: string, cb: (err?: Error) => void): void {
    this.#ws.send(payload, cb);
  }

  /**
   * Tell the peer why, then close. Idempotent. An authenticated connection's failure is logged as
   * one line; a refusal before authentication goes to the refusal log (counted, summarised).
   */
  fail(code: RelayErrorCode, message: string, requestId?: string): void {
    this.#refuse(code, message, code, requestId);
  }

  #refuse(code: RelayErrorCode, message: string, reason: string, requestId?: string): void {
    const phase = this.#phase;
    if (phase.kind === 'closed') return;
    if (phase.kind === 'ready')
      this.#ctx.log.warn('closing agent connection', {
        connectionId: this.id,
        code,
        remote: this.#remote,
        agentId: phase.identity.agentId,
      });
    else this.#ctx.refusals.note(reason, { remote: this.#remote, connectionId: this.id });
    this.#send({ v: PROTOCOL_VERSION, t: 'error', code, message, ...(requestId ? { requestId } : {}) });
    this.#ws.close(CLOSE_POLICY, code);
    this.#terminateLater();
    this.#forget();
  }

  /** Drop the connection without a word (a dead peer, or its slot given to a newcomer). */
  cut(): void {
    this.#forget();
    this.#ws.terminate();
  }

  /** The hub is shutting down. */
  shutdown(): void {
    this.#forget();
    this.#ws.close(CLOSE_GOING_AWAY, 'relay shutting down');
    this.#terminateLater();
  }

  /** One heartbeat tick at time `t`: ping the agent, or cut it off when silent for two heartbeats. */
  beat(t: number): void {
    const phase = this.#phase;
    if (phase.kind !== 'ready') return;
    if (t - this.#lastSeenAt > 2 * this.#ctx.heartbeatMs) {
      this.#ctx.log.warn('agent connection silent for two heartbeats; terminating', {
        agentId: phase.identity.agentId,
        connectionId: this.id,
      });
      this.cut();
      return;
    }
    this.#lastPing = { ts: t, sentAt: t };
    this.#send({ v: PROTOCOL_VERSION, t: 'ping', ts: t });
  }

  #send(frame: RelayToAgentFrame): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(encodeFrame(frame));
  }

  #terminateLater(): void {
    setTimeout(() => this.#ws.terminate(), TERMINATE_AFTER_MS).unref();
  }

  /** Forget the connection: every request pending on it resolves `lost`. Idempotent. */
  #forget(): void {
    const phase = this.#phase;
    if (phase.kind === 'closed') return;
    this.#phase = { kind: 'closed' };
    const { sockets, registry, log } = this.#ctx;
    sockets.all.delete(this);
    this.#endHandshake();
    this.inFlight.loseAll();
    if (phase.kind !== 'ready') return;
    const { agentId, tenantId } = phase.identity;
    const removed = registry.remove(this, agentId);
    log.info('agent disconnected', { agentId, tenantId, connectionId: this.id, connections: removed?.remaining ?? 0 });
  }

  /** The handshake is over (authenticated or gone): no deadline, and its pending place is free. */
  #endHandshake(): void {
    if (this.#authTimer) clearTimeout(this.#authTimer);
    this.#authTimer = null;
    this.#ticket.release();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#phase.kind === 'closed') return;
    this.#lastSeenAt = this.#ctx.now();
    let frame: AgentToRelayFrame;
    try {
      if (isBinary) throw new ProtocolError('malformed_frame', 'binary frames are not part of the protocol');
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      frame = parseFrame(buf, AgentToRelayFrameSchema);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.fail(err.code, err.message);
        return;
      }
      this.#ctx.log.error('unexpected error parsing a frame', { err });
      this.fail('malformed_frame', 'frame could not be parsed');
      return;
    }
    const phase = this.#phase;
    switch (phase.kind) {
      case 'challenged':
        if (frame.t !== 'auth') {
          this.fail('unexpected_frame', `expected auth, got ${frame.t}`);
          return;
        }
        this.#phase = { kind: 'verifying' };
        void this.#authenticate(phase.nonce, frame);
        return;
      case 'verifying':
        this.fail('unexpected_frame', 'frame sent before welcome');
        return;
      case 'ready':
        this.#onReadyFrame(phase.identity, frame);
        return;
    }
  }

  async #authenticate(nonce: string, frame: AuthFrame): Promise<void> {
    const { registry, log, heartbeatMs } = this.#ctx;
    const verdict = await checkAuth(nonce, frame, { ...this.#ctx, isRevoked: (id) => registry.isRevoked(id) });
    // The socket may have gone while the gate was asked.
    if (this.#phase.kind !== 'verifying') return;
    if (!verdict.ok) {
      this.fail(verdict.code, verdict.message);
      return;
    }
    const { identity } = verdict;
    // Revoked while the gate was asked: the hub's memory wins over a stale gate.
    if (registry.isRevoked(identity.agentId)) {
      this.fail('agent_revoked', 'agent has been revoked');
      return;
    }
    const welcome: RelayToAgentFrame = { v: PROTOCOL_VERSION, t: 'welcome', connectionId: this.id, heartbeatMs };
    if (frame.probe === true) {
      // The doctor's check: the same verdict as the agent would get, and nothing else.
      this.#forget();
      this.#ws.send(encodeFrame(welcome), () => this.#ws.close(CLOSE_NORMAL, 'probe done'));
      this.#terminateLater();
      log.info('agent handshake probe answered', {
        agentId: identity.agentId,
        tenantId: identity.tenantId,
        connectionId: this.id,
        remote: this.#remote,
      });
      return;
    }
    const slot = registry.slot(identity.agentId);
    if (slot.kind === 'full') {
      this.fail('overloaded', `agent already holds ${slot.held} connections`);
      return;
    }
    if (slot.kind === 'evict') {
      log.info('replacing a silent connection of the agent', {
        agentId: identity.agentId,
        connectionId: slot.stale.id,
      });
      slot.stale.cut();
    }
    this.#endHandshake();
    this.#phase = { kind: 'ready', identity };
    this.#send(welcome);
    const connections = registry.add(this, identity);
    log.info('agent connected', {
      agentId: identity.agentId,
      tenantId: identity.tenantId,
      connectionId: this.id,
      connections,
      remote: this.#remote,
    });
  }

  #onReadyFrame(id: AgentIdentity, frame: AgentToRelayFrame): void {
    switch (frame.t) {
      case 'auth':
        this.fail('unexpected_frame', 'already authenticated');
        return;
      case 'pong': {
        const ping = this.#lastPing;
        // Only a pong echoing our last ping counts, so an agent cannot fake a low rtt.
        if (ping && frame.ts === ping.ts) this.#rttMs = Math.max(0, this.#ctx.now() - ping.sentAt);
        // Its directory's health (issue 12): routing skips an agent that cannot reach it.
        if (frame.directoryHealth) this.#ctx.registry.reportDirectory(this, id.agentId, frame.directoryHealth);
        return;
      }
      case 'response': {
        const env = frame.envelope;
        if (env.tenantId !== id.tenantId) {
          this.fail('wrong_tenant', 'response claims another tenant', env.requestId);
          return;
        }
        if (env.agentId !== id.agentId) {
          this.fail('wrong_agent', 'response claims another agent', env.requestId);
          return;
        }
        // Unknown is normal after a timeout: the agent answers late.
        if (!this.inFlight.settle(env.requestId, { kind: 'response', envelope: env }))
          this.#ctx.log.info('response for an unknown request ignored', {
            agentId: id.agentId,
            requestId: env.requestId,
          });
        return;
      }
      case 'reject':
        if (!this.inFlight.settle(frame.requestId, { kind: 'rejected', code: frame.code, message: frame.message }))
          this.#ctx.log.info('reject for an unknown request ignored', {
            agentId: id.agentId,
            requestId: frame.requestId,
          });
        return;
    }
  }
}
