/**
 * The link between a request carrying an `Idempotency-Key` and the directory write it makes
 * (issue 11). The writeback service calls `beforeDirectoryWrite(requestId)` right before it writes
 * the pending audit record of a writing operation; inside `withWriteHook` that notes the request
 * id on the key first, so a retry whose first attempt never answered (its node died) can answer
 * with that audit record's outcome instead of writing a second time.
 *
 * Ambient (AsyncLocalStorage) rather than a parameter: the use cases between the route and the
 * writeback service need not know about keys, and a write outside any keyed request is unaffected.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Called with the audit request id before a directory write is recorded; a rejection stops the write. */
export type WriteHook = (requestId: string) => Promise<void>;

const current = new AsyncLocalStorage<WriteHook>();

/** Run `fn` with `hook` told about every directory write made inside it. */
export function withWriteHook<T>(hook: WriteHook, fn: () => Promise<T>): Promise<T> {
  return current.run(hook, fn);
}

/** Tell the surrounding keyed request (if any) that a directory write with this request id starts. */
export async function beforeDirectoryWrite(requestId: string): Promise<void> {
  await current.getStore()?.(requestId);
}
