/** Whether the store answers at all (readiness): the cheapest statement both engines run. */
import { CloudError } from '../errors.js';
import type { Db } from './db.js';

/** How long readiness waits for the store before calling it unavailable. */
export const PING_TIMEOUT_MS = 2_000;

/**
 * Resolves when the store answered within `timeoutMs`; rejects with the engine's error otherwise,
 * or with `store_unavailable` when it did not answer in time (a server that went silent must not
 * hold the readiness probe until the probe itself times out).
 */
export async function pingStore(db: Db, timeoutMs = PING_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CloudError('store_unavailable', `the store did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([db.one('SELECT 1 AS ok'), late]);
  } finally {
    clearTimeout(timer);
  }
}
