/**
 * Shared by the sync tests of the real-server adapters: drive a sync source the way the cloud
 * does, checking every answer against the wire schema and its bounds.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { MAX_SYNC_BATCH_BYTES, SyncPullDataSchema, type SyncChange, type SyncedUser } from '@writeback/protocol';
import type { SyncSource } from '@writeback/directory';

export interface Run {
  changes: SyncChange[];
  batches: number;
  cursor: string;
  totals: (number | undefined)[];
}

/** Pull until more=false (or `maxBatches`), checking every answer against the wire schema and bounds. */
export async function pullAll(
  source: SyncSource,
  cursor: string | null,
  limit: number,
  maxBatches = Number.POSITIVE_INFINITY,
): Promise<Run> {
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

/**
 * For a test file that opens directories against a lab server: returns `opened(d)`, which keeps
 * each directory it is given; after the file's tests every one is closed, then the server
 * `server()` (the one `before` started, when it got that far) is stopped.
 */
export function closeAfterTests<D extends { close(): Promise<void> }>(
  server: () => { stop(): Promise<void> } | undefined,
): (d: D) => D {
  const opened: D[] = [];
  after(async () => {
    for (const d of opened) await d.close();
    await server()?.stop();
  });
  return (d) => {
    opened.push(d);
    return d;
  };
}

/**
 * Scope filters every adapter refuses at config parse: a second filter smuggled in, unbalanced
 * parentheses, a NUL, and `bare` (the adapter's own attribute without parentheses).
 */
export function hostileScopeFilters(bare: string): string[] {
  return ['(cn=*)(|(objectClass=*)', ')(objectClass=*', '(cn=a\u0000)', bare];
}

export const upserts = (cs: SyncChange[]): SyncedUser[] => cs.flatMap((c) => (c.kind === 'upsert' ? [c.user] : []));
export const deletes = (cs: SyncChange[]): string[] => cs.flatMap((c) => (c.kind === 'delete' ? [c.anchor] : []));

/**
 * For the speed scripts (ad-sync-speed.ts, openldap-sync-speed.ts): time a full sync in batches of
 * `limit`, an incremental pull after `makeChanges` (100 changes), an idle pull and the anchors pass,
 * and print the figures. Raw pulls: no schema checks inside the timed loops.
 */
export async function reportSyncSpeed(
  source: SyncSource,
  limit: number,
  makeChanges: () => Promise<void>,
): Promise<void> {
  let cursor: string | null = null;
  let users = 0;
  let pulls = 0;
  let t = performance.now();
  for (;;) {
    const r = await source.pullChanges(cursor, limit);
    users += r.changes.length;
    pulls++;
    cursor = r.cursor;
    if (!r.more) break;
  }
  let s = (performance.now() - t) / 1000;
  console.log(
    `full sync: ${users} users in ${pulls} pulls, ${s.toFixed(2)} s = ${Math.round(users / s)} users/s, ${((s * 1000) / pulls).toFixed(1)} ms/pull`,
  );

  await makeChanges();
  t = performance.now();
  const inc = await source.pullChanges(cursor, limit);
  console.log(
    `incremental pull after 100 changes: ${inc.changes.length} changes in ${(performance.now() - t).toFixed(1)} ms`,
  );
  t = performance.now();
  const idle = await source.pullChanges(inc.cursor, limit);
  console.log(
    `incremental pull, nothing changed: ${idle.changes.length} changes in ${(performance.now() - t).toFixed(1)} ms`,
  );

  let anchors = 0;
  let pages = 0;
  let ac: string | null = null;
  t = performance.now();
  do {
    const page = await source.listAnchors(ac, 2000);
    anchors += page.anchors.length;
    pages++;
    ac = page.cursor;
  } while (ac !== null);
  s = (performance.now() - t) / 1000;
  console.log(`anchors pass: ${anchors} anchors in ${pages} pages, ${s.toFixed(2)} s`);
}
