/**
 * Runs tasks one at a time per key (a user's anchor), any number of keys in parallel. Hashing is
 * async, so without it two writes to one user could both read the old record and the second would
 * silently undo the first (lost history entry, lost bad-attempt count).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `task` after every task queued earlier under `key` has settled. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with queued or running tasks. */
  get size(): number {
    return this.tails.size;
  }
}
