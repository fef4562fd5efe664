/**
 * Deletions are never applied batch by batch: they are staged in the batch's transaction and
 * decided at the end of the run. If the staged set is larger than massDeleteThresholdPercent of the
 * tenant's live users (and at least massDeleteMinUsers) the tenant is `blocked_mass_delete`:
 * nothing of them is applied until an admin confirms (applied) or rejects (discarded); upserts keep
 * flowing meanwhile.
 */
import type { Logger } from '@writeback/protocol';
import { CloudError } from '../errors.js';
import type { Db } from '../store/index.js';
import { closeHeldDeletions, getStagedDeletions, setStagedDeletions, type SyncCounts } from '../store/sync-state.js';
import { getTenantSettings } from '../tenants/settings.js';
import { countLiveUsers, markDeleted } from '../users/directory-users.js';

/**
 * Inside a batch transaction: add `deleted` to the staged set; anchors the same batch upserts (a
 * user that came back) leave it.
 */
export async function stageDeletions(
  t: Db,
  tenantId: string,
  deleted: readonly string[],
  upserted: ReadonlySet<string>,
  now: number,
): Promise<void> {
  if (deleted.length === 0 && upserted.size === 0) return;
  const before = (await getStagedDeletions(t, tenantId))?.anchors ?? [];
  if (deleted.length === 0 && before.length === 0) return;
  const set = new Set(before);
  for (const a of upserted) set.delete(a);
  for (const a of deleted) set.add(a);
  if (set.size === before.length && deleted.length === 0) return;
  await setStagedDeletions(t, tenantId, [...set], now);
}

/** At the end of a run: apply the staged deletions, or hold them back for an admin (true). */
export async function settleDeletions(
  db: Db,
  tenantId: string,
  counts: SyncCounts,
  now: () => number,
  log: Logger,
): Promise<boolean> {
  const settings = await getTenantSettings(db, tenantId);
  return db.tx(async (t) => {
    const staged = await getStagedDeletions(t, tenantId);
    const pending = staged?.anchors ?? [];
    if (pending.length === 0) return false;
    if (staged?.phase === 'blocked_mass_delete') return true;
    const live = await countLiveUsers(t, tenantId);
    const { massDeleteThresholdPercent: pct, massDeleteMinUsers: min } = settings.sync;
    if (pending.length > (live * pct) / 100 && pending.length >= min) {
      log.warn('sync: mass deletion held back until an admin confirms', { tenantId, pending: pending.length, live });
      return true;
    }
    counts.deleted += await markDeleted(t, tenantId, pending, now());
    await setStagedDeletions(t, tenantId, [], now());
    return false;
  });
}

async function held(t: Db, tenantId: string): Promise<string[]> {
  const staged = await getStagedDeletions(t, tenantId);
  if (staged?.phase !== 'blocked_mass_delete')
    throw new CloudError('conflict', 'no deletions are waiting for confirmation');
  return staged.anchors;
}

/** An admin confirmed the held-back deletions: apply them. Returns how many users were deleted. */
export function confirmHeldDeletions(db: Db, tenantId: string, now: number, log: Logger): Promise<number> {
  return db.tx(async (t) => {
    const n = await markDeleted(t, tenantId, await held(t, tenantId), now);
    await closeHeldDeletions(t, tenantId, { deleted: n, total: await countLiveUsers(t, tenantId) });
    log.info('sync: held-back deletions confirmed', { tenantId, deleted: n });
    return n;
  });
}

/** An admin rejected them: discard them. Returns how many were discarded. */
export function rejectHeldDeletions(db: Db, tenantId: string, log: Logger): Promise<number> {
  return db.tx(async (t) => {
    const n = (await held(t, tenantId)).length;
    await closeHeldDeletions(t, tenantId);
    log.info('sync: held-back deletions rejected', { tenantId, discarded: n });
    return n;
  });
}
