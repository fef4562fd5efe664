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
 */
import { DebugEvents, Events, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Logger } from '@writeback/protocol';

/** The link as its users see it. `attempts`: reconnect attempts since the link went down. */
export type NatsLinkState =
  | { status: 'connecting'; since: number }
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
}

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
  let current: NatsLinkState = { status: 'connecting', since: now() };
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
    const n = current.status === 'down' ? current.attempts : 0;
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

  return {
    connectOptions: {
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler,
      pingInterval: 10_000,
      maxPingOut: 3,
    },
    watch(nc) {
      if (watched) throw new TypeError('NatsLink.watch: already watching a connection');
      watched = true;
      if (!nc.isClosed()) set({ status: 'up', since: now() });
      void follow(nc).catch((err: unknown) => log.error('following the NATS link failed', { err }));
      void nc.closed().then((err) => {
        if (err) log.error('NATS connection closed for good', { err });
        set({ status: 'closed', since: now() });
      });
    },
    state: () => current,
    isUp: () => current.status === 'up',
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
