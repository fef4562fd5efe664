/**
 * One NATS connection's link state, for the two processes that depend on NATS (a cloud node in
 * RELAY_MODE=nats and a standalone relay): the options that make nats.js reconnect forever with
 * a capped, jittered backoff, and a watcher that turns the connection's status events into a
 * state health endpoints and request paths can read (`up`, `down` with the attempts so far,
 * `closed`). nats.js's defaults give up after 10 attempts 2 s apart, after which the process
 * never reaches NATS again while still looking healthy (issue 11 item 1).
 *
 * A lost link is logged once, then summarised every `summaryEveryMs` of its clock while it stays
 * down, then once when it is back; never a line per attempt.
 *
 * `connect` makes the first connection in the background, so a process starts while NATS is down
 * (issue 11 item 1): the link is `connecting` (health red, requests answered at once) until a dial
 * succeeds. nats.js's own `waitOnFirstConnect` is not used: its `connect()` promise is the only
 * handle, it cannot be stopped (a node shut down before NATS came back would dial forever, its
 * timers holding the process open), and no status event is seen before it resolves. Here each
 * attempt is one plain `connect()` (which fails at once when nothing listens), the waits between
 * them follow the link's backoff, and `stop()` ends the loop.
 */
import {
  connect as natsConnect,
  DebugEvents,
  ErrorCode,
  Events,
  NatsError,
  type ConnectionOptions,
  type NatsConnection,
} from 'nats';
import type { Logger } from '@writeback/protocol';

/** The link as its users see it. `attempts`: reconnect attempts since the link went down. */
export type NatsLinkState =
  | { status: 'connecting'; since: number; attempts: number }
  | { status: 'up'; since: number }
  | { status: 'down'; since: number; attempts: number }
  | { status: 'closed'; since: number };

export interface NatsLinkOptions {
  /** First reconnect wait (the ceiling doubles per attempt up to `reconnectCapMs`). Default 250 ms. */
  reconnectBaseMs?: number;
  /** Longest reconnect wait. Default 4 000 ms. */
  reconnectCapMs?: number;
  /** How often a link that stays down is summarised in the log. Default 30 000 ms. */
  summaryEveryMs?: number;
  log: Logger;
  now?: () => number;
  random?: () => number;
  /** One dial of `connect` (default nats.js's `connect`). */
  dial?: NatsConnect;
}

export interface NatsLink {
  /**
   * nats.js connection options: reconnect forever (`maxReconnectAttempts: -1`) with this link's
   * backoff; pings every 10 s so a silent server is noticed within ~30 s, not nats.js's 4 min.
   */
  readonly connectOptions: Pick<
    ConnectionOptions,
    'maxReconnectAttempts' | 'reconnectDelayHandler' | 'pingInterval' | 'maxPingOut' | 'reconnect'
  >;
  /** Follow a connection made with `connectOptions` (once). */
  watch(nc: NatsConnection): void;
  state(): NatsLinkState;
  /** True while NATS is reachable: requests can be sent now. */
  isUp(): boolean;
  /** Called on every change of status (connected, lost, back, closed). Returns how to stop. */
  onChange(listener: (state: NatsLinkState) => void): () => void;
  /**
   * Make this link's connection in the background: dial with `options` and `connectOptions`,
   * again after each failure with the link's backoff, until a dial succeeds (then `watch` it) or
   * `stop` is called. Once only.
   */
  connect(options: ConnectionOptions): NatsDialer;
}

/** The first connection of a link, being made in the background. */
export interface NatsDialer {
  /**
   * Resolves with the connection once made, or with null when stopped first. Rejects (a TypeError
   * naming the code, never the URL) when the options cannot work, e.g. a NATS_URL that does not
   * parse: that is not retried.
   */
  readonly connected: Promise<NatsConnection | null>;
  /** The connection once made (null until then). */
  connection(): NatsConnection | null;
  /** Stop dialing (a connection already made stays open: its owner drains or closes it). */
  stop(): void;
}

/** How a dialer makes one attempt (nats.js's `connect`; tests pass their own). */
export type NatsConnect = (options: ConnectionOptions) => Promise<NatsConnection>;

/** A NATS error's code, else the error's name: never its message. */
const errorCode = (err: unknown): string =>
  err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string'
    ? err.code
    : err instanceof Error
      ? err.name
      : 'error';

/** An error no retry can cure: options nats.js refuses (a URL that does not parse is a TypeError). */
const isConfigurationError = (err: unknown): boolean =>
  err instanceof TypeError || (err instanceof NatsError && CONFIGURATION_CODES.has(err.code));
const CONFIGURATION_CODES = new Set<string>([ErrorCode.InvalidOption, ErrorCode.NotFunction]);

/** Build the link for one NATS connection: pass `connectOptions` to `connect`, then `watch` the connection. */
export function createNatsLink(options: NatsLinkOptions): NatsLink {
  const base = options.reconnectBaseMs ?? 250;
  const cap = options.reconnectCapMs ?? 4_000;
  const summaryEveryMs = options.summaryEveryMs ?? 30_000;
  for (const [k, v] of Object.entries({ reconnectBaseMs: base, reconnectCapMs: cap, summaryEveryMs })) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`createNatsLink: option "${k}" must be a positive number`);
  }
  if (cap < base) throw new TypeError('createNatsLink: option "reconnectCapMs" must be at least "reconnectBaseMs"');
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const { log } = options;
  const dial = options.dial ?? natsConnect;
  let current: NatsLinkState = { status: 'connecting', since: now(), attempts: 0 };
  let lastSummary = 0;
  let watched = false;
  const listeners = new Set<(state: NatsLinkState) => void>();

  const set = (next: NatsLinkState) => {
    current = next;
    for (const l of [...listeners]) {
      try {
        l(next);
      } catch (err) {
        log.error('NATS link listener threw', { err });
      }
    }
  };

  /**
   * nats.js asks for the wait before each dial (and again while it waits), so the delay comes
   * from the attempt count: equal jitter, in [ceiling/2, ceiling), ceiling = min(cap, base·2^n).
   */
  const reconnectDelayHandler = () => {
    const n = current.status === 'down' || current.status === 'connecting' ? current.attempts : 0;
    const ceiling = Math.min(cap, base * 2 ** Math.min(n, 20));
    return Math.floor(ceiling / 2 + Math.min(Math.max(random(), 0), 0.999) * (ceiling / 2));
  };

  const follow = async (nc: NatsConnection) => {
    for await (const s of nc.status()) {
      const t = now();
      switch (s.type) {
        case Events.Disconnect:
          if (current.status === 'down') break;
          log.warn('NATS link lost; reconnecting until it is back', { server: String(s.data) });
          lastSummary = t;
          set({ status: 'down', since: t, attempts: 0 });
          break;
        case DebugEvents.Reconnecting:
          if (current.status !== 'down') {
            lastSummary = t;
            set({ status: 'down', since: t, attempts: 1 });
            break;
          }
          current = { ...current, attempts: current.attempts + 1 };
          if (t - lastSummary >= summaryEveryMs) {
            lastSummary = t;
            log.warn('NATS link still down', { downForMs: t - current.since, attempts: current.attempts });
          }
          break;
        case Events.Reconnect:
          if (current.status === 'down')
            log.info('NATS link back', { downForMs: t - current.since, attempts: current.attempts });
          set({ status: 'up', since: t });
          break;
        case Events.Error:
          log.warn('NATS reported an error', { err: String(s.data) });
          break;
        default:
          break;
      }
    }
  };

  const connectOptions: NatsLink['connectOptions'] = {
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler,
    pingInterval: 10_000,
    maxPingOut: 3,
  };

  const watch = (nc: NatsConnection) => {
    if (watched) throw new TypeError('NatsLink.watch: already watching a connection');
    watched = true;
    if (!nc.isClosed()) set({ status: 'up', since: now() });
    void follow(nc).catch((err: unknown) => log.error('following the NATS link failed', { err }));
    void nc.closed().then((err) => {
      if (err) log.error('NATS connection closed for good', { err });
      set({ status: 'closed', since: now() });
    });
  };

  let dialing = false;
  const connect = (connectionOptions: ConnectionOptions): NatsDialer => {
    if (dialing || watched) throw new TypeError('NatsLink.connect: this link already has a connection');
    dialing = true;
    let made: NatsConnection | null = null;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let wake: (() => void) | undefined;

    /** One failed dial: counted, logged at the first and then summarised, never a line per attempt. */
    const failed = (err: unknown) => {
      const t = now();
      const since = current.status === 'connecting' ? current.since : t;
      const attempts = current.status === 'connecting' ? current.attempts + 1 : 1;
      current = { status: 'connecting', since, attempts };
      // Only the error's code: a NATS URL may carry credentials, and an error may quote it.
      const code = errorCode(err);
      if (attempts === 1) {
        lastSummary = t;
        log.warn('NATS not reachable; connecting in the background until it is', { code });
      } else if (t - lastSummary >= summaryEveryMs) {
        lastSummary = t;
        log.warn('NATS still not reachable', { waitedMs: t - since, attempts, code });
      }
    };

    const loop = async (): Promise<NatsConnection | null> => {
      while (!stopped) {
        try {
          const nc = await dial({ ...connectionOptions, ...connectOptions });
          if (stopped) {
            await nc.close().catch(() => {});
            return null;
          }
          if (current.status === 'connecting' && current.attempts > 0)
            log.info('NATS link up', { waitedMs: now() - current.since, failedAttempts: current.attempts });
          made = nc;
          watch(nc);
          return nc;
        } catch (err) {
          if (stopped) return null;
          if (isConfigurationError(err)) {
            log.error('NATS connection options are not valid; not retrying', { code: errorCode(err) });
            throw new TypeError(`NATS connection options are not valid (${errorCode(err)})`);
          }
          failed(err);
        }
        // The link's backoff (stop() ends the wait at once).
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, reconnectDelayHandler());
        });
      }
      return null;
    };
    const connected = loop();
    connected.catch(() => {}); // the owner reads it; not an unhandled rejection meanwhile
    return {
      connected,
      connection: () => made,
      stop() {
        stopped = true;
        clearTimeout(timer);
        wake?.();
      },
    };
  };

  return {
    connectOptions,
    connect,
    watch,
    state: () => current,
    isUp: () => current.status === 'up',
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
