/**
 * A directory whose resets can be held at the directory: `hold` set, a reset that has started waits
 * for `go()` before it writes, so a test can kill a process (agent, relay, cloud, NATS) while a write
 * is in the middle. `started` counts resets that reached the directory, `done` those that wrote.
 */
import type { Directory } from '@writeback/directory';

export interface HeldResets {
  started: number;
  done: number;
  hold: boolean;
  /** Let the held reset go on (a no-op when none waits). */
  go: () => void;
  /** The directory to serve (everything but resetPassword goes straight to the inner one). */
  dir: Directory;
}

export function holdingResets(inner: Directory): HeldResets {
  const s = { started: 0, done: 0, hold: false, go: () => {} };
  const resetPassword: Directory['resetPassword'] = async (...args) => {
    s.started += 1;
    if (s.hold) await new Promise<void>((r) => (s.go = r));
    const r = await inner.resetPassword(...args);
    s.done += 1;
    return r;
  };
  const dir = new Proxy<Directory>(inner, {
    get(target, prop) {
      if (prop === 'resetPassword') return resetPassword;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return Object.assign(s, { dir });
}
