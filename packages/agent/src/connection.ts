/**
 * The agent's outbound connections to the relay. Each link runs its own loop: connect, answer the
 * challenge, serve requests, and on any loss wait a jittered exponential backoff and start over.
 * Several links to the same relay URL (a load balancer spreads them over relay nodes) give
 * active-active paths, like Cloudflare Tunnel's HA connections. Liveness: the relay pings every
 * `heartbeatMs` (announced in `welcome`); a link that hears nothing for twice that is dropped.
 * One file (over 400 lines) on purpose: RelayLink is one state machine (connect, challenge, serve,
 * heartbeat, backoff, close) whose transitions share its private fields and read top to bottom.
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import { z } from 'zod';
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  SEALED_ANSWERS_CAPABILITY,
  ProtocolError,
  RelayToAgentFrameSchema,
  encodeFrame,
  parseFrame,
  signAuthProof,
  type AgentCertificate,
  type AgentToRelayFrame,
  type Logger,
  type RelayToAgentFrame,
} from '@writeback/protocol';
import { AgentError } from './errors.js';
import { defaultLogger } from './log-sink.js';
import type { Executor } from './executor.js';
import { checkOutboundUrl } from './urls.js';

/** One link's state. `attempt` counts consecutive failures (drives the backoff). */
export type ConnectionState =
  | { status: 'connecting'; attempt: number; since: number }
  | { status: 'authenticating'; attempt: number; since: number }
  | { status: 'ready'; since: number; relayId: string; connectionId: string; heartbeatMs: number }
  | { status: 'backoff'; attempt: number; since: number; retryAt: number }
  | { status: 'closed'; since: number };

/** A link's state as reported by `status()`, with the last error the relay or the socket gave. */
export type ConnectionStatus = ConnectionState & { index: number; lastError: string | null };

export interface BackoffPolicy {
  /** First retry waits up to this. Default 250 ms. */
  baseMs: number;
  /** No retry waits longer than this. Default 30 s. */
  capMs: number;
  /** A link ready for this long resets the attempt count. Default 10 s. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 250, capMs: 30_000, stableMs: 10_000 });

/**
 * Delay before retry number `attempt` (0-based): "full jitter", uniform in
 * [0, min(cap, base·2^attempt)), so many agents cut off at once do not come back in lockstep.
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'> = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(Math.min(Math.max(random(), 0), 1 - Number.EPSILON) * ceiling);
}

export interface RelayConnectionsOptions {
  relayUrl: string;
  /** Parallel links. Default 1. */
  connections?: number;
  certificate: AgentCertificate;
  signingKey: KeyObject;
  executor: Executor;
  agentVersion: string;
  directoryKind: string;
  capabilities: Record<string, boolean>;
  /** PEM file of the CA that signs the relay's certificate (private PKI). */
  caFile?: string;
  /** Allow ws:// to a non-loopback host (warned loudly). Default false. */
  allowPlaintext?: boolean;
  /** Time from socket start to `welcome`. Default 10 s. */
  handshakeTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
  now?: () => number;
  log?: Logger;
  onStatus?: (status: ConnectionStatus[]) => void;
}

export interface RelayConnections {
  status(): ConnectionStatus[];
  /** Resolves once at least one link is authenticated (at once if one is). */
  ready(): Promise<void>;
  /** Close every link; no reconnects afterwards. */
  close(): Promise<void>;
}

/** The loose shape of a request frame, to name the request when its envelope does not parse. */
const LooseRequestSchema = z.object({
  t: z.literal('request'),
  envelope: z.object({
    requestId: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._:-]+$/),
  }),
});

class RelayLink {
  state: ConnectionState;
  lastError: string | null = null;
  #ws: WebSocket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #attempt = 0;
  #closing = false;
  #closedPromise: Promise<void> | null = null;

  constructor(
    readonly index: number,
    private readonly o: Required<
      Pick<
        RelayConnectionsOptions,
        'certificate' | 'signingKey' | 'executor' | 'agentVersion' | 'directoryKind' | 'capabilities'
      >
    > & {
      url: string;
      ca: Buffer | undefined;
      handshakeTimeoutMs: number;
      backoff: BackoffPolicy;
      random: () => number;
      now: () => number;
      log: Logger;
      changed: () => void;
    },
  ) {
    this.state = { status: 'closed', since: o.now() };
  }

  #set(state: ConnectionState) {
    this.state = state;
    this.o.changed();
  }

  start() {
    if (this.#closing) return;
    const { o } = this;
    this.#set({ status: 'connecting', attempt: this.#attempt, since: o.now() });
    const ws = new WebSocket(o.url, {
      maxPayload: MAX_FRAME_BYTES * 2,
      handshakeTimeout: o.handshakeTimeoutMs,
      perMessageDeflate: false,
      ...(o.ca ? { ca: o.ca } : {}),
    });
    this.#ws = ws;
    this.#arm(o.handshakeTimeoutMs, 'handshake_timeout');
    ws.on('open', () => {
      if (this.#ws === ws) this.#set({ status: 'authenticating', attempt: this.#attempt, since: o.now() });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(ws, data, isBinary));
    ws.on('error', (err) => {
      this.lastError = 'socket_error';
      o.log.warn('relay link error', { link: this.index, err });
    });
    ws.on('close', (code) => this.#onClose(ws, code));
  }

  /** (Re)arm the silence watchdog: no frame for `ms` → drop the socket. */
  #arm(ms: number, reason: string) {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.lastError = reason;
      this.o.log.warn('relay link silent; dropping it', { link: this.index, reason });
      this.#ws?.terminate();
    }, ms);
  }

  #send(ws: WebSocket, frame: AgentToRelayFrame) {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(frame));
  }

  #onMessage(ws: WebSocket, data: RawData, isBinary: boolean) {
    if (this.#ws !== ws) return;
    const { o } = this;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let frame: RelayToAgentFrame;
    try {
      if (isBinary) throw new ProtocolError('malformed_frame', 'binary frame');
      frame = parseFrame(buf, RelayToAgentFrameSchema);
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : 'malformed_frame';
      // A request we cannot parse (e.g. an operation this version does not know) is refused by id.
      let loose: unknown = null;
      try {
        loose = JSON.parse(buf.toString('utf8'));
      } catch {
        loose = null;
      }
      const req = LooseRequestSchema.safeParse(loose);
      if (req.success && this.state.status === 'ready') {
        this.#send(ws, {
          v: PROTOCOL_VERSION,
          t: 'reject',
          requestId: req.data.envelope.requestId,
          code,
          message: 'request frame does not parse',
        });
        return;
      }
      o.log.warn('malformed frame from the relay; reconnecting', { link: this.index, code });
      this.lastError = code;
      ws.close(1008, code);
      return;
    }
    const state = this.state;
    switch (frame.t) {
      case 'challenge': {
        if (state.status !== 'authenticating') return this.#violation(ws, 'challenge out of turn');
        o.executor.observeServerTime(frame.serverTime, o.now());
        this.#send(ws, {
          v: PROTOCOL_VERSION,
          t: 'auth',
          certificate: o.certificate,
          sig: signAuthProof(frame.nonce, frame.relayId, o.certificate, o.signingKey),
          agentVersion: o.agentVersion,
          directory: o.directoryKind,
          // This agent seals its answers whenever the cloud asks (the executor does it).
          capabilities: { ...o.capabilities, [SEALED_ANSWERS_CAPABILITY]: true },
        });
        this.#pendingRelayId = frame.relayId;
        return;
      }
      case 'welcome': {
        if (state.status !== 'authenticating' || !this.#pendingRelayId)
          return this.#violation(ws, 'welcome out of turn');
        this.lastError = null;
        this.#set({
          status: 'ready',
          since: o.now(),
          relayId: this.#pendingRelayId,
          connectionId: frame.connectionId,
          heartbeatMs: frame.heartbeatMs,
        });
        this.#arm(2 * frame.heartbeatMs, 'heartbeat_missed');
        o.log.info('relay link ready', {
          link: this.index,
          relayId: this.#pendingRelayId,
          connectionId: frame.connectionId,
        });
        return;
      }
      case 'ping':
        if (state.status !== 'ready') return this.#violation(ws, 'ping before welcome');
        this.#arm(2 * state.heartbeatMs, 'heartbeat_missed');
        this.#send(ws, { v: PROTOCOL_VERSION, t: 'pong', ts: frame.ts });
        return;
      case 'request': {
        if (state.status !== 'ready') return this.#violation(ws, 'request before welcome');
        this.#arm(2 * state.heartbeatMs, 'heartbeat_missed');
        const work = o.executor.execute(frame.envelope).then((ex) => {
          // If the socket went meanwhile the relay has already answered `lost`; nothing to send.
          if (ex.kind === 'response') this.#send(ws, { v: PROTOCOL_VERSION, t: 'response', envelope: ex.envelope });
          else
            this.#send(ws, {
              v: PROTOCOL_VERSION,
              t: 'reject',
              requestId: ex.requestId,
              code: ex.code,
              message: ex.message.slice(0, 1024),
            });
        });
        // close() waits for these, so an answer finished during a graceful stop still goes out.
        const guarded = work.catch((err: unknown) =>
          o.log.error('answering a request failed', { link: this.index, requestId: frame.envelope.requestId, err }),
        );
        this.#answering.add(guarded);
        void guarded.finally(() => this.#answering.delete(guarded));
        return;
      }
      case 'error':
        this.lastError = frame.code;
        o.log.warn('relay reported an error', {
          link: this.index,
          code: frame.code,
          ...(frame.requestId ? { requestId: frame.requestId } : {}),
        });
        if (frame.code === 'agent_revoked')
          o.log.error('this agent has been revoked by the cloud; it must be registered again');
        // Not a refusal: the cloud could not check this agent just now (its store or NATS). The
        // normal short backoff applies; nothing to do on this host.
        else if (frame.code === 'auth_unavailable')
          o.log.warn('the relay could not check this agent right now; retrying', { link: this.index });
        return;
    }
  }

  #pendingRelayId: string | null = null;
  readonly #answering = new Set<Promise<void>>();

  #violation(ws: WebSocket, what: string) {
    this.lastError = 'unexpected_frame';
    this.o.log.warn('relay broke the protocol; reconnecting', { link: this.index, what });
    ws.close(1008, 'unexpected_frame');
  }

  #onClose(ws: WebSocket, code: number) {
    if (this.#ws !== ws) return;
    this.#ws = null;
    this.#pendingRelayId = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const { o } = this;
    const prev = this.state;
    if (this.#closing) {
      this.#set({ status: 'closed', since: o.now() });
      return;
    }
    if (prev.status === 'ready') {
      o.log.warn('relay link lost', { link: this.index, closeCode: code, lastError: this.lastError });
      if (o.now() - prev.since >= o.backoff.stableMs) this.#attempt = 0;
    }
    // Revoked or refused: retrying fast cannot help, go straight to the longest wait.
    // (`auth_unavailable`, a check that failed on the cloud's side, keeps the normal backoff.)
    if (this.lastError === 'agent_revoked' || this.lastError === 'auth_failed')
      this.#attempt = Math.max(this.#attempt, 30);
    const delay = backoffDelay(this.#attempt, o.backoff, o.random);
    this.#set({ status: 'backoff', attempt: this.#attempt, since: o.now(), retryAt: o.now() + delay });
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.start();
    }, delay);
  }

  close(answerWaitMs = 2_000): Promise<void> {
    this.#closedPromise ??= this.#close(answerWaitMs);
    return this.#closedPromise;
  }

  async #close(answerWaitMs: number): Promise<void> {
    this.#closing = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#answering.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#answering]),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, answerWaitMs))),
      ]);
      clearTimeout(timer);
    }
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) {
      this.#ws = null;
      this.#set({ status: 'closed', since: this.o.now() });
      return;
    }
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'agent stopping');
      setTimeout(() => ws.terminate(), 2_000).unref();
    });
  }
}

/** Open `connections` links to the relay. Throws AgentError for an unacceptable URL or CA file. */
export function connectToRelay(options: RelayConnectionsOptions): RelayConnections {
  const log = options.log ?? defaultLogger('agent');
  const url = checkOutboundUrl(
    options.relayUrl,
    { secure: 'wss:', plain: 'ws:', option: 'relayUrl' },
    options.allowPlaintext ?? false,
    log,
  );
  const count = options.connections ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 16)
    throw new AgentError('invalid_config', 'connections must be an integer from 1 to 16');
  let ca: Buffer | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile);
    } catch (cause) {
      throw new AgentError('invalid_config', `CA file ${options.caFile} cannot be read`, { cause });
    }
  }
  const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff };
  const now = options.now ?? Date.now;
  const readyWaiters = new Set<() => void>();
  const links: RelayLink[] = [];
  const status = (): ConnectionStatus[] => links.map((l) => ({ ...l.state, index: l.index, lastError: l.lastError }));
  const changed = () => {
    if (links.some((l) => l.state.status === 'ready')) for (const w of readyWaiters) w();
    options.onStatus?.(status());
  };
  for (let i = 0; i < count; i++) {
    links.push(
      new RelayLink(i, {
        url: url.href,
        ca,
        certificate: options.certificate,
        signingKey: options.signingKey,
        executor: options.executor,
        agentVersion: options.agentVersion,
        directoryKind: options.directoryKind,
        capabilities: options.capabilities,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
        backoff,
        random: options.random ?? Math.random,
        now,
        log,
        changed,
      }),
    );
  }
  for (const l of links) l.start();
  return {
    status,
    ready() {
      if (links.some((l) => l.state.status === 'ready')) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const w = () => {
          readyWaiters.delete(w);
          resolve();
        };
        readyWaiters.add(w);
      });
    },
    async close() {
      await Promise.all(links.map((l) => l.close()));
    },
  };
}
