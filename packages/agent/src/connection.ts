/**
 * The agent's outbound connections to the relays. Each link runs its own loop: connect, answer the
 * challenge, serve requests, and on any loss wait a jittered exponential backoff and start over.
 * Several links give active-active paths, like Cloudflare Tunnel's HA connections: spread over a
 * list of relay URLs (link i starts on URL i, and moves to the next one after a failed or lost
 * connection: relays.ts), over the addresses of one name, or through a load balancer to the same
 * URL. Behind an outbound proxy a link is a CONNECT tunnel (proxy.ts). Liveness: the relay pings every
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
  UNSOLICITED_PONG_TS,
  ProtocolError,
  backoffDelay as jitteredBackoff,
  RelayToAgentFrameSchema,
  encodeFrame,
  parseFrame,
  signAuthProof,
  type AgentCertificate,
  type AgentToRelayFrame,
  type DirectoryHealthReport,
  type Logger,
  type RelayToAgentFrame,
} from '@writeback/protocol';
import type { DirectoryHealthSource } from './directory-watch.js';
import { AgentError } from './errors.js';
import { defaultLogger } from './log-sink.js';
import type { Executor } from './executor.js';
import { describeProxy, NO_PROXY_SETTINGS, proxyFor, trustedCas, tunnelAgent, type ProxySettings } from './proxy.js';
import { trackRefusals, type RefusalTracker } from './relay-refusals.js';
import { isName, relayUrlsOf, spreadAgent, spreadIndex, spreadLookup } from './relays.js';
import { checkOutboundUrl } from './urls.js';

/** One link's state. `attempt` counts consecutive failures (drives the backoff). */
export type ConnectionState =
  | { status: 'connecting'; attempt: number; since: number }
  | { status: 'authenticating'; attempt: number; since: number }
  | { status: 'ready'; since: number; relayId: string; connectionId: string; heartbeatMs: number }
  | { status: 'backoff'; attempt: number; since: number; retryAt: number }
  | { status: 'closed'; since: number };

/**
 * A link's state as reported by `status()`, with the last error the relay, the proxy or the socket
 * gave, the relay URL it is on (or dialling) and the proxy it goes through (origin only, or null).
 */
export type ConnectionStatus = ConnectionState & {
  index: number;
  lastError: string | null;
  relayUrl: string;
  proxy: string | null;
};

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
 * [0, min(cap, base·2^attempt)), so many agents cut off at once do not come back in lockstep
 * (the protocol's one backoff rule, with the agent's defaults).
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'> = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  return jitteredBackoff(attempt, { baseMs: policy.baseMs, capMs: policy.capMs, jitter: 'full' }, random);
}

export interface RelayConnectionsOptions {
  /** The relay (an agent with one). */
  relayUrl?: string;
  /** The relays, in order; the links spread over them. Wins over `relayUrl`. */
  relayUrls?: readonly string[];
  /** Parallel links. Default: one per relay URL (at least 1). */
  connections?: number;
  /** The outbound proxy (default: none). */
  proxy?: ProxySettings;
  /** Resolves a relay's name to its addresses (tests); default dns.lookup. */
  resolve?: Parameters<typeof spreadLookup>[2];
  certificate: AgentCertificate;
  signingKey: KeyObject;
  executor: Executor;
  agentVersion: string;
  directoryKind: string;
  capabilities: Record<string, boolean>;
  /** The directory's health, sent with each pong and at once when it changes (issue 12). */
  directoryHealth?: DirectoryHealthSource;
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
  /** Failed or lost connections so far: the link's place in the relay list (and address list) moves on each. */
  #moves = 0;

  constructor(
    readonly index: number,
    private readonly o: Required<
      Pick<
        RelayConnectionsOptions,
        'certificate' | 'signingKey' | 'executor' | 'agentVersion' | 'directoryKind' | 'capabilities'
      >
    > & {
      urls: readonly URL[];
      ca: Buffer | (string | Buffer)[] | undefined;
      proxy: ProxySettings;
      resolve: Parameters<typeof spreadLookup>[2] | undefined;
      directoryHealth: DirectoryHealthSource | undefined;
      handshakeTimeoutMs: number;
      backoff: BackoffPolicy;
      random: () => number;
      now: () => number;
      log: Logger;
      refusals: RefusalTracker;
      changed: () => void;
    },
  ) {
    this.state = { status: 'closed', since: o.now() };
  }

  /** The relay URL this link is on or dials next. */
  get url(): URL {
    const { urls } = this.o;
    const url = urls[spreadIndex(this.index, this.#moves, urls.length)];
    if (!url) throw new TypeError('connectToRelay: no relay URL');
    return url;
  }

  /** The proxy of the current URL, null when direct. */
  get proxy() {
    return proxyFor(this.url, this.o.proxy);
  }

  #set(state: ConnectionState) {
    this.state = state;
    this.o.changed();
  }

  start() {
    if (this.#closing) return;
    const { o } = this;
    this.#set({ status: 'connecting', attempt: this.#attempt, since: o.now() });
    const url = this.url;
    const proxy = this.proxy;
    const secure = url.protocol === 'wss:';
    const ws = new WebSocket(url, {
      maxPayload: MAX_FRAME_BYTES * 2,
      handshakeTimeout: o.handshakeTimeoutMs,
      perMessageDeflate: false,
      ...(o.ca ? { ca: o.ca } : {}),
      // Through the proxy: a CONNECT tunnel (TLS inside it to the relay). Direct to a name: this
      // link's own address of it, so links spread over a name with several addresses.
      ...(proxy
        ? { agent: tunnelAgent(proxy, secure, { ca: o.ca, timeoutMs: o.handshakeTimeoutMs }) }
        : isName(url.hostname)
          ? { agent: spreadAgent(secure, spreadLookup(this.index, this.#moves, o.resolve), o.ca) }
          : {}),
    });
    this.#ws = ws;
    this.#arm(o.handshakeTimeoutMs, 'handshake_timeout');
    ws.on('open', () => {
      if (this.#ws === ws) this.#set({ status: 'authenticating', attempt: this.#attempt, since: o.now() });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(ws, data, isBinary));
    ws.on('error', (err) => {
      // A proxy's refusal keeps its code (proxy_auth_failed, proxy_forbidden, …): it is the cause to fix.
      this.lastError = err instanceof AgentError ? err.code : 'socket_error';
      // The first failure of a run is a warning; the next ones are summarised (relay-refusals.ts).
      (o.refusals.failed(url.href, err) ? o.log.warn : o.log.debug).call(o.log, 'relay link error', {
        link: this.index,
        relayUrl: url.href,
        ...(proxy ? { proxy: proxy.url.origin } : {}),
        ...(err instanceof AgentError ? { code: err.code } : {}),
        err,
      });
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
        this.reportDirectory();
        o.refusals.accepted(this.url.href);
        o.log.info('relay link ready', {
          link: this.index,
          relayUrl: this.url.href,
          ...(this.proxy ? { proxy: this.proxy.url.origin } : {}),
          relayId: this.#pendingRelayId,
          connectionId: frame.connectionId,
        });
        return;
      }
      case 'ping':
        if (state.status !== 'ready') return this.#violation(ws, 'ping before welcome');
        this.#arm(2 * state.heartbeatMs, 'heartbeat_missed');
        this.#send(ws, { v: PROTOCOL_VERSION, t: 'pong', ts: frame.ts, ...this.#directoryHealth() });
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

  #directoryHealth(): { directoryHealth?: DirectoryHealthReport } {
    const report = this.o.directoryHealth?.current();
    return report ? { directoryHealth: report } : {};
  }

  /** Tell the relay how the directory is now, without waiting for the next ping (a change, or a new link). */
  reportDirectory() {
    const health = this.#directoryHealth();
    if (this.#ws && this.state.status === 'ready' && health.directoryHealth)
      this.#send(this.#ws, { v: PROTOCOL_VERSION, t: 'pong', ts: UNSOLICITED_PONG_TS, ...health });
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
      o.log.warn('relay link lost', {
        link: this.index,
        relayUrl: this.url.href,
        closeCode: code,
        lastError: this.lastError,
      });
      if (o.now() - prev.since >= o.backoff.stableMs) this.#attempt = 0;
    }
    // Revoked or refused: retrying fast cannot help, go straight to the longest wait.
    // (`auth_unavailable`, a check that failed on the cloud's side, keeps the normal backoff.)
    if (this.lastError === 'agent_revoked' || this.lastError === 'auth_failed')
      this.#attempt = Math.max(this.#attempt, 30);
    // The next try goes to the next relay (or address): a dead relay's links come back on the others.
    this.#moves++;
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

/**
 * Open `connections` links, spread over the relay URLs. Throws AgentError for an unacceptable URL
 * or CA file.
 */
export function connectToRelay(options: RelayConnectionsOptions): RelayConnections {
  const log = options.log ?? defaultLogger('agent');
  if (options.relayUrl === undefined && !options.relayUrls?.length)
    throw new AgentError('invalid_config', 'connectToRelay needs relayUrl or relayUrls');
  const urls = relayUrlsOf({ relayUrl: options.relayUrl ?? '' }, options.relayUrls ?? [options.relayUrl ?? '']).map(
    (u) =>
      checkOutboundUrl(u, { secure: 'wss:', plain: 'ws:', option: 'relayUrl' }, options.allowPlaintext ?? false, log),
  );
  const proxy = options.proxy ?? NO_PROXY_SETTINGS;
  const count = options.connections ?? urls.length;
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
  const refusals = trackRefusals({ log, now });
  const readyWaiters = new Set<() => void>();
  const links: RelayLink[] = [];
  const status = (): ConnectionStatus[] =>
    links.map((l) => ({
      ...l.state,
      index: l.index,
      lastError: l.lastError,
      relayUrl: l.url.href,
      proxy: l.proxy?.url.origin ?? null,
    }));
  const changed = () => {
    if (links.some((l) => l.state.status === 'ready')) for (const w of readyWaiters) w();
    options.onStatus?.(status());
  };
  for (let i = 0; i < count; i++) {
    links.push(
      new RelayLink(i, {
        urls,
        ca: trustedCas(ca, proxy),
        proxy,
        resolve: options.resolve,
        directoryHealth: options.directoryHealth,
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
        refusals,
        changed,
      }),
    );
  }
  if (count < urls.length)
    log.warn('fewer links than relays: some relays hold none of this agent (they are tried when a link fails)', {
      connections: count,
      relays: urls.length,
    });
  for (const url of urls) {
    const via = proxyFor(url, proxy);
    log.info('relay', { relayUrl: url.href, via: via ? describeProxy(via) : 'direct' });
  }
  for (const l of links) l.start();
  const offDirectory = options.directoryHealth?.onChange(() => {
    for (const l of links) l.reportDirectory();
  });
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
      offDirectory?.();
      await Promise.all(links.map((l) => l.close()));
    },
  };
}
