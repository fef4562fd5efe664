/**
 * Waiting in tests: for an event, or for a condition to become true, never for an amount of time.
 * `timeoutMs` is a safety net for a broken system (default 30 s, so a loaded machine does not fail
 * a working one); nothing resolves because time passed.
 *
 * - `waitFor(source, { match })` resolves with the first event from `source` that matches. Create
 *   the wait BEFORE the action that causes the event: it listens from the call on.
 * - `waitFor(predicate, { on })` resolves once `predicate()` holds: checked at once, then each
 *   time `on` fires. Without `on` it is re-checked every few milliseconds: only for state no event
 *   announces (a database row, a cache another process fills).
 */
import type { EventEmitter } from 'node:events';

/** Something that announces values to listeners; returns how to stop listening. */
export interface EventSource<T> {
  subscribe(listener: (value: T) => void): () => void;
  /** What a timeout message calls it. */
  what?: string;
}

export interface WaitOptions {
  /** Safety net (default 30 s). */
  timeoutMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

export const DEFAULT_WAIT_MS = 30_000;
const POLL_MS = 10;

/** An event source from a subscribe function such as `hub.onPresence`. */
export function eventsOf<T>(subscribe: (listener: (value: T) => void) => () => void, what?: string): EventSource<T> {
  return { subscribe, ...(what !== undefined ? { what } : {}) };
}

/** An event source from a Node EventEmitter event (its first argument is the value). */
export function emitterEvents<T = unknown>(emitter: EventEmitter, event: string): EventSource<T> {
  return {
    what: `'${event}' event`,
    subscribe(listener) {
      const l = (value: T) => listener(value);
      emitter.on(event, l);
      return () => emitter.off(event, l);
    },
  };
}

/** The first event from `source` that matches (any event without `match`). */
export function waitFor<T>(source: EventSource<T>, o?: WaitOptions & { match?: (value: T) => boolean }): Promise<T>;
/** Until `predicate()` holds: re-checked on each event of `on`, or polled without it. */
export function waitFor(
  predicate: () => boolean | Promise<boolean>,
  o?: WaitOptions & { on?: EventSource<unknown> },
): Promise<void>;
export function waitFor<T>(
  target: EventSource<T> | (() => boolean | Promise<boolean>),
  o: WaitOptions & { match?: (value: T) => boolean; on?: EventSource<unknown> } = {},
): Promise<T | undefined> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_WAIT_MS;
  if (typeof target !== 'function') {
    const what = o.what ?? target.what ?? 'event';
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = target.subscribe((value) => {
        if (o.match && !o.match(value)) return;
        clearTimeout(timer);
        off();
        resolve(value);
      });
    });
  }
  const predicate = target;
  const what = o.what ?? 'condition';
  return new Promise<undefined>((resolve, reject) => {
    let settled = false;
    let checking = false;
    let again = false;
    let poll: NodeJS.Timeout | undefined;
    let off = () => {};
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(poll);
      off();
      if (err) reject(err);
      else resolve(undefined);
    };
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what} (${timeoutMs} ms)`)), timeoutMs);
    // One check at a time; an event during a check asks for one more.
    const check = async (): Promise<void> => {
      if (settled) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          if (await predicate()) return finish();
        } while (again && !settled);
      } catch (err) {
        return finish(err instanceof Error ? err : new Error(String(err)));
      } finally {
        checking = false;
      }
      if (!o.on && !settled) poll = setTimeout(() => void check(), POLL_MS);
    };
    if (o.on) off = o.on.subscribe(() => void check());
    void check();
  });
}
