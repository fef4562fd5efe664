/**
 * Test fixtures for the relay: real keys and certificates, and a scripted agent speaking the wire
 * protocol over a real WebSocket (the real agent lives in @writeback/agent; this one can misbehave
 * on purpose). The hub on a real HTTP server, the cloud's keys, an agent's identity (keys and
 * certificate), `waitFor` and the quiet logger come from @writeback/testkit (re-exported here for the tests of this folder).
 */
import { once } from 'node:events';
import type { KeyObject } from 'node:crypto';
import { WebSocket } from 'ws';
import {
  RelayToAgentFrameSchema,
  encodeFrame,
  parseFrame,
  sealRequest,
  signAuthProof,
  signResponse,
  type AgentCertificate,
  type AgentToRelayFrame,
  type OperationResult,
  type RelayToAgentFrame,
  type RequestEnvelope,
} from '@writeback/protocol';
import {
  makeAgentIdentity,
  presenceEvents,
  waitFor,
  type AgentIdentity,
  type CloudKeys,
  type HubFixture,
} from '@writeback/testkit';
import type { PresenceEvent, RelayAnswer, RelayHub } from '../src/index.js';

/** The cloud's keys as the relay sees them: it verifies, the test signs. */
export type Cloud = Pick<CloudKeys, 'signingKey' | 'verifyKey'>;
export {
  makeAgentIdentity,
  makeCloudKeys as makeCloud,
  quietLog,
  startHub,
  waitFor,
  type AgentIdentity,
  type HubFixture,
} from '@writeback/testkit';

/** A scripted agent: queues every frame it receives, sends whatever the test tells it to. */
export class ScriptedAgent {
  readonly ws: WebSocket;
  readonly frames: RelayToAgentFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<() => void> = [];
  autoPong = true;
  /** When set, request frames are answered with this result. */
  answer: ((env: RequestEnvelope) => OperationResult | null | Promise<OperationResult | null>) | null = null;

  constructor(
    url: string,
    readonly id: AgentIdentity | null = null,
    /** The loopback address to dial from (127.0.0.2, ...): another "remote" for the hub. */
    options: { localAddress?: string } = {},
  ) {
    this.ws = new WebSocket(url, options.localAddress ? { localAddress: options.localAddress } : {});
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.#waiters.splice(0)) w();
      }),
    );
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const frame = parseFrame(Buffer.isBuffer(data) ? data : Buffer.from(String(data)), RelayToAgentFrameSchema);
      if (frame.t === 'ping' && this.autoPong) this.send({ v: 1, t: 'pong', ts: frame.ts });
      if (frame.t === 'request' && this.answer && this.id) void this.#answer(frame.envelope);
      this.frames.push(frame);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  async #answer(env: RequestEnvelope) {
    const result = await this.answer?.(env);
    if (!result || !this.id) return;
    this.send({
      v: 1,
      t: 'response',
      envelope: signResponse({ request: env, result, agentSigningKey: this.id.signingKey }),
    });
  }

  async opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await once(this.ws, 'open');
  }

  send(frame: AgentToRelayFrame): void {
    this.ws.send(encodeFrame(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The next frame of type `t` (consumed from the queue), waiting up to `ms`. */
  async next<T extends RelayToAgentFrame['t']>(t: T, ms = 10_000): Promise<Extract<RelayToAgentFrame, { t: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f) => f.t === t);
      if (i >= 0) {
        const [f] = this.frames.splice(i, 1);
        return f as Extract<RelayToAgentFrame, { t: T }>;
      }
      // A closed socket brings no more frames: say so at once (callers retry a refused connect).
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`no ${t} frame: the socket is closed`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${t} frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Answer the challenge with this identity; returns the welcome. */
  async authenticate(opts: { signWith?: KeyObject; certificate?: AgentCertificate; probe?: boolean } = {}) {
    if (!this.id) throw new Error('no identity');
    const challenge = await this.next('challenge');
    const certificate = opts.certificate ?? this.id.certificate;
    this.send({
      v: 1,
      t: 'auth',
      certificate,
      sig: signAuthProof(challenge.nonce, challenge.relayId, certificate, opts.signWith ?? this.id.signingKey),
      agentVersion: 'test-1',
      directory: 'embedded',
      capabilities: { unlock: true },
      ...(opts.probe ? { probe: true } : {}),
    });
    return challenge;
  }

  close(): void {
    this.ws.close();
  }
}

export async function connectAgent(
  url: string,
  id: AgentIdentity,
  options: { localAddress?: string } = {},
): Promise<ScriptedAgent> {
  const agent = new ScriptedAgent(url, id, options);
  await agent.authenticate();
  await agent.next('welcome');
  return agent;
}

/**
 * A sealed, signed health request (no secret) for an agent. The default deadline is only a safety
 * net: a test that expects `response` or `lost` must not see `timeout` because the machine is busy.
 */
export function healthRequest(
  cloud: Cloud,
  id: AgentIdentity,
  deadlineInMs = 30_000,
  requestId?: string,
): RequestEnvelope {
  return sealRequest({
    request: { op: 'health', params: {} },
    tenantId: id.tenantId,
    agentId: id.agentId,
    agentEncryptionKey: id.encryption.publicKey,
    cloudSigningKey: cloud.signingKey,
    deadline: Date.now() + deadlineInMs,
    ...(requestId ? { requestId } : {}),
  });
}

/**
 * Agent `agentId` of `tenantId` connected to the hub, with a health request sent to it that it has
 * received and not answered: what the test then does decides the request's answer (`pending`).
 */
export async function agentWithPendingRequest(
  fx: Pick<HubFixture, 'url' | 'hub'>,
  cloud: Cloud,
  tenantId: string,
  agentId: string,
): Promise<{ id: AgentIdentity; agent: ScriptedAgent; env: RequestEnvelope; pending: Promise<RelayAnswer> }> {
  const id = makeAgentIdentity(cloud, tenantId, agentId);
  const agent = await connectAgent(fx.url, id);
  const env = healthRequest(cloud, id);
  const pending = fx.hub.send(env);
  await agent.next('request');
  return { id, agent, env, pending };
}

/**
 * The next presence event of `hub` that matches. Call it before the action that causes the event
 * (it listens from the call on); `ms` is only a safety net for a broken hub.
 */
export function presenceEvent(
  hub: RelayHub,
  match: (e: PresenceEvent) => boolean,
  ms = 10_000,
  what = 'presence event',
): Promise<PresenceEvent> {
  return waitFor(presenceEvents(hub), { match, timeoutMs: ms, what });
}

/**
 * What `promise` settles to if it does so from microtasks alone, before any timer or I/O could
 * run; null otherwise. "At once" without measuring time, so a loaded machine cannot fail it.
 */
export function settlesWithoutIo<T>(promise: Promise<T>): Promise<{ value: T } | null> {
  return Promise.race([
    promise.then((value) => ({ value })),
    new Promise<null>((resolve) => setImmediate(() => resolve(null))),
  ]);
}
