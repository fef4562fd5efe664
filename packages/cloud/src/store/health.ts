/** Whether the store answers at all (readiness): the cheapest statement both engines run. */
import type { Db } from './db.js';

/** Resolves when the store answered; rejects with the engine's error otherwise. */
export async function pingStore(db: Db): Promise<void> {
  await db.one('SELECT 1 AS ok');
}
