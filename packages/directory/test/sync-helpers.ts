/**
 * Shared by the sync tests of the real-server adapters: drive a sync source the way the cloud
 * does, checking every answer against the wire schema and its bounds.
 */
import assert from 'node:assert/strict';
import { MAX_SYNC_BATCH_BYTES, SyncPullDataSchema, type SyncChange, type SyncedUser } from '@writeback/protocol';
import type { SyncSource } from '@writeback/directory';

export interface Run {
  changes: SyncChange[];
  batches: number;
  cursor: string;
  totals: (number | undefined)[];
}

/** Pull until more=false (or `maxBatches`), checking every answer against the wire schema and bounds. */
export async function pullAll(source: SyncSource, cursor: string | null, limit: number, maxBatches = Number.POSITIVE_INFINITY): Promise<Run> {
  const run: Run = { changes: [], batches: 0, cursor: cursor ?? '', totals: [] };
  for (;;) {
    const data = await source.pullChanges(cursor, limit);
    SyncPullDataSchema.parse(data);
    assert.equal(data.reset, undefined);
    assert.ok(data.changes.length <= limit);
    assert.ok(Buffer.byteLength(JSON.stringify(data)) <= MAX_SYNC_BATCH_BYTES);
    run.changes.push(...data.changes);
    run.batches++;
    run.totals.push(data.total);
    run.cursor = data.cursor;
    cursor = data.cursor;
    if (!data.more || run.batches >= maxBatches) return run;
  }
}

/** Every anchor in scope, page by page. */
export async function allAnchors(source: SyncSource, limit: number): Promise<{ anchors: string[]; pages: number }> {
  const anchors: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await source.listAnchors(cursor, limit);
    assert.ok(page.anchors.length <= limit);
    anchors.push(...page.anchors);
    cursor = page.cursor;
    pages++;
  } while (cursor !== null);
  return { anchors, pages };
}

export const upserts = (cs: SyncChange[]): SyncedUser[] => cs.flatMap((c) => (c.kind === 'upsert' ? [c.user] : []));
export const deletes = (cs: SyncChange[]): string[] => cs.flatMap((c) => (c.kind === 'delete' ? [c.anchor] : []));
