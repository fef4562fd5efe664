/**
 * Routing one sealed request to one connection and resolving it exactly once. The five endings
 * (response, rejected, unavailable, timeout, lost) tell the cloud whether a password may have been
 * written, so each request has a single settle function and whichever ending comes first wins:
 * the agent's answer, the deadline, a failed write, or the connection dying under it.
 *
 * The router knows connections only as `Route`s (somewhere to write, a round trip, an in-flight
 * table); it imports nothing from the connection or the registry, which build on it.
 */
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, encodeFrame, type Logger, type RequestEnvelope } from '@writeback/protocol';
import type { RelayAnswer } from './client.js';
import { timeLeft } from './deadline.js';

type Settle = (answer: RelayAnswer) => void;

/** The requests sent on one connection and not yet resolved, by request id. */
export class InFlight {
  readonly #pending = new Map<string, Settle>();

  get size(): number {
    return this.#pending.size;
  }

  has(requestId: string): boolean {
    return this.#pending.has(requestId);
  }

  /** Resolve one request with what the agent said. False when it is not (or no longer) in flight. */
  settle(requestId: string, answer: RelayAnswer): boolean {
    const settle = this.#pending.get(requestId);
    if (!settle) return false;
    this.#pending.delete(requestId);
    settle(answer);
    return true;
  }

  /** The connection is gone: every request on it is `lost` (the agent may have acted). */
  loseAll(): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const settle of pending) settle({ kind: 'lost' });
  }

  track(requestId: string, settle: Settle): void {
    this.#pending.set(requestId, settle);
  }

  /** Stop tracking a request that ended on this side (deadline, failed write). */
  untrack(requestId: string, settle: Settle): void {
    if (this.#pending.get(requestId) === settle) this.#pending.delete(requestId);
  }
}

/** What the router needs of a connection. */
export interface Route {
  readonly inFlight: InFlight;
  /** Last heartbeat round trip, ms. */
  readonly rttMs: number | null;
  /** Write an encoded frame; `cb` gets an error when it could not be written. */
  write(payload: string, cb: (err?: Error) => void): void;
}

export interface RouterOptions {
  /** Open, authenticated connections of this agent in this tenant. */
  routes(agentId: string, tenantId: string): Route[];
  /** True once the hub is closed: nothing is sent any more. */
  closed(): boolean;
  now: () => number;
  log: Logger;
}

export type Send = (envelope: RequestEnvelope) => Promise<RelayAnswer>;

/** Least loaded first, then lowest round trip. */
const byLoad = (a: Route, b: Route): number =>
  a.inFlight.size - b.inFlight.size || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity);

export function createRouter(options: RouterOptions): Send {
  const { now, log } = options;
  return (envelope) => {
    if (options.closed()) return Promise.resolve({ kind: 'unavailable' });
    const candidates = options.routes(envelope.agentId, envelope.tenantId);
    if (candidates.length === 0) return Promise.resolve({ kind: 'unavailable' });
    const left = timeLeft(envelope.deadline, now());
    if (!left.ok) return Promise.resolve(left.answer);
    if (candidates.some((c) => c.inFlight.has(envelope.requestId))) {
      return Promise.resolve({
        kind: 'rejected',
        code: 'replayed',
        message: 'a request with this id is already in flight',
      });
    }
    const payload = encodeFrame({ v: PROTOCOL_VERSION, t: 'request', envelope });
    if (Buffer.byteLength(payload) > MAX_FRAME_BYTES)
      return Promise.resolve({ kind: 'rejected', code: 'frame_too_large', message: 'request exceeds the frame limit' });
    const route = candidates.sort(byLoad)[0];
    if (!route) return Promise.resolve({ kind: 'unavailable' });
    return new Promise<RelayAnswer>((resolve) => {
      let done = false;
      const timer = setTimeout(() => settle({ kind: 'timeout' }), left.ms);
      const settle: Settle = (answer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        route.inFlight.untrack(envelope.requestId, settle);
        resolve(answer);
      };
      route.inFlight.track(envelope.requestId, settle);
      route.write(payload, (err) => {
        if (!err) return;
        log.warn('request could not be written to the agent socket', { requestId: envelope.requestId, err });
        // The bytes may or may not have left: the agent may have acted.
        settle({ kind: 'lost' });
      });
    });
  };
}
